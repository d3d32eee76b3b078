"""Idempotency keys: claimed atomically under a unique constraint, completed in the same
database transaction as the effect, replayed byte for byte afterwards.

A claim that never completed (the process died mid-request) is recoverable once its lock
expires; a concurrent duplicate waits briefly, then gets IN_PROGRESS (the API answers 409).
The lock's expiry time doubles as the owner's token: complete() and release() match it, so a
stale owner that outlived its lock cannot complete or free the claim a retry took over (each
takeover sets a later expiry, so two owners never share one).
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from moneypath.reference.refservice.db import idempotency_keys as keys
from moneypath.reference.refservice.statements import Prepared

# Compiled once, run on the driver (statements.Prepared): the claim runs on every state-changing request.
_THIS_KEY = and_(keys.c.principal == bindparam("b_principal"), keys.c.key == bindparam("b_key"))
_INSERT = Prepared(keys.insert().values({name: bindparam(name) for name in (
    "principal", "key", "operation", "request_hash", "state", "locked_until", "created_at")}))
_SELECT = Prepared(select(keys).where(_THIS_KEY))
_TAKE_OVER = Prepared(update(keys).where(_THIS_KEY, keys.c.state == "in_progress",
                                         keys.c.locked_until <= bindparam("b_now"))
                      .values(locked_until=bindparam("b_until")))
_MINE = and_(_THIS_KEY, keys.c.state == "in_progress", keys.c.locked_until == bindparam("b_lock"))
_COMPLETE = Prepared(update(keys).where(_MINE)
                     .values(state="completed", response_status=bindparam("b_status"),
                             response_body=bindparam("b_body"), completed_at=bindparam("b_now")))
_RELEASE = Prepared(delete(keys).where(_MINE))


class ClaimLost(RuntimeError):
    """complete() found the key no longer in progress under this claim: its lock expired and a
    retry took it over (or it completed). Nothing may be booked under it."""


class IdempotencyOutcome(enum.Enum):
    NEW = "new"                    # you own the key: do the work, then complete() in the same transaction
    REPLAY = "replay"              # already done: return the stored response
    IN_PROGRESS = "in_progress"    # someone else holds it and their lock has not expired
    MISMATCH = "mismatch"          # same key, different request: a client bug (422)


@dataclass(frozen=True)
class Claim:
    outcome: IdempotencyOutcome
    status: int | None = None
    body: str | None = None
    lock: float | None = None      # NEW: the owner's token for complete() and release()


class IdempotencyStore:
    def __init__(self, engine: Engine, lock_ttl_s: float = 30.0):
        self.engine = engine
        self.lock_ttl_s = lock_ttl_s

    def claim(self, principal: str, key: str, operation: str, request_hash: str, now: float | None = None) -> Claim:
        now = time.time() if now is None else now
        until = now + self.lock_ttl_s  # the lock expiry, stored and kept by the owner as its token
        # The common case, a key never seen: one INSERT, which the primary key makes atomic.
        try:
            with self.engine.begin() as conn:
                _INSERT.count(conn, {"principal": principal, "key": key, "operation": operation,
                                     "request_hash": request_hash, "state": "in_progress",
                                     "locked_until": until, "created_at": now})
            return Claim(IdempotencyOutcome.NEW, lock=until)
        except IntegrityError:
            pass  # the key exists: read it
        for _ in range(2):  # a lost insert race (PostgreSQL) is resolved by reading the winner's row
            try:
                with self.engine.begin() as conn:
                    return self._claim(conn, principal, key, operation, request_hash, now, until)
            except IntegrityError:
                continue
        raise RuntimeError("idempotency claim raced twice; the database is misbehaving")

    def _claim(self, conn: Connection, principal, key, operation, request_hash, now, until) -> Claim:
        this = {"b_principal": principal, "b_key": key}
        row = _SELECT.first(conn, this)
        if row is None:
            _INSERT.count(conn, {"principal": principal, "key": key, "operation": operation,
                                 "request_hash": request_hash, "state": "in_progress",
                                 "locked_until": until, "created_at": now})
            return Claim(IdempotencyOutcome.NEW, lock=until)
        if row["operation"] != operation or row["request_hash"] != request_hash:
            return Claim(IdempotencyOutcome.MISMATCH)
        if row["state"] == "completed":
            return Claim(IdempotencyOutcome.REPLAY, row["response_status"], row["response_body"])
        if row["locked_until"] > now:
            return Claim(IdempotencyOutcome.IN_PROGRESS)
        # The owner died before completing: take over, conditionally, so only one retry wins.
        taken = _TAKE_OVER.count(conn, {**this, "b_now": now, "b_until": until})
        return Claim(IdempotencyOutcome.NEW, lock=until) if taken == 1 else Claim(IdempotencyOutcome.IN_PROGRESS)

    def claim_or_wait(self, principal: str, key: str, operation: str, request_hash: str,
                      wait_s: float = 2.0, poll_s: float = 0.02) -> Claim:
        """Like claim(), but a concurrent duplicate waits up to wait_s for the owner to finish.
        (For threads; the service uses claim_or_wait_async. The store-level retry-storm test uses it.)"""
        deadline = time.monotonic() + wait_s
        while True:
            claim = self.claim(principal, key, operation, request_hash)
            if claim.outcome is not IdempotencyOutcome.IN_PROGRESS or time.monotonic() >= deadline:
                return claim
            time.sleep(poll_s)

    async def claim_or_wait_async(self, run, principal: str, key: str, operation: str, request_hash: str,
                                  wait_s: float = 2.0, poll_s: float = 0.02) -> Claim:
        """claim_or_wait() for an event loop: `run(fn, *args)` runs each claim in a database thread,
        and the waiting happens on the loop, so it never holds a thread the owner needs to finish."""
        deadline = time.monotonic() + wait_s
        while True:
            claim = await run(self.claim, principal, key, operation, request_hash)
            if claim.outcome is not IdempotencyOutcome.IN_PROGRESS or time.monotonic() >= deadline:
                return claim
            await asyncio.sleep(poll_s)

    @staticmethod
    def complete(conn: Connection, principal: str, key: str, lock: float, status: int, body: str,
                 now: float | None = None) -> None:
        """Record the response inside the transaction that applied the effect; `lock` is the claim's."""
        done = _COMPLETE.count(conn, {"b_principal": principal, "b_key": key, "b_lock": lock, "b_status": status,
                                      "b_body": body, "b_now": time.time() if now is None else now})
        if done != 1:
            raise ClaimLost(f"idempotency key {key!r} was not in progress; refusing a second effect")

    def release(self, principal: str, key: str, lock: float) -> None:
        """Forget our in-progress claim (`lock` is the claim's) whose request failed before any
        effect, so a retry runs; a claim a retry took over since is left alone."""
        with self.engine.begin() as conn:
            self.release_in(conn, principal, key, lock)

    @staticmethod
    def release_in(conn: Connection, principal: str, key: str, lock: float) -> None:
        """release() inside a transaction of the caller's."""
        _RELEASE.count(conn, {"b_principal": principal, "b_key": key, "b_lock": lock})
