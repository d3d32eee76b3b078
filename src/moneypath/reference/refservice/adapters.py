"""Provider adapters: the only way the service reaches a provider.

Each adapter speaks its provider's API and vocabulary and returns a normalised result.
The shared call path owns the timeout, retries (capped exponential backoff with full
jitter; safe because every provider request carries an idempotency key) and the circuit
breaker, and records every attempt with moneypath.instrument. Under overload retries must not
multiply the load on a struggling provider: a retry budget per provider keeps retries to 20 %
of calls, and every attempt fits in one deadline per operation (`timeout_s`), so a payment never
waits 3 x 2 s for an answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from moneypath.instrument import MoneyPath, current_correlation_id
from moneypath.protocol.correlation_header import HEADER as CORRELATION_HEADER
from moneypath.reference.refservice.provider_http import ProviderHttp, ProviderTimeout, ProviderUnreachable
from moneypath.reference.refservice.resilience import CircuitBreaker, RetryBudget, RetryPolicy

MIN_ATTEMPT_S = 0.05  # no retry starts with less than this left of the operation's deadline


@dataclass(frozen=True)
class ProviderResult:
    """outcome: approved | declined (authorize), succeeded (capture, refund, payout),
    or for any operation: error | timeout | circuit_open."""

    outcome: str
    provider_ref: str | None = None
    provider_status: str | None = None  # the provider's own word, kept for support and reconciliation


class Adapter(ABC):
    name = ""

    def __init__(self, client: ProviderHttp, mp: MoneyPath, timeout_s: float = 2.0,
                 retry: RetryPolicy | None = None, breaker: CircuitBreaker | None = None,
                 budget: RetryBudget | None = None):
        self.client, self.mp, self.timeout_s, self.retry = client, mp, timeout_s, retry or RetryPolicy()
        self.breaker, self.budget = breaker or CircuitBreaker(), budget or RetryBudget()
        self.breaker._on_change = lambda state: mp.set_circuit_state(self.name, state)
        mp.set_circuit_state(self.name, self.breaker.state)

    async def _call(self, operation: str, path: str, body: dict) -> tuple[dict | None, str]:
        """POST with retries within `timeout_s` in all; returns (JSON body or None, outcome of the last attempt)."""
        outcome = "error"
        correlation_id = current_correlation_id()
        headers = {CORRELATION_HEADER: correlation_id} if correlation_id else None
        deadline = time.perf_counter() + self.timeout_s
        self.budget.deposit()
        for attempt in range(self.retry.max_attempts):
            if not self.breaker.allow():
                self.mp.record_provider_call(self.name, operation, "circuit_open", 0.0)
                return None, "circuit_open"
            start = time.perf_counter()
            left = deadline - start
            status = 0
            try:
                # The deadline holds whatever the client's own timeouts do with a slow drip.
                async with asyncio.timeout(left):
                    status, content = await self.client.post(path, body, headers, left)
                outcome = "success" if status < 500 else "error"
            except (ProviderTimeout, TimeoutError):
                outcome = "timeout"
            except ProviderUnreachable:
                outcome = "error"
            if outcome == "success" and status < 400:
                try:
                    answer = json.loads(content)
                except (ValueError, RecursionError):  # a 2xx that is not JSON is no answer: the provider misbehaved
                    outcome = "error"
            if 400 <= status < 500:
                # Our request was wrong: not the provider's health, and a retry would not help.
                self.mp.record_provider_call(self.name, operation, "error", time.perf_counter() - start)
                self.breaker.success()
                return None, "error"
            self.mp.record_provider_call(self.name, operation, outcome, time.perf_counter() - start)
            if outcome == "success":
                self.breaker.success()
                return answer, outcome
            self.breaker.failure()
            if attempt + 1 >= self.retry.max_attempts:
                break
            pause = self.retry.delay(attempt)
            if deadline - time.perf_counter() - pause < MIN_ATTEMPT_S or not self.budget.withdraw():
                break
            self.mp.count_provider_retry(self.name, operation)
            await asyncio.sleep(pause)
        return None, outcome

    async def _request(self, operation: str, path: str, payload: dict, vocabulary: dict[str, str],
                       status_of, ref_of) -> ProviderResult:
        """One operation: call, then translate the provider's word through `vocabulary`
        (anything it does not list is an error)."""
        body, outcome = await self._call(operation, path, payload)
        if body is None:
            return ProviderResult(outcome if outcome in ("timeout", "circuit_open") else "error")
        status = status_of(body)
        return ProviderResult(vocabulary.get(status, "error"), ref_of(body), status)

    @abstractmethod
    async def authorize(self, amount_minor: int, currency: str, reference: str, key: str) -> ProviderResult: ...

    @abstractmethod
    async def capture(self, provider_ref: str, amount_minor: int, currency: str, key: str) -> ProviderResult: ...

    @abstractmethod
    async def refund(self, provider_ref: str, amount_minor: int, currency: str, key: str) -> ProviderResult: ...

    @abstractmethod
    async def payout(self, amount_minor: int, currency: str, reference: str, key: str) -> ProviderResult: ...


def _field(*path: str):
    """Reads body[path[0]][path[1]]… and gives None where a level is missing."""
    def read(body: dict):
        for key in path:
            body = body.get(key) if isinstance(body, dict) else None
        return body
    return read


_ACME_STATUS, _ACME_ID = _field("status"), _field("id")


class AcmeAdapter(Adapter):
    """Acme: APPROVED/DECLINED, CAPTURED, REFUNDED, PAID."""

    name = "acme"

    async def authorize(self, amount_minor, currency, reference, key):
        return await self._request("authorize", "/acme/v1/authorizations", {
            "amount_minor": amount_minor, "currency": currency, "reference": reference, "idempotency_key": key},
            {"APPROVED": "approved", "DECLINED": "declined"}, _ACME_STATUS, _ACME_ID)

    async def capture(self, provider_ref, amount_minor, currency, key):
        return await self._request("capture", f"/acme/v1/authorizations/{provider_ref}/capture",
                                   {"idempotency_key": key}, {"CAPTURED": "succeeded"}, _ACME_STATUS,
                                   lambda _: provider_ref)

    async def refund(self, provider_ref, amount_minor, currency, key):
        return await self._request("refund", f"/acme/v1/authorizations/{provider_ref}/refund",
                                   {"amount_minor": amount_minor, "idempotency_key": key},
                                   {"REFUNDED": "succeeded"}, _ACME_STATUS, lambda _: provider_ref)

    async def payout(self, amount_minor, currency, reference, key):
        return await self._request("payout", "/acme/v1/payouts", {
            "amount_minor": amount_minor, "currency": currency, "reference": reference, "idempotency_key": key},
            {"PAID": "succeeded"}, _ACME_STATUS, _ACME_ID)


class GlobexAdapter(Adapter):
    """Globex: charges with OK/REFUSED, settle → COMPLETE, reverse → REVERSED, transfers."""

    name = "globex"

    async def authorize(self, amount_minor, currency, reference, key):
        return await self._request("authorize", "/globex/api/charges", {
            "amount": {"value": amount_minor, "currency": currency}, "merchant_ref": reference, "request_id": key},
            {"OK": "approved", "REFUSED": "declined"}, _field("charge", "result"), _field("charge", "token"))

    async def capture(self, provider_ref, amount_minor, currency, key):
        return await self._request("capture", f"/globex/api/charges/{provider_ref}/settle", {"request_id": key},
                                   {"COMPLETE": "succeeded"}, _field("charge", "result"), lambda _: provider_ref)

    async def refund(self, provider_ref, amount_minor, currency, key):
        return await self._request("refund", f"/globex/api/charges/{provider_ref}/reverse", {
            "amount": {"value": amount_minor, "currency": currency}, "request_id": key},
            {"REVERSED": "succeeded"}, _field("result"), lambda _: provider_ref)

    async def payout(self, amount_minor, currency, reference, key):
        return await self._request("payout", "/globex/api/transfers", {
            "amount": {"value": amount_minor, "currency": currency}, "merchant_ref": reference, "request_id": key},
            {"OK": "succeeded"}, _field("transfer", "result"), _field("transfer", "token"))


ADAPTERS = {cls.name: cls for cls in (AcmeAdapter, GlobexAdapter)}
