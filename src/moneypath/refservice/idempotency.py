"""Idempotency keys: claimed atomically under a unique constraint, completed in the same
database transaction as the effect, replayed byte for byte afterwards.

A claim that never completed (the process died mid-request) is recoverable once its lock
expires; a concurrent duplicate waits briefly, then gets IN_PROGRESS (the API answers 409).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from sqlalchemy import and_, delete, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from moneypath.refservice.db import idempotency_keys as keys


class Outcome(enum.Enum):
    NEW = "new"                    # you own the key: do the work, then complete() in the same transaction
    REPLAY = "replay"              # already done: return the stored response
    IN_PROGRESS = "in_progress"    # someone else holds it and their lock has not expired
    MISMATCH = "mismatch"          # same key, different request: a client bug (422)


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    status: int | None = None
    body: str | None = None
    recovered: bool = False        # NEW by taking over an expired, never-completed claim


class IdempotencyStore:
    def __init__(self, engine: Engine, lock_ttl_s: float = 30.0):
        self.engine = engine
        self.lock_ttl_s = lock_ttl_s

    def claim(self, principal: str, key: str, operation: str, request_hash: str, now: float | None = None) -> Claim:
        now = time.time() if now is None else now
        for _ in range(2):  # a lost insert race (PostgreSQL) is resolved by reading the winner's row
            try:
                with self.engine.begin() as conn:
                    return self._claim(conn, principal, key, operation, request_hash, now)
            except IntegrityError:
                continue
        raise RuntimeError("idempotency claim raced twice; the database is misbehaving")

    def _claim(self, conn: Connection, principal, key, operation, request_hash, now) -> Claim:
        where = and_(keys.c.principal == principal, keys.c.key == key)
        row = conn.execute(select(keys).where(where)).mappings().first()
        if row is None:
            conn.execute(keys.insert().values(principal=principal, key=key, operation=operation,
                                              request_hash=request_hash, state="in_progress",
                                              locked_until=now + self.lock_ttl_s, created_at=now))
            return Claim(Outcome.NEW)
        if row["operation"] != operation or row["request_hash"] != request_hash:
            return Claim(Outcome.MISMATCH)
        if row["state"] == "completed":
            return Claim(Outcome.REPLAY, row["response_status"], row["response_body"])
        if row["locked_until"] > now:
            return Claim(Outcome.IN_PROGRESS)
        # The owner died before completing: take over, conditionally, so only one retry wins.
        taken = conn.execute(update(keys).where(and_(where, keys.c.state == "in_progress",
                                                     keys.c.locked_until <= now))
                             .values(locked_until=now + self.lock_ttl_s)).rowcount
        return Claim(Outcome.NEW, recovered=True) if taken == 1 else Claim(Outcome.IN_PROGRESS)

    def claim_or_wait(self, principal: str, key: str, operation: str, request_hash: str,
                      wait_s: float = 2.0, poll_s: float = 0.02) -> Claim:
        """Like claim(), but a concurrent duplicate waits up to wait_s for the owner to finish."""
        deadline = time.monotonic() + wait_s
        while True:
            claim = self.claim(principal, key, operation, request_hash)
            if claim.outcome is not Outcome.IN_PROGRESS or time.monotonic() >= deadline:
                return claim
            time.sleep(poll_s)

    @staticmethod
    def complete(conn: Connection, principal: str, key: str, status: int, body: str, now: float | None = None) -> None:
        """Record the response inside the transaction that applied the effect."""
        done = conn.execute(update(keys).where(and_(keys.c.principal == principal, keys.c.key == key,
                                                    keys.c.state == "in_progress"))
                            .values(state="completed", response_status=status, response_body=body,
                                    completed_at=time.time() if now is None else now)).rowcount
        if done != 1:
            raise RuntimeError(f"idempotency key {key!r} was not in progress; refusing a second effect")

    def release(self, principal: str, key: str) -> None:
        """Forget an in-progress claim whose request failed before any effect, so a retry runs."""
        with self.engine.begin() as conn:
            conn.execute(delete(keys).where(and_(keys.c.principal == principal, keys.c.key == key,
                                                 keys.c.state == "in_progress")))
