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

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from moneypath._common.audit_chain import canonical_state, event_hash
from moneypath.instrument.correlation import current_correlation_id
from moneypath.reference.refservice.db import audit_events, audit_head


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


# Built once: constructing them per call costs more than executing them. FOR UPDATE locks the head row
# until the booking commits (PostgreSQL; SQLite's BEGIN IMMEDIATE already serializes writers and the
# clause is not rendered), so two transactions can never chain onto the same event.
_HEAD = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
_INSERT = audit_events.insert()
_ADVANCE = (audit_head.update().where(audit_head.c.id == 1)
            .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))


def append(conn: Connection, entity: str, entity_id: str, action: str, before: Mapping[str, object] | None,
           after: Mapping[str, object], now: float | None = None) -> dict:
    """Append one event in the caller's transaction; returns it. Call it last in the transaction: on
    PostgreSQL the head row stays locked from here until the commit."""
    actor = _actor.get()
    seq, prev_hash = conn.execute(_HEAD).one()
    event = {"seq": seq + 1, "at": time.time() if now is None else now, "actor": actor.name, "scope": actor.scope,
             "correlation_id": current_correlation_id() or "", "entity": entity, "entity_id": entity_id,
             "action": action, "before": canonical_state(before), "after": canonical_state(after),
             "prev_hash": prev_hash}
    event["hash"] = event_hash(prev_hash, event)
    conn.execute(_INSERT, event)
    conn.execute(_ADVANCE, {"new_seq": event["seq"], "new_hash": event["hash"]})
    return event


def events_for(conn: Connection, entity_id: str) -> list[dict]:
    """A record's events in chain order (diagnosis, tests)."""
    rows = conn.execute(select(audit_events).where(audit_events.c.entity_id == entity_id)
                        .order_by(audit_events.c.seq)).mappings()
    return [dict(row) for row in rows]
