"""The audit trail: every state change of a financial record appends one event, in the transaction
that makes the change, to a hash chain (moneypath.protocol.audit_chain) that `moneypath audit verify`
and the service's background check (audit_check.py) walk.

Who acted comes from the context: `acting(actor, scope)` binds it (the scope check of an API request in
dependencies.py, the webhook router, each background job); the correlation id is the request's
(moneypath.instrument.correlation). Both are context variables, so they follow the work into
`Services.in_db`, which runs it inline or in a thread with a copy of the context.

Chaining on PostgreSQL, where several service processes book at once. Chaining an event needs the previous
hash, and a link may be built on only once it is committed, so whoever chains holds the chain from its read
of the head to its commit, WAL flush included. When every booking chained its own event (the head row
`SELECT ... FOR UPDATE`), every booking waited for the one before it to commit: 2 and 4 processes spent
16 % and 44 % of their time waiting for that lock and booked fewer per second than one did (361 and 337 vs
420; benchmarks/bench_pg_bookings.py, docs/performance.md has the figures). Now one transaction at a time holds the
chain and nobody waits for it (0 % lock wait; 501/567/688 per s with 1/2/4 processes). An append's one statement tries a
transaction-scoped advisory lock (pg_try_advisory_xact_lock): got it, it returns the head (locked FOR UPDATE,
so a service of the previous version, which locks only the head, never chains beside it) and the booking
chains, in id order, the events others parked (committed ones; those in flight wait for the next holder),
then its own, and holds the chain to its commit as before. Busy: the same statement parks the event in
audit_pending (unchained, no hash) in the booking's transaction, and the current holder, the next one or
`seal` (the service's job, every second) chains it.

What an auditor can still prove: the chain is what it was (linear, each event hashed with the one before;
seq is the order of chaining, which may differ from the order of `at`). A parked event is not yet protected
by it: `moneypath audit verify` and the service's check (ChainWatch) count it as pending, never skip it, and
one parked longer than PENDING_MAX_S (60 s) is a break: nothing seals, and it can be edited or deleted
unseen. Checkpoints sign chained heads only. A rolled-back booking leaves nothing, parked or chained (a
holder that rolls back leaves what it would have chained parked). Certificate Transparency makes the same
trade (a promise at submission, merged within a maximum merge delay); Trillian and Tessera integrate queued
entries in batches by one sequencer. Weighed and not taken: a lock held for the link alone (a later booking
would chain onto an event that may still roll back); a separate sealer chaining every event (each one
pending for up to an interval even without contention, and one more process to run and watch). Without
contention a booking chains its own event, as before: nothing is pending.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from moneypath.instrument.correlation import current_correlation_id
from moneypath.protocol.audit_chain import (
    EVENTS_TABLE,
    HASHED,
    HEAD_TABLE,
    PENDING_TABLE,
    canonical_state,
    event_hash,
)
from moneypath.reference.refservice.db import audit_events


class Actor(NamedTuple):
    name: str  # a token subject, system:<job> or provider:<name>
    scope: str = ""  # the scope that allowed the change (API requests)


UNATTRIBUTED = Actor("system:unattributed")
_actor: ContextVar[Actor] = ContextVar("moneypath_audit_actor", default=UNATTRIBUTED)


def set_actor(name: str, scope: str = ""):
    """Bind who acts to the current context (a request's task); returns the token to reset it."""
    return _actor.set(Actor(name, scope))


def current_actor() -> Actor:
    return _actor.get()


@contextmanager
def acting(name: str, scope: str = "") -> Iterator[None]:
    token = _actor.set(Actor(name, scope))
    try:
        yield
    finally:
        _actor.reset(token)


# The append runs on the driver's connection (the caller's transaction): through SQLAlchemy's execution path
# its statements cost more CPU than the whole booking without them (measured with benchmarks/bench_audit.py:
# 226 µs per booking on SQLite vs 243 µs for the booking itself).
#
# SQLite chains at once (BEGIN IMMEDIATE already serializes writers); PostgreSQL: see the module docstring.
_COLUMNS = (*HASHED, "prev_hash", "hash")
_PARKED = HASHED[1:]  # what a parked event stores: everything hashed but the seq it is chained at
SEAL_LOCK = 0x6D70_6175_6469_7431  # the advisory lock key of "the chain's holder" (any fixed bigint)
SEAL_BATCH = 1000  # parked events chained per transaction at most
_STATEMENTS: dict[str, tuple[str, str, str]] = {}


def _statements(conn: Connection) -> tuple[str, str, str]:
    """(read and lock the head, insert the event, advance the head) in the driver's parameter style."""
    dialect = conn.dialect
    found = _STATEMENTS.get(dialect.name)
    if found is None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        lock = "" if dialect.name == "sqlite" else " FOR UPDATE"
        found = _STATEMENTS[dialect.name] = (
            f"SELECT seq, hash FROM {HEAD_TABLE} WHERE id = 1{lock}",
            f"INSERT INTO {EVENTS_TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join([mark] * len(_COLUMNS))})",
            f"UPDATE {HEAD_TABLE} SET seq = {mark}, hash = {mark} WHERE id = 1")
    return found


# PostgreSQL (psycopg, %s). Take the chain: the head, locked, if the advisory lock is free (no row else), and
# whether anything is parked. One statement, so its snapshot may predate the previous holder's commit; FOR
# UPDATE still returns the head as that commit left it (READ COMMITTED re-reads a row updated since), and the
# parked events themselves are read afresh, by a later statement, only when there are any.
_TAKE = (f"SELECT seq, hash, EXISTS (SELECT 1 FROM {PENDING_TABLE}) FROM {HEAD_TABLE} "
         f"WHERE id = 1 AND pg_try_advisory_xact_lock({SEAL_LOCK}) FOR UPDATE")
# An append's one statement: take the chain, or (no row returned) park the event.
_TAKE_OR_PARK = (f"WITH took AS ({_TAKE}), parked AS (INSERT INTO {PENDING_TABLE} ({', '.join(_PARKED)}) "
                 f"SELECT {', '.join(['%s'] * len(_PARKED))} WHERE NOT EXISTS (SELECT 1 FROM took)) "
                 "SELECT * FROM took")
_PARKED_ROWS = f"SELECT id, {', '.join(_PARKED)} FROM {PENDING_TABLE} ORDER BY id LIMIT {SEAL_BATCH}"
_ROW = f"({', '.join(['%s'] * len(_COLUMNS))})"


def _chain(driver, head: tuple, own: dict | None) -> tuple[int, dict | None]:
    """Holding the chain (head: what _TAKE returned): chain the parked events in id order, then `own` (None:
    the parked ones only), in one write; (events chained, own as chained)."""
    seq, prev_hash, anything_parked = head
    parked = driver.execute(_PARKED_ROWS).fetchall() if anything_parked else []
    events = [dict(zip(_PARKED, row[1:])) for row in parked]
    if own is not None:
        events.append(own)
    if not events:
        return 0, None
    values: list = []
    for event in events:
        seq += 1
        event["seq"], event["prev_hash"] = seq, prev_hash
        prev_hash = event["hash"] = event_hash(prev_hash, event)
        values.extend(event[c] for c in _COLUMNS)
    gone = f"d AS (DELETE FROM {PENDING_TABLE} WHERE id = ANY(%s)), " if parked else ""
    driver.execute(f"WITH {gone}e AS (INSERT INTO {EVENTS_TABLE} ({', '.join(_COLUMNS)}) VALUES "
                   f"{', '.join([_ROW] * len(events))}) UPDATE {HEAD_TABLE} SET seq = %s, hash = %s WHERE id = 1",
                   ([[row[0] for row in parked]] if parked else []) + values + [seq, prev_hash])
    return len(events), own


def append(conn: Connection, entity: str, entity_id: str, action: str, before: Mapping[str, object] | None,
           after: Mapping[str, object], now: float | None = None) -> dict:
    """Append one event in the caller's transaction; returns it (on PostgreSQL with seq None when it was
    parked for the chain's holder). Call it last in the transaction: the transaction that chains holds the
    chain until it commits."""
    if conn.dialect.name != "sqlite":
        return _append_postgresql(conn, entity, entity_id, action, before, after, now)
    head, insert, advance = _statements(conn)
    driver = conn.connection.driver_connection
    actor = _actor.get()
    seq, prev_hash = driver.execute(head).fetchone()
    event = {"seq": seq + 1, "at": time.time() if now is None else now, "actor": actor.name, "scope": actor.scope,
             "correlation_id": current_correlation_id() or "", "entity": entity, "entity_id": entity_id,
             "action": action, "before": canonical_state(before), "after": canonical_state(after),
             "prev_hash": prev_hash}
    event["hash"] = event_hash(prev_hash, event)
    driver.execute(insert, [event[c] for c in _COLUMNS])
    driver.execute(advance, (event["seq"], event["hash"]))
    return event


def _append_postgresql(conn: Connection, entity: str, entity_id: str, action: str,
                       before: Mapping[str, object] | None, after: Mapping[str, object], now: float | None) -> dict:
    """Take the chain and chain the event, or park it for the holder (the module docstring)."""
    actor = _actor.get()
    event = {"at": time.time() if now is None else now, "actor": actor.name, "scope": actor.scope,
             "correlation_id": current_correlation_id() or "", "entity": entity, "entity_id": entity_id,
             "action": action, "before": canonical_state(before), "after": canonical_state(after)}
    driver = conn.connection.driver_connection
    head = driver.execute(_TAKE_OR_PARK, [event[c] for c in _PARKED]).fetchone()
    if head is None:  # another transaction holds the chain: parked for it (or the next holder)
        return {**event, "seq": None}
    return _chain(driver, head, event)[1]  # type: ignore[return-value]


def seal(engine: Engine) -> int:
    """Chain the events bookings parked (PostgreSQL; SQLite never parks), unless another transaction holds the
    chain right now (it chains them itself). The number chained. The service runs it every second."""
    if engine.dialect.name == "sqlite":
        return 0
    sealed = 0
    while True:
        with engine.begin() as conn:
            driver = conn.connection.driver_connection
            head = driver.execute(_TAKE).fetchone()
            if head is None:
                return sealed
            chained = _chain(driver, head, None)[0]
        sealed += chained
        if chained < SEAL_BATCH:
            return sealed


def events_for(conn: Connection, entity_id: str) -> list[dict]:
    """A record's events in chain order (diagnosis, tests)."""
    rows = conn.execute(select(audit_events).where(audit_events.c.entity_id == entity_id)
                        .order_by(audit_events.c.seq)).mappings()
    return [dict(row) for row in rows]
