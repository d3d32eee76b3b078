"""The two simulated providers: request shapes, vocabulary, state and idempotency. No HTTP here.

acme    flat JSON keyed by `idempotency_key`; APPROVED/DECLINED → CAPTURED → REFUNDED; payouts PAID;
        settles as SETTLED. Fast (median ~60 ms), 5 % declines.
globex  nested `amount`, keyed by `request_id`; OK/REFUSED → COMPLETE → REVERSED; transfers OK;
        settles as COMPLETE. Slower (median ~100 ms) with a heavier tail, 10 % declines.

Every operation returns (Reply, event or None); the event is the webhook to send. A replayed
key returns the stored Reply and no event, so a retried request never has a second effect.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

CURRENCIES = ("USD", "EUR", "GBP")
MAX_TEXT = 200


class ProviderError(Exception):
    """A request the provider refuses: rendered as problem+json with `status`."""

    def __init__(self, status: int, title: str, detail: str, type_: str, field: str | None = None):
        self.status, self.title, self.type_, self.field = status, title, type_, field
        super().__init__(detail)


def invalid(field: str, detail: str) -> ProviderError:
    return ProviderError(422, "Invalid request", f"{field}: {detail}", "invalid-request", field)


def _object(value: object, field: str) -> dict:
    if not isinstance(value, dict):
        raise invalid(field, "must be a JSON object")
    return value


def _amount(body: dict, key: str, field: str) -> int:
    value = body.get(key)
    # bool is an int in Python; a JSON true must not become a 1-cent charge.
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise invalid(field, "must be a positive integer (minor units)")
    return value


def _text(body: dict, key: str, field: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise invalid(field, f"must be a non-empty string of at most {MAX_TEXT} characters")
    return value


def _currency(body: dict, key: str, field: str) -> str:
    value = body.get(key)
    if value not in CURRENCIES:
        raise invalid(field, f"must be one of {', '.join(CURRENCIES)}")
    return value


@dataclass
class Charge:
    ref: str
    reference: str
    amount_minor: int
    currency: str
    approved: bool
    captures: int = 0  # capture effects applied; 2 under the duplicate_capture fault
    refunded_minor: int = 0


@dataclass(frozen=True)
class SettlementLine:
    provider_ref: str
    reference: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict


Outcome = tuple[Reply, dict | None]


class Provider:
    name = ""
    median_s = 0.0
    sigma = 0.0  # lognormal shape: the larger, the heavier the tail
    decline_rate = 0.0
    captured = refunded = paid = settled = ""  # status words in this provider's vocabulary
    routes: dict[str, str] = {}  # operation → path template ({ref} is the charge id)

    def __init__(self, seed: int):
        # Separate streams so that, say, a latency draw never shifts which payment is declined.
        self._declines = random.Random(f"{seed}:{self.name}:declines")
        self._latency = random.Random(f"{seed}:{self.name}:latency")
        self.charges: dict[str, Charge] = {}
        self.payouts: dict[str, SettlementLine] = {}
        self.pending: list[SettlementLine] = []  # captured, not yet in a settlement file
        self._replies: dict[tuple[str, str], tuple[tuple, Reply]] = {}

    def latency_s(self) -> float:
        return self._latency.lognormvariate(math.log(self.median_s), self.sigma)

    # The shapes each provider speaks; subclasses implement these.
    def parse_authorize(self, body: dict) -> tuple[int, str, str, str]: raise NotImplementedError
    def parse_capture(self, body: dict) -> str: raise NotImplementedError
    def parse_refund(self, body: dict, charge: Charge) -> tuple[int, str]: raise NotImplementedError
    def parse_payout(self, body: dict) -> tuple[int, str, str, str]: raise NotImplementedError
    def render_authorization(self, charge: Charge) -> Reply: raise NotImplementedError
    def render_capture(self, charge: Charge) -> Reply: raise NotImplementedError
    def render_refund(self, charge: Charge, amount_minor: int) -> Reply: raise NotImplementedError
    def render_payout(self, ref: str) -> Reply: raise NotImplementedError
    def new_id(self, kind: str) -> str: raise NotImplementedError

    # Operations.
    def authorize(self, body: object) -> Outcome:
        amount, currency, reference, key = self.parse_authorize(_object(body, "body"))

        def apply() -> Outcome:
            approved = self._declines.random() >= self.decline_rate
            charge = Charge(self.new_id("charge"), reference, amount, currency, approved)
            self.charges[charge.ref] = charge
            return self.render_authorization(charge), None

        return self._once("authorize", key, (amount, currency, reference), apply)

    def capture(self, body: object, ref: str, copies: int = 1) -> Outcome:
        key = self.parse_capture(_object(body, "body"))

        def apply() -> Outcome:
            charge = self._charge(ref)
            if not charge.approved:
                raise ProviderError(409, "Not capturable", f"{ref} was declined; there is nothing to capture",
                                    "authorization-declined")
            if charge.captures:
                raise ProviderError(409, "Already captured", f"{ref} was already captured", "already-captured")
            charge.captures = copies
            line = SettlementLine(charge.ref, charge.reference, charge.amount_minor, charge.currency)
            self.pending.extend([line] * copies)
            return self.render_capture(charge), self._event("capture.settled", charge.ref, charge.reference,
                                                            charge.amount_minor, charge.currency, self.captured)

        return self._once("capture", key, (ref,), apply)

    def refund(self, body: object, ref: str) -> Outcome:
        body = _object(body, "body")
        charge = self._charge(ref)
        amount, key = self.parse_refund(body, charge)

        def apply() -> Outcome:
            if not charge.captures:
                raise ProviderError(409, "Not refundable", f"{ref} has not been captured", "not-captured")
            if amount > charge.amount_minor - charge.refunded_minor:
                raise ProviderError(409, "Refund exceeds capture",
                                    f"{ref} has {charge.amount_minor - charge.refunded_minor} left to refund",
                                    "refund-exceeds-capture")
            charge.refunded_minor += amount
            return self.render_refund(charge, amount), self._event("refund.completed", charge.ref, charge.reference,
                                                                   amount, charge.currency, self.refunded)

        return self._once("refund", key, (ref, amount), apply)

    def payout(self, body: object) -> Outcome:
        amount, currency, reference, key = self.parse_payout(_object(body, "body"))

        def apply() -> Outcome:
            ref = self.new_id("payout")
            self.payouts[ref] = SettlementLine(ref, reference, amount, currency)
            return self.render_payout(ref), self._event("payout.paid", ref, reference, amount, currency, self.paid)

        return self._once("payout", key, (amount, currency, reference), apply)

    def _once(self, operation: str, key: str, request: tuple, apply: Callable[[], Outcome]) -> Outcome:
        """Apply at most once per key. Runs without awaiting, so concurrent retries cannot both apply."""
        stored = self._replies.get((operation, key))
        if stored is not None:
            if stored[0] != request:
                raise ProviderError(409, "Idempotency key reused", f"this key was used for a different {operation} "
                                    "request", "idempotency-key-reused")
            return stored[1], None
        reply, event = apply()  # a refusal raises and is not stored: the same key may succeed later
        self._replies[(operation, key)] = (request, reply)
        return reply, event

    def _charge(self, ref: str) -> Charge:
        charge = self.charges.get(ref)
        if charge is None:
            raise ProviderError(404, "Not found", f"{self.name} has no charge {ref}", "not-found")
        return charge

    def _event(self, event: str, ref: str, reference: str, amount: int, currency: str, status: str) -> dict:
        return {"provider": self.name, "event": event, "provider_ref": ref, "reference": reference,
                "amount_minor": amount, "currency": currency, "status": status, "occurred_at": time.time()}


class Acme(Provider):
    name, median_s, sigma, decline_rate = "acme", 0.060, 0.25, 0.05
    captured, refunded, paid, settled = "CAPTURED", "REFUNDED", "PAID", "SETTLED"
    routes = {"authorize": "/acme/v1/authorizations", "capture": "/acme/v1/authorizations/{ref}/capture",
              "refund": "/acme/v1/authorizations/{ref}/refund", "payout": "/acme/v1/payouts"}

    def parse_authorize(self, body):
        return (_amount(body, "amount_minor", "amount_minor"), _currency(body, "currency", "currency"),
                _text(body, "reference", "reference"), _text(body, "idempotency_key", "idempotency_key"))

    parse_payout = parse_authorize

    def parse_capture(self, body):
        return _text(body, "idempotency_key", "idempotency_key")

    def parse_refund(self, body, charge):
        return _amount(body, "amount_minor", "amount_minor"), _text(body, "idempotency_key", "idempotency_key")

    def render_authorization(self, charge):
        return Reply(201, {"id": charge.ref, "status": "APPROVED" if charge.approved else "DECLINED",
                           "decline_code": None if charge.approved else "insufficient_funds"})

    def render_capture(self, charge):
        return Reply(200, {"id": charge.ref, "status": self.captured})

    def render_refund(self, charge, amount_minor):
        return Reply(200, {"id": charge.ref, "status": self.refunded, "amount_minor": amount_minor})

    def render_payout(self, ref):
        return Reply(200, {"id": ref, "status": self.paid})

    def new_id(self, kind):
        # Random, not seeded: references must stay unique across simulator restarts.
        return f"acme_{'auth' if kind == 'charge' else 'po'}_{secrets.token_hex(12)}"


class Globex(Provider):
    # p99 ≈ 0.26 s: a healthy globex meets the 300 ms authorization SLO; the tail is still the heavier one.
    name, median_s, sigma, decline_rate = "globex", 0.100, 0.4, 0.10
    captured, refunded, paid, settled = "COMPLETE", "REVERSED", "OK", "COMPLETE"
    routes = {"authorize": "/globex/api/charges", "capture": "/globex/api/charges/{ref}/settle",
              "refund": "/globex/api/charges/{ref}/reverse", "payout": "/globex/api/transfers"}

    def _money(self, body: dict) -> tuple[int, str]:
        amount = _object(body.get("amount"), "amount")
        return _amount(amount, "value", "amount.value"), _currency(amount, "currency", "amount.currency")

    def parse_authorize(self, body):
        value, currency = self._money(body)
        return value, currency, _text(body, "merchant_ref", "merchant_ref"), _text(body, "request_id", "request_id")

    parse_payout = parse_authorize

    def parse_capture(self, body):
        return _text(body, "request_id", "request_id")

    def parse_refund(self, body, charge):
        value, currency = self._money(body)
        if currency != charge.currency:
            raise invalid("amount.currency", f"must match the charge currency {charge.currency}")
        return value, _text(body, "request_id", "request_id")

    def render_authorization(self, charge):
        return Reply(200, {"charge": {"token": charge.ref, "result": "OK" if charge.approved else "REFUSED"}})

    def render_capture(self, charge):
        return Reply(200, {"charge": {"token": charge.ref, "result": self.captured}})

    def render_refund(self, charge, amount_minor):
        return Reply(200, {"token": charge.ref, "result": self.refunded})

    def render_payout(self, ref):
        return Reply(200, {"transfer": {"token": ref, "result": self.paid}})

    def new_id(self, kind):
        return f"gx_{secrets.token_hex(12)}"


def build(seed: int) -> dict[str, Provider]:
    return {p.name: p for p in (Acme(seed), Globex(seed))}
