"""The idempotent request flow every state-changing endpoint runs through.

The request's `Idempotency-Key` is claimed atomically, the provider is called with a key derived
from it (so a retry after a crash is deduplicated there too), and the response is stored in the
transaction that books the money; a retry with the same key gets that response replayed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.engine import Connection, Engine
from starlette.requests import Request
from starlette.responses import Response

from moneypath.catalog.pan import mentions_card_number
from moneypath.instrument import MoneyPath
from moneypath.protocol.faults.switches import Faults
from moneypath.reference.refservice import limits, payment_state, reservations
from moneypath.reference.refservice.idempotency import ClaimLost, IdempotencyOutcome, IdempotencyStore
from moneypath.reference.refservice.problems import ApiProblem
from moneypath.reference.refservice.reservations import Holder

log = logging.getLogger("moneypath.refservice")

# book(conn) writes the effect and may return a function to call once that commit succeeded.
Book = Callable[[Connection], Callable[[], object] | None]
# work(holder) calls the provider with holder.provider_key (after reserving an amount under the
# holder, if the operation is amount-limited) and returns (status, response body, book).
Work = Callable[[Holder], Awaitable[tuple[int, dict, Book]]]


class LedgerUnavailable(Exception):
    pass


class Idempotent:
    """`await idempotent(request, principal, operation, payload, work)`: the response, run once per key."""

    def __init__(self, store: IdempotencyStore, engine: Engine, mp: MoneyPath, faults: Faults | None,
                 in_db: Callable[..., Awaitable[Any]]):
        self.store, self.engine, self.mp, self.faults, self.in_db = store, engine, mp, faults, in_db

    async def __call__(self, request: Request, who: str, operation: str, payload: dict, work: Work) -> Response:
        store, in_db, mp, faults = self.store, self.in_db, self.mp, self.faults
        key = request.headers.get("idempotency-key", "")
        if not 1 <= len(key) <= limits.IDEMPOTENCY_KEY_MAX:
            raise ApiProblem(400, "idempotency-key-required", "Idempotency-Key required",
                             f"send an Idempotency-Key header (1-{limits.IDEMPOTENCY_KEY_MAX} characters) with "
                             "every state-changing request")
        if mentions_card_number(key):
            # The key is stored with its answer and sent on to the provider: such a key is kept as its digest, the
            # same for every retry. Not refused: a uuid4().hex key, as clients make them, holds a Luhn-valid
            # run about twice in a thousand.
            mp.count_card_number("api", "redacted")
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        digest = hashlib.sha256(json.dumps([request.method, request.url.path, payload], sort_keys=True).encode())
        claim = await store.claim_or_wait_async(in_db, who, key, operation, digest.hexdigest())
        if claim.outcome is IdempotencyOutcome.REPLAY:
            mp.count_idempotent_replay(operation)
            return Response(claim.body, claim.status, media_type="application/json",
                            headers={"idempotent-replayed": "true"})
        if claim.outcome is IdempotencyOutcome.IN_PROGRESS:
            raise ApiProblem(409, "idempotency-key-in-use", "Request in progress",
                             "a request with this Idempotency-Key is still running; retry later")
        if claim.outcome is IdempotencyOutcome.MISMATCH:
            raise ApiProblem(422, "idempotency-key-reused", "Idempotency-Key reused",
                             "this Idempotency-Key was used with a different request")
        holder = Holder(who, key, claim.lock, limits.provider_key(who, key))
        try:
            status, body, book = await work(holder)
        except BaseException:
            await in_db(self._release, holder)  # nothing was booked: let a retry run
            raise
        text = json.dumps(body)

        def commit():
            with self.engine.begin() as conn:
                after = book(conn)  # an amount-limited booking releases its reservation here (reservations)
                store.complete(conn, who, key, claim.lock, status, text)
                if faults is not None and faults.fires("ledger_write_failure"):
                    raise LedgerUnavailable("ledger_write_failure fault")  # rolls the whole booking back
            return after

        try:
            with mp.time_ledger_write() as write:
                try:
                    after = await in_db(commit, durable=True)
                except (payment_state.OverRefundError, ClaimLost):
                    write.outcome = "conflict"  # a client race, not the ledger failing: outside its durability SLO
                    raise
        except ClaimLost:
            # Our claim expired and a retry took the key over: that request's answer is the one that counts.
            raise ApiProblem(409, "idempotency-key-in-use", "Request in progress",
                             "a retry with this Idempotency-Key took the request over; retry later for its "
                             "response") from None
        except Exception as exc:
            # Nothing was booked and nothing acknowledged: free the key so the client's retry runs
            # (the provider sees the same key and does not move money twice).
            await in_db(self._release, holder)
            if isinstance(exc, payment_state.OverRefundError):  # a concurrent refund took the rest first
                raise ApiProblem(409, "payment-not-refundable", "Cannot refund", str(exc)) from None
            raise ApiProblem(503, "ledger-unavailable", "Ledger unavailable",
                             "the payment could not be recorded and was not applied; retry with the same "
                             "Idempotency-Key") from None
        if after is not None:  # e.g. the capture's provider fee: counted once, for what this commit booked
            after()
        log.info("booked", extra={"operation": operation, "status": status, "payment_id": body.get("id"),
                                  "state": body.get("state")})
        return Response(text, status, media_type="application/json")

    def _release(self, holder: Holder) -> None:
        """Free the claim and any amount it held, in one transaction, so a retry runs from scratch."""
        with self.store.engine.begin() as conn:
            self.store.release_in(conn, holder.principal, holder.key, holder.lock)
            reservations.release(conn, holder)
