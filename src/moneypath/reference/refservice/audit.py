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
from sqlalchemy.engine import Connection

from moneypath._common.audit_chain import EVENTS_TABLE, HASHED, HEAD_TABLE, canonical_state, event_hash
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
# its three statements cost more CPU than the whole booking without them (measured with
# benchmarks/bench_audit.py: 226 µs per booking on SQLite vs 243 µs for the booking itself). FOR UPDATE
# locks the head row until the booking commits on PostgreSQL, so two transactions can never chain onto the
# same event; SQLite's BEGIN IMMEDIATE already serializes writers (and it has no FOR UPDATE).
_COLUMNS = (*HASHED, "prev_hash", "hash")
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


def append(conn: Connection, entity: str, entity_id: str, action: str, before: Mapping[str, object] | None,
           after: Mapping[str, object], now: float | None = None) -> dict:
    """Append one event in the caller's transaction; returns it. Call it last in the transaction: on
    PostgreSQL the head row stays locked from here until the commit."""
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


def events_for(conn: Connection, entity_id: str) -> list[dict]:
    """A record's events in chain order (diagnosis, tests)."""
    rows = conn.execute(select(audit_events).where(audit_events.c.entity_id == entity_id)
                        .order_by(audit_events.c.seq)).mappings()
    return [dict(row) for row in rows]
