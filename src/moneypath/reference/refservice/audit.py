"""The audit trail: every state change of a financial record appends one event, in the transaction
that makes the change, to a hash chain (moneypath._common.audit_chain) that `moneypath audit verify`
and the service's background check (audit_check.py) walk.

Who acted comes from the context: `acting(actor, scope)` binds it (the scope check of an API request in
dependencies.py, the webhook router, each background job); the correlation id is the request's
(moneypath.instrument.correlation). Both are context variables, so they follow the work into
`Services.in_db`, which runs it inline or in a thread with a copy of the context.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from moneypath._common.audit_chain import (
    EVENTS_TABLE,
    HASHED,
    HEAD_TABLE,
    PENDING_TABLE,
    canonical_state,
    event_hash,
)
from moneypath.instrument.correlation import current_correlation_id
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
# SQLite: BEGIN IMMEDIATE already serializes writers, so the event is chained at once (read the head, insert,
# advance the head).
#
# PostgreSQL: chaining an event needs the previous hash, and the link may only be seen once the booking
# commits, so whoever chains must hold the chain from its read of the head to its commit, WAL flush included.
# When every booking chained its own event (SELECT ... FOR UPDATE on the head), every booking waited for the
# one before it to commit: 2 and 4 service processes booked no faster than one (benchmarks/bench_pg_bookings.py;
# figures in the README). Now the chain has one holder at a time, and nobody waits for it: an append first
# tries a transaction-scoped advisory lock (pg_try_advisory_xact_lock, in the statement that reads the head).
# Got it: the booking chains, in order, the events parked by others (committed ones; those
# still in flight are not visible and wait for the next holder) and then its own, and holds the lock to its
# commit as before. Busy: the event is parked in audit_pending (one INSERT, no hash) in the booking's
# transaction, and the current or the next holder chains it; `seal` (the service's job, every second) chains
# what a burst's last bookings parked. The head row is still locked FOR UPDATE by the holder, so a service of
# the previous version (which locks only the head) never chains beside it.
#
# What an auditor can still prove: the chain itself is what it was (linear, every event hashed with the one
# before it; seq is the order events were chained, which may differ from the order of their `at`). A parked
# event is not yet protected by the chain: `audit verify` and the service's check count it as pending, never
# skip it, and one older than PENDING_MAX_S is a break (nothing seals). A rolled-back booking leaves nothing,
# parked or chained (a holder that rolls back leaves the events it would have chained parked). Certificate
# Transparency logs make the same trade (a promise at submission, the tree merged within a maximum merge
# delay); Trillian and Tessera integrate queued entries in batches by one sequencer in the same way.
#
# Weighed and not taken: an advisory lock taken for the link alone (the link must stay locked until it
# commits, or a later booking chains onto an event that may roll back: no gain); a separate sealer process
# chaining every event asynchronously (every event pending for up to a sealing interval, also when bookings
# do not contend, and a process to run and watch).
_COLUMNS = (*HASHED, "prev_hash", "hash")
_PARKED = HASHED[1:]  # what a parked event stores: everything hashed but the seq it is chained at
SEAL_LOCK = 0x6D70_6175_6469_7431  # the advisory lock key of "the chain's holder" (any fixed bigint)
SEAL_BATCH = 1000  # parked events chained per transaction at most
_STATEMENTS: dict[str, tuple[str, str, str]] = {}


def _statements(conn: Connection) -> tuple[str, str, str]:
    """(read and lock the head, insert the event, advance the head) in the driver's parameter style (SQLite:
    qmark; the PostgreSQL path builds its statements below)."""
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
_PARKED_ROWS = f"SELECT id, {', '.join(_PARKED)} FROM {PENDING_TABLE} ORDER BY id LIMIT {SEAL_BATCH}"
_PARK = f"INSERT INTO {PENDING_TABLE} ({', '.join(_PARKED)}) VALUES ({', '.join(['%s'] * len(_PARKED))})"
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
    driver = conn.connection.driver_connection
    actor = _actor.get()
    event = {"at": time.time() if now is None else now, "actor": actor.name, "scope": actor.scope,
             "correlation_id": current_correlation_id() or "", "entity": entity, "entity_id": entity_id,
             "action": action, "before": canonical_state(before), "after": canonical_state(after)}
    if conn.dialect.name != "sqlite":
        head = driver.execute(_TAKE).fetchone()
        if head is None:  # another transaction holds the chain: park the event for it (or the next holder)
            driver.execute(_PARK, [event[c] for c in _PARKED])
            return {**event, "seq": None}
        return _chain(driver, head, event)[1]  # type: ignore[return-value]
    head, insert, advance = _statements(conn)
    seq, prev_hash = driver.execute(head).fetchone()
    event["seq"], event["prev_hash"] = seq + 1, prev_hash
    event["hash"] = event_hash(prev_hash, event)
    driver.execute(insert, [event[c] for c in _COLUMNS])
    driver.execute(advance, (event["seq"], event["hash"]))
    return event


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
