"""The audit trail: every state change of a financial record appends one event, in the transaction
that makes the change, to a hash chain (moneypath.protocol.audit.chain) that `moneypath audit verify`
and the service's background check (chain_check.py) walk.

Who acted comes from the context: `acting(actor, scope)` binds it (the scope check of an API request in
dependencies.py, the webhook router, each background job); the correlation id is the request's
(moneypath.instrument._correlation). Both are context variables, so they follow the work into
`Services.in_db`, which runs it inline or in a thread with a copy of the context.

Chaining on PostgreSQL, where several service processes book at once. Chaining an event needs the previous
hash, and a link may be built on only once it is committed, so whoever chains holds the chain from its read
of the head to its commit, WAL flush included. So one transaction at a time holds the chain and nobody waits
for it. The booking's own statement does it all, with no round trip of its own (Audited: payments.create and
mark_captured; `append` is the same statement without a booking, for the other changes): it writes the record,
then tries a transaction-scoped advisory lock (pg_try_advisory_xact_lock). Got it: it takes the head (locked
FOR UPDATE, so a service of an earlier version, which locks only the head, never chains beside it), inserts the
event at the next seq with its hash computed by the database, and advances the head; the booking holds the
chain to its commit, and if others had parked events meanwhile it chains those after its own (committed ones,
in id order; those in flight wait for the next holder) in one more statement, in SQL: a parked event keeps its
tail, the JSON its hash covers, and the statement hashes them one after the other (a recursive CTE,
_chain_sql). Busy: the same statement parks the event in audit_pending (unchained, no hash, its tail kept) in
the booking's transaction, and the current holder, the next one or `seal` (the service's job, every second;
the same SQL) chains it. A row parked by a service of an earlier version has no tail: it is chained from its
fields in Python (_chain). Round trips, not the hash, are the trail's cost on the booking path.

What an auditor can still prove: the chain is what it was (linear, each event hashed with the one before;
seq is the order of chaining, which may differ from the order of `at`). A parked event is not yet protected
by it: `moneypath audit verify` and the service's check (ChainWatch) count it as pending, never skip it, and
one parked longer than PENDING_MAX_S (60 s) is a break: nothing seals, and it can be edited or deleted
unseen. Checkpoints sign chained heads only. A rolled-back booking leaves nothing, parked or chained (a
holder that rolls back leaves what it would have chained parked). Certificate Transparency makes the same
trade (a promise at submission, merged within a maximum merge delay). Without contention a booking chains its
own event: nothing is pending.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Executable

from moneypath.instrument import current_correlation_id
from moneypath.protocol.audit.chain import (
    EVENTS_TABLE,
    HASHED,
    HEAD_TABLE,
    PENDING_TABLE,
    canonical_state,
    event_hash,
    event_tail,
)
from moneypath.reference.refservice.db import audit_events
from moneypath.reference.refservice.statements import Prepared


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
# its statements would cost more CPU than the whole booking without them (benchmarks/bench_audit.py).
_COLUMNS = (*HASHED, "prev_hash", "hash")
_PARKED = HASHED[1:]  # what a parked event stores: everything hashed but the seq it is chained at
SEAL_LOCK = 0x6D70_6175_6469_7431  # the advisory lock key of "the chain's holder" (any fixed bigint)
SEAL_BATCH = 1000  # parked events chained per transaction at most

# SQLite chains at once (BEGIN IMMEDIATE already serializes writers): read the head, insert, advance the head.
_SQLITE_HEAD = f"SELECT seq, hash FROM {HEAD_TABLE} WHERE id = 1"
_SQLITE_INSERT = f"INSERT INTO {EVENTS_TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join(['?'] * len(_COLUMNS))})"
_SQLITE_ADVANCE = f"UPDATE {HEAD_TABLE} SET seq = ?, hash = ? WHERE id = 1"


# PostgreSQL (psycopg, %s; see the module docstring). The booking's statement takes the chain: the head, locked,
# if the advisory lock is free (`took`; no row else), and whether anything is parked. One statement, so its
# snapshot may predate the previous holder's commit; FOR UPDATE still returns the head as that commit left it
# (READ COMMITTED re-reads a row updated since). What is parked is chained by _CHAIN_PARKED, a later statement
# (a fresh snapshot), only when there is any; `seal` does both in one statement (_SEAL): there the parked events
# are taken by a DELETE ... RETURNING, which skips a row a holder that committed since deleted (chained), so
# an event is chained once either way, and only if its booking committed (or is this transaction).
_TOOK = (f"SELECT seq, hash, EXISTS (SELECT 1 FROM {PENDING_TABLE}) AS parked FROM {HEAD_TABLE} "
         f"WHERE id = 1{{booked}} AND pg_try_advisory_xact_lock({SEAL_LOCK}) FOR UPDATE")
_PARKED_ROWS = f"SELECT id, {', '.join(_PARKED)} FROM {PENDING_TABLE} ORDER BY id LIMIT {SEAL_BATCH}"
_ROW = f"({', '.join(['%s'] * len(_COLUMNS))})"
# The event's fields in _append_sql, read back from its one parameter: '[0' || tail is the JSON array of HASHED
# (0 for the seq), so the statement carries one string for the event, not ten parameters.
_FIELDS = ", ".join(["(e.j->>1)::float8", *(f"e.j->>{i}" for i in range(2, len(HASHED)))])
# `legacy`: whether a parked row has no tail (parked by a service of an earlier version, which stores the fields
# only): then the SQL chains none of them and _chain does, in Python, in id order.
_LEGACY = f"EXISTS (SELECT 1 FROM {PENDING_TABLE} WHERE tail IS NULL) AS legacy"


def _chain_sql(start: str) -> str:
    """The CTEs that chain the parked events after `start` (a CTE of one row (seq, hash, legacy), or none:
    nothing chains): delete them from PENDING_TABLE (id order, SEAL_BATCH at most, none if `legacy`), number and
    hash each after the one before (`chain`, recursive: exactly event_hash, from the tail the booking that
    parked it stored), insert them (`sealed`) and advance the head to the last (`moved`). SQL, not Python: no
    round trip to fetch them and no client CPU per parked event."""
    return (f"d AS (DELETE FROM {PENDING_TABLE} WHERE id IN (SELECT id FROM {PENDING_TABLE} ORDER BY id "
            f"LIMIT {SEAL_BATCH}) AND EXISTS (SELECT 1 FROM {start} WHERE NOT legacy) RETURNING *), "
            "n AS (SELECT (row_number() OVER (ORDER BY id))::int AS i, * FROM d), "
            "a AS (SELECT array_agg(tail ORDER BY id) AS tails FROM d), "
            f"chain (i, seq, prev, hash) AS (SELECT 0, seq, NULL::text, hash::text FROM {start} UNION ALL "
            "SELECT chain.i + 1, chain.seq + 1, chain.hash, encode(sha256(convert_to(chain.hash || '[' || "
            "(chain.seq + 1) || a.tails[chain.i + 1], 'UTF8')), 'hex') FROM chain, a "
            "WHERE chain.i < cardinality(a.tails)), "
            f"sealed AS (INSERT INTO {EVENTS_TABLE} ({', '.join(_COLUMNS)}) SELECT chain.seq, "
            f"{', '.join(f'n.{c}' for c in _PARKED)}, chain.prev, chain.hash FROM chain JOIN n USING (i) RETURNING 1), "
            f"moved AS (UPDATE {HEAD_TABLE} SET seq = last.seq, hash = last.hash FROM (SELECT i, seq, hash FROM chain "
            f"ORDER BY i DESC LIMIT 1) last WHERE {HEAD_TABLE}.id = 1 AND last.i > 0) ")


def _append_sql(booking: str | None) -> str:
    """PostgreSQL: one statement that takes the chain and chains the event (no row taken: parks it), after
    `booking` (an INSERT or UPDATE of the record, compiled with %(name)s parameters) when given, and only if it
    wrote a row. The event comes as one parameter, its JSON without the seq (%(a_tail)s,
    chain.event_tail), which `'[' || seq` completes to exactly what event_hash hashes: the database
    computes the hash and reads the fields back from it (_FIELDS); a parked event keeps it (the pending row's
    tail) for its holder's hash. So the event needs no round trip of its own, and a booking none at all.
    Returns (rows the booking wrote, seq, hash, whether anything was parked before); seq is NULL when it
    parked. Parked events are chained by a separate statement, not this one: most bookings find nothing
    parked, and every booking would pay for it here."""
    booked = f"booked AS ({booking} RETURNING 1), " if booking else ""
    took = _TOOK.format(booked=" AND EXISTS (SELECT 1 FROM booked)" if booking else "")
    return (f"WITH {booked}e AS (SELECT ('[0' || %(a_tail)s)::json AS j), took AS ({took}), "
            f"chained AS (INSERT INTO {EVENTS_TABLE} ({', '.join(_COLUMNS)}) SELECT took.seq + 1, {_FIELDS}, "
            "took.hash, encode(sha256(convert_to(took.hash || '[' || (took.seq + 1) || %(a_tail)s, 'UTF8')), 'hex') "
            "FROM took, e RETURNING seq, hash), "
            f"moved AS (UPDATE {HEAD_TABLE} SET seq = chained.seq, hash = chained.hash FROM chained "
            f"WHERE {HEAD_TABLE}.id = 1), "
            f"parked AS (INSERT INTO {PENDING_TABLE} ({', '.join(_PARKED)}, tail) SELECT {_FIELDS}, %(a_tail)s "
            f"FROM e{', booked' if booking else ''} WHERE NOT EXISTS (SELECT 1 FROM took)) "
            f"SELECT {'(SELECT count(*) FROM booked)' if booking else '1'}, (SELECT seq FROM chained), "
            "(SELECT hash FROM chained), (SELECT parked FROM took)")


_APPEND = _append_sql(None)
# A holder, after its booking's statement found events parked: chain them after its event (seq, hash); (how
# many chained, legacy).
_CHAIN_PARKED = (f"WITH RECURSIVE took AS (SELECT %s::bigint AS seq, %s::text AS hash, {_LEGACY}), "
                 + _chain_sql("took") + "SELECT (SELECT count(*) FROM sealed), (SELECT legacy FROM took)")
# `seal`: take the chain and chain what is parked; (took it, how many chained, head seq and hash as taken, legacy).
_SEAL = (f"WITH RECURSIVE took AS (SELECT seq, hash, {_LEGACY} FROM {HEAD_TABLE} WHERE id = 1 AND "
         f"pg_try_advisory_xact_lock({SEAL_LOCK}) FOR UPDATE), " + _chain_sql("took")
         + "SELECT (SELECT count(*) FROM took), (SELECT count(*) FROM sealed), (SELECT seq FROM took), "
         "(SELECT hash FROM took), (SELECT legacy FROM took)")


def _chain(driver, seq: int, prev_hash: str) -> int:
    """Holding the chain (its head: seq, prev_hash), parked rows without a tail among them (a service of an
    earlier version parked them): chain the parked events in id order in Python, in one write; how many."""
    parked = driver.execute(_PARKED_ROWS).fetchall()
    if not parked:
        return 0
    events = [dict(zip(_PARKED, row[1:])) for row in parked]
    values: list = []
    for event in events:
        seq += 1
        event["seq"], event["prev_hash"] = seq, prev_hash
        prev_hash = event["hash"] = event_hash(prev_hash, event)
        values.extend(event[c] for c in _COLUMNS)
    driver.execute(f"WITH d AS (DELETE FROM {PENDING_TABLE} WHERE id = ANY(%s)), e AS (INSERT INTO {EVENTS_TABLE} "
                   f"({', '.join(_COLUMNS)}) VALUES {', '.join([_ROW] * len(events))}) "
                   f"UPDATE {HEAD_TABLE} SET seq = %s, hash = %s WHERE id = 1",
                   [[row[0] for row in parked], *values, seq, prev_hash])
    return len(events)


def _event(entity: str, entity_id: str, action: str, before: Mapping[str, object] | None,
           after: Mapping[str, object], now: float | None) -> dict:
    """The event's fields but its place in the chain (seq, prev_hash, hash)."""
    actor = _actor.get()
    return {"at": time.time() if now is None else float(now), "actor": actor.name, "scope": actor.scope,
            "correlation_id": current_correlation_id() or "", "entity": entity, "entity_id": entity_id,
            "action": action, "before": canonical_state(before), "after": canonical_state(after)}


def append(conn: Connection, entity: str, entity_id: str, action: str, before: Mapping[str, object] | None,
           after: Mapping[str, object], now: float | None = None) -> dict:
    """Append one event in the caller's transaction; returns it (on PostgreSQL with seq None when it was
    parked for the chain's holder). Call it last in the transaction: the transaction that chains holds the
    chain until it commits. A booking statement that writes one record can carry its event itself: Audited."""
    event = _event(entity, entity_id, action, before, after, now)
    if conn.dialect.name != "sqlite":
        _, seq, hashed = _write(conn, _APPEND, {}, event)
        return {**event, "seq": seq, "hash": hashed}
    driver = conn.connection.driver_connection
    event["seq"], event["prev_hash"] = driver.execute(_SQLITE_HEAD).fetchone()
    event["seq"] += 1
    event["hash"] = event_hash(event["prev_hash"], event)
    driver.execute(_SQLITE_INSERT, [event[c] for c in _COLUMNS])
    driver.execute(_SQLITE_ADVANCE, (event["seq"], event["hash"]))
    return event


def _write(conn: Connection, sql: str, params: Mapping[str, object], event: dict) -> tuple[int, int | None, str | None]:
    """PostgreSQL: run an _append_sql statement; (rows booked, seq, hash). A holder that found events parked
    chains them too, after its own (seq is the order of chaining, not of `at`)."""
    args = {**params, "a_tail": event_tail([event[c] for c in _PARKED])}
    booked, seq, hashed, anything_parked = Prepared.run(conn, sql, args).fetchone()
    if seq is not None and anything_parked:
        driver = conn.connection.driver_connection
        _, legacy = driver.execute(_CHAIN_PARKED, (seq, hashed)).fetchone()
        if legacy:
            _chain(driver, seq, hashed)
    return booked, seq, hashed


class Audited:
    """A booking statement that writes one record (its INSERT, or the UPDATE of its row) and appends the
    record's event when it wrote the row: `count(conn, params, record, ..., now)`, the rows written (the record's
    "kind" is the event's entity, its "id" the entity's id). On
    PostgreSQL in the same statement (_append_sql: no round trip for the trail); on SQLite the statement,
    then `append` (no network between them)."""

    __slots__ = ("plain", "_sql")

    def __init__(self, statement: Executable):
        self.plain = Prepared(statement)
        self._sql: dict[str, tuple[str, dict]] = {}

    def count(self, conn: Connection, params: Mapping[str, object], record: Mapping, action: str,
              before: Mapping[str, object] | None, after: Mapping[str, object], now: float | None = None) -> int:
        entity, entity_id = record["kind"], record["id"]
        if conn.dialect.name == "sqlite":
            written = self.plain.count(conn, params)
            if written == 1:
                append(conn, entity, entity_id, action, before, after, now)
            return written
        found = self._sql.get(conn.dialect.name)
        if found is None:
            compiled = self.plain.statement.compile(dialect=conn.dialect)
            literals = {name: value for name, value in compiled.params.items() if value is not None}
            found = self._sql[conn.dialect.name] = (_append_sql(compiled.string), literals)
        sql, literals = found
        return _write(conn, sql, {**literals, **params}, _event(entity, entity_id, action, before, after, now))[0]


def seal(engine: Engine) -> int:
    """Chain the events bookings parked (PostgreSQL; SQLite never parks), unless another transaction holds the
    chain right now (it chains them itself). The number chained. The service runs it every second."""
    if engine.dialect.name == "sqlite":
        return 0
    sealed = 0
    while True:
        with engine.begin() as conn:
            driver = conn.connection.driver_connection
            took, chained, seq, prev_hash, legacy = driver.execute(_SEAL).fetchone()
            if not took:
                return sealed
            if legacy:
                chained = _chain(driver, seq, prev_hash)
        sealed += chained
        if chained < SEAL_BATCH:
            return sealed


def events_for(conn: Connection, entity_id: str) -> list[dict]:
    """A record's events in chain order (diagnosis, tests)."""
    rows = conn.execute(select(audit_events).where(audit_events.c.entity_id == entity_id)
                        .order_by(audit_events.c.seq)).mappings()
    return [dict(row) for row in rows]
