"""Outbox: the async boundary after a money movement.

`enqueue` writes one message per queue inside the transaction that books the money, so a
message exists exactly when the movement does. `OutboxWorker.run_once` delivers what is due
to the in-process consumers (notifications, compliance log); a failure is retried with
capped exponential backoff and full jitter, and after `max_attempts` the message moves to
the dead-letter table. Queue depth and dead letters are measured on every run.
"""

from __future__ import annotations

import json
import time

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from moneypath.instrument import MoneyPath
from moneypath.protocol.faults.switches import Faults
from moneypath.reference.refservice.db import dead_letters, deliveries, outbox_messages
from moneypath.reference.refservice.resilience import RetryPolicy
from moneypath.reference.refservice.statements import Prepared, padded

QUEUES = ("notifications", "compliance_log")
_ENQUEUE = Prepared(outbox_messages.insert().values({name: bindparam(name) for name in (
    "queue", "event", "payload", "attempts", "next_attempt_at", "created_at")}))


def enqueue(conn: Connection, event: str, payload: dict, now: float | None = None) -> None:
    """One message per queue, in the caller's transaction. Carries no card or customer data."""
    now = time.time() if now is None else now
    text = json.dumps(payload, sort_keys=True)
    _ENQUEUE.many(conn, [{"queue": queue, "event": event, "payload": text, "attempts": 0, "next_attempt_at": now,
                          "created_at": now} for queue in QUEUES])


class OutboxWorker:
    def __init__(self, engine: Engine, mp: MoneyPath, faults: Faults | None = None,
                 retry: RetryPolicy | None = None, max_attempts: int = 5, batch: int = 2000):
        self.engine, self.mp, self.faults = engine, mp, faults
        self.retry = retry or RetryPolicy(max_attempts=max_attempts, base_s=0.5, cap_s=30.0)
        self.max_attempts, self.batch = max_attempts, batch
        # The consumers record each message once: a redelivery (the outbox row outlived its
        # delivery only because the worker stopped between the two) is ignored by the database.
        insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
        self._record = insert(deliveries).on_conflict_do_nothing()

    def run_once(self, now: float | None = None) -> dict[str, int]:
        """Deliver every due message once; returns counts (delivered, retried, dead).

        One transaction and a handful of statements per batch (not per message): the worker
        shares the ledger's write lock with the payments, so it must hold it briefly."""
        now = time.time() if now is None else now
        counts = {"delivered": 0, "retried": 0, "dead": 0}
        with self.engine.begin() as conn:
            due = conn.execute(select(outbox_messages).where(outbox_messages.c.next_attempt_at <= now)
                               .order_by(outbox_messages.c.id).limit(self.batch)
                               .with_for_update(skip_locked=True)).all()
            delivered = []
            for message in due:
                if self.faults is not None and self.faults.fires("consumer_failure", message.queue):
                    self._failed(conn, message, f"{message.queue} consumer failed (consumer_failure fault)", now,
                                 counts)
                else:
                    delivered.append(message)
            if delivered:
                at = time.time()
                conn.execute(self._record, [{"queue": m.queue, "message_id": m.id, "event": m.event,
                                             "payload": m.payload, "delivered_at": at} for m in delivered])
                done = padded([m.id for m in delivered])  # one statement text per power of two (statements.padded)
                conn.execute(delete(outbox_messages).where(outbox_messages.c.id.in_(done)))
                counts["delivered"] = len(delivered)
            depth = dict(conn.execute(select(outbox_messages.c.queue, func.count())
                                      .group_by(outbox_messages.c.queue)).all())
        for queue in QUEUES:
            self.mp.set_queue_depth(queue, depth.get(queue, 0))
        return counts

    def _failed(self, conn: Connection, message, error: str, now: float, counts: dict) -> None:
        attempts = message.attempts + 1
        if attempts >= self.max_attempts:
            conn.execute(dead_letters.insert().values(id=message.id, queue=message.queue, event=message.event,
                                                      payload=message.payload, attempts=attempts, last_error=error,
                                                      created_at=message.created_at, dead_at=now))
            conn.execute(delete(outbox_messages).where(outbox_messages.c.id == message.id))
            self.mp.count_dead_letter(message.queue)
            counts["dead"] += 1
            return
        conn.execute(update(outbox_messages).where(outbox_messages.c.id == message.id).values(
            attempts=attempts, last_error=error, next_attempt_at=now + self.retry.delay(attempts - 1)))
        counts["retried"] += 1
