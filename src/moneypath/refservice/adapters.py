"""Provider adapters: the only way the service reaches a provider.

Each adapter speaks its provider's API and vocabulary and returns a normalised result.
The shared call path owns the timeout, retries (capped exponential backoff with full
jitter; safe because every provider request carries an idempotency key) and the circuit
breaker, and records every attempt with moneypath.instrument.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import httpx

from moneypath.instrument import MoneyPath
from moneypath.refservice.resilience import CircuitBreaker, RetryPolicy


@dataclass(frozen=True)
class ProviderResult:
    """outcome: approved | declined (authorize), succeeded (capture, refund, payout),
    or for any operation: error | timeout | circuit_open."""

    outcome: str
    provider_ref: str | None = None
    provider_status: str | None = None  # the provider's own word, kept for support and reconciliation


class Adapter(ABC):
    name = ""

    def __init__(self, client: httpx.AsyncClient, mp: MoneyPath, timeout_s: float = 2.0,
                 retry: RetryPolicy | None = None, breaker: CircuitBreaker | None = None):
        self.client, self.mp, self.timeout_s, self.retry = client, mp, timeout_s, retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.breaker._on_change = lambda state: mp.set_circuit_state(self.name, state)
        mp.set_circuit_state(self.name, self.breaker.state)

    async def _call(self, operation: str, path: str, body: dict) -> tuple[dict | None, str]:
        """POST with retries; returns (JSON body or None, outcome of the last attempt)."""
        outcome = "error"
        for attempt in range(self.retry.max_attempts):
            if not self.breaker.allow():
                self.mp.record_provider_call(self.name, operation, "circuit_open", 0.0)
                return None, "circuit_open"
            start = time.perf_counter()
            response = None
            try:
                # A total deadline: httpx's timeouts are per read, so a slow drip could run far past it.
                async with asyncio.timeout(self.timeout_s):
                    response = await self.client.post(path, json=body, timeout=self.timeout_s)
                outcome = "success" if response.status_code < 500 else "error"
            except (httpx.TimeoutException, TimeoutError):
                outcome = "timeout"
            except httpx.TransportError:
                outcome = "error"
            if response is not None and 400 <= response.status_code < 500:
                # Our request was wrong: not the provider's health, and a retry would not help.
                self.mp.record_provider_call(self.name, operation, "error", time.perf_counter() - start)
                self.breaker.success()
                return None, "error"
            self.mp.record_provider_call(self.name, operation, outcome, time.perf_counter() - start)
            if outcome == "success":
                self.breaker.success()
                return response.json(), outcome
            self.breaker.failure()
            if attempt + 1 < self.retry.max_attempts:
                self.mp.count_provider_retry(self.name, operation)
                await asyncio.sleep(self.retry.delay(attempt))
        return None, outcome

    @staticmethod
    def _failed(outcome: str) -> ProviderResult:
        return ProviderResult(outcome if outcome in ("timeout", "circuit_open") else "error")

    @abstractmethod
    async def authorize(self, amount_minor: int, currency: str, reference: str, key: str) -> ProviderResult: ...

    @abstractmethod
    async def capture(self, provider_ref: str, amount_minor: int, currency: str, key: str) -> ProviderResult: ...

    @abstractmethod
    async def refund(self, provider_ref: str, amount_minor: int, currency: str, key: str) -> ProviderResult: ...

    @abstractmethod
    async def payout(self, amount_minor: int, currency: str, reference: str, key: str) -> ProviderResult: ...


class AcmeAdapter(Adapter):
    """Acme: APPROVED/DECLINED, CAPTURED, REFUNDED, PAID."""

    name = "acme"

    async def authorize(self, amount_minor, currency, reference, key):
        body, outcome = await self._call("authorize", "/acme/v1/authorizations", {
            "amount_minor": amount_minor, "currency": currency, "reference": reference, "idempotency_key": key})
        if body is None:
            return self._failed(outcome)
        status = body.get("status")
        normalised = {"APPROVED": "approved", "DECLINED": "declined"}.get(status, "error")
        return ProviderResult(normalised, body.get("id"), status)

    async def capture(self, provider_ref, amount_minor, currency, key):
        return await self._simple("capture", f"/acme/v1/authorizations/{provider_ref}/capture",
                                  {"idempotency_key": key}, "CAPTURED", provider_ref)

    async def refund(self, provider_ref, amount_minor, currency, key):
        return await self._simple("refund", f"/acme/v1/authorizations/{provider_ref}/refund",
                                  {"amount_minor": amount_minor, "idempotency_key": key}, "REFUNDED", provider_ref)

    async def payout(self, amount_minor, currency, reference, key):
        body, outcome = await self._call("payout", "/acme/v1/payouts", {
            "amount_minor": amount_minor, "currency": currency, "reference": reference, "idempotency_key": key})
        if body is None:
            return self._failed(outcome)
        status = body.get("status")
        return ProviderResult("succeeded" if status == "PAID" else "error", body.get("id"), status)

    async def _simple(self, operation, path, payload, success_word, provider_ref):
        body, outcome = await self._call(operation, path, payload)
        if body is None:
            return self._failed(outcome)
        status = body.get("status")
        return ProviderResult("succeeded" if status == success_word else "error", provider_ref, status)


class GlobexAdapter(Adapter):
    """Globex: charges with OK/REFUSED, settle → COMPLETE, reverse → REVERSED, transfers."""

    name = "globex"

    async def authorize(self, amount_minor, currency, reference, key):
        body, outcome = await self._call("authorize", "/globex/api/charges", {
            "amount": {"value": amount_minor, "currency": currency}, "merchant_ref": reference, "request_id": key})
        if body is None:
            return self._failed(outcome)
        charge = body.get("charge") or {}
        status = charge.get("result")
        normalised = {"OK": "approved", "REFUSED": "declined"}.get(status, "error")
        return ProviderResult(normalised, charge.get("token"), status)

    async def capture(self, provider_ref, amount_minor, currency, key):
        body, outcome = await self._call("capture", f"/globex/api/charges/{provider_ref}/settle", {"request_id": key})
        if body is None:
            return self._failed(outcome)
        status = (body.get("charge") or {}).get("result")
        return ProviderResult("succeeded" if status == "COMPLETE" else "error", provider_ref, status)

    async def refund(self, provider_ref, amount_minor, currency, key):
        body, outcome = await self._call("refund", f"/globex/api/charges/{provider_ref}/reverse", {
            "amount": {"value": amount_minor, "currency": currency}, "request_id": key})
        if body is None:
            return self._failed(outcome)
        status = body.get("result")
        return ProviderResult("succeeded" if status == "REVERSED" else "error", provider_ref, status)

    async def payout(self, amount_minor, currency, reference, key):
        body, outcome = await self._call("payout", "/globex/api/transfers", {
            "amount": {"value": amount_minor, "currency": currency}, "merchant_ref": reference, "request_id": key})
        if body is None:
            return self._failed(outcome)
        transfer = body.get("transfer") or {}
        status = transfer.get("result")
        return ProviderResult("succeeded" if status == "OK" else "error", transfer.get("token"), status)


ADAPTERS = {cls.name: cls for cls in (AcmeAdapter, GlobexAdapter)}
