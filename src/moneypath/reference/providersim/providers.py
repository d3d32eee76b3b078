"""The simulated providers, one per catalog provider, each speaking one of two API styles. No HTTP here.

flat    flat JSON keyed by `idempotency_key`; APPROVED/DECLINED → CAPTURED → REFUNDED; payouts PAID;
        settles as SETTLED. POST /{provider}/v1/authorizations[/{id}/capture|/{id}/refund], /{provider}/v1/payouts.
        Fast (median ~60 ms), 5 % declines.
nested  nested `amount`, keyed by `request_id`; OK/REFUSED → COMPLETE → REVERSED; transfers OK;
        settles as COMPLETE. POST /{provider}/api/charges[/{token}/settle|/{token}/reverse], /{provider}/api/transfers.
        Slower (median ~80 ms) with a heavier tail, 10 % declines.

Which provider speaks which style (`styles_for`): the style asked for by name (`--style komoju=nested`);
else acme flat and globex nested, as the reference service's adapters expect; else by the provider's
position in the catalog: the first flat, the second nested, the third flat, and so on.

Amounts are integer minor units of one of the catalog's currencies (each with its own exponent: JPY 0,
KWD 3). Every operation returns (Reply, event or None); the event is the webhook to send. A replayed
key returns the stored Reply and no event, so a retried request never has a second effect.
"""

from __future__ import annotations

import difflib
import math
import random
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from moneypath.catalog.currencies import format_money

# The shipped catalog's (moneypath.yaml): what an in-process SimConfig serves unless told otherwise.
REFERENCE_PROVIDERS = ("acme", "globex")
REFERENCE_CURRENCIES = {"USD": 2, "EUR": 2, "GBP": 2}  # code → exponent (digits of the minor unit)
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


class SimulatedProvider:
    """One simulated provider: `name` from the catalog, the API shape and profile from its style (a subclass)."""

    style = ""
    median_s = 0.0
    sigma = 0.0  # lognormal shape: the larger, the heavier the tail
    decline_rate = 0.0
    captured = refunded = paid = settled = ""  # status words in this style's vocabulary
    paths: dict[str, str] = {}  # operation → path template ({provider} is the name, {ref} the charge id)

    def __init__(self, name: str, seed: int, currencies: Mapping[str, int] = REFERENCE_CURRENCIES):
        assert name and currencies, "a provider needs a name and at least one currency"
        self.name = name
        self.currencies = dict(currencies)  # code → exponent
        self.routes = {op: path.replace("{provider}", name) for op, path in self.paths.items()}
        # Separate streams so that, say, a latency draw never shifts which payment is declined.
        self._declines = random.Random(f"{seed}:{self.name}:declines")
        self._latency = random.Random(f"{seed}:{self.name}:latency")
        self.charges: dict[str, Charge] = {}
        self.payouts: dict[str, SettlementLine] = {}
        self.pending: list[SettlementLine] = []  # captured, not yet in a settlement file
        self._replies: dict[tuple[str, str], tuple[tuple, Reply]] = {}

    def latency_s(self) -> float:
        return self._latency.lognormvariate(math.log(self.median_s), self.sigma)

    # Fields every style validates the same way.
    def currency(self, body: dict, key: str, field: str) -> str:
        value = body.get(key)
        if value not in self.currencies:
            raise invalid(field, f"must be one of {', '.join(self.currencies)}")
        return value

    def amount(self, body: dict, key: str, field: str, currency: str) -> int:
        value = body.get(key)
        # bool is an int in Python; a JSON true must not become a 1-cent charge.
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            one = 10 ** self.currencies.get(currency, 2)
            raise invalid(field, f"must be a positive integer in minor units of {currency} "
                                 f"({format_money(one, currency, self.currencies.get(currency, 2))} is {one})")
        return value

    @staticmethod
    def text(body: dict, key: str, field: str) -> str:
        value = body.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
            raise invalid(field, f"must be a non-empty string of at most {MAX_TEXT} characters")
        return value

    # The shapes each style speaks; subclasses implement these.
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
    def authorize(self, body: object, decline: bool = False) -> Outcome:
        """`decline`: the decline_spike fault declines this one whatever the usual draw says."""
        amount, currency, reference, key = self.parse_authorize(_object(body, "body"))

        def apply() -> Outcome:
            approved = self._declines.random() >= self.decline_rate and not decline
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


class Flat(SimulatedProvider):
    style, median_s, sigma, decline_rate = "flat", 0.060, 0.25, 0.05
    captured, refunded, paid, settled = "CAPTURED", "REFUNDED", "PAID", "SETTLED"
    paths = {"authorize": "/{provider}/v1/authorizations", "capture": "/{provider}/v1/authorizations/{ref}/capture",
             "refund": "/{provider}/v1/authorizations/{ref}/refund", "payout": "/{provider}/v1/payouts"}

    def parse_authorize(self, body):
        currency = self.currency(body, "currency", "currency")
        return (self.amount(body, "amount_minor", "amount_minor", currency), currency,
                self.text(body, "reference", "reference"), self.text(body, "idempotency_key", "idempotency_key"))

    parse_payout = parse_authorize

    def parse_capture(self, body):
        return self.text(body, "idempotency_key", "idempotency_key")

    def parse_refund(self, body, charge):
        return (self.amount(body, "amount_minor", "amount_minor", charge.currency),
                self.text(body, "idempotency_key", "idempotency_key"))

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
        return f"{self.name}_{'auth' if kind == 'charge' else 'po'}_{secrets.token_hex(12)}"


class Nested(SimulatedProvider):
    # p99 ≈ 0.18 s, well under the 300 ms authorization objective: a healthy simulator leaves the service
    # 120 ms of headroom, so a latency breach under load means the service is slow, not the simulator's tail.
    style, median_s, sigma, decline_rate = "nested", 0.080, 0.35, 0.10
    captured, refunded, paid, settled = "COMPLETE", "REVERSED", "OK", "COMPLETE"
    paths = {"authorize": "/{provider}/api/charges", "capture": "/{provider}/api/charges/{ref}/settle",
             "refund": "/{provider}/api/charges/{ref}/reverse", "payout": "/{provider}/api/transfers"}

    def _money(self, body: dict) -> tuple[int, str]:
        amount = _object(body.get("amount"), "amount")
        currency = self.currency(amount, "currency", "amount.currency")
        return self.amount(amount, "value", "amount.value", currency), currency

    def parse_authorize(self, body):
        value, currency = self._money(body)
        return value, currency, self.text(body, "merchant_ref", "merchant_ref"), self.text(body, "request_id",
                                                                                          "request_id")

    parse_payout = parse_authorize

    def parse_capture(self, body):
        return self.text(body, "request_id", "request_id")

    def parse_refund(self, body, charge):
        value, currency = self._money(body)
        if currency != charge.currency:
            raise invalid("amount.currency", f"must match the charge currency {charge.currency}")
        return value, self.text(body, "request_id", "request_id")

    def render_authorization(self, charge):
        return Reply(200, {"charge": {"token": charge.ref, "result": "OK" if charge.approved else "REFUSED"}})

    def render_capture(self, charge):
        return Reply(200, {"charge": {"token": charge.ref, "result": self.captured}})

    def render_refund(self, charge, amount_minor):
        return Reply(200, {"token": charge.ref, "result": self.refunded})

    def render_payout(self, ref):
        return Reply(200, {"transfer": {"token": ref, "result": self.paid}})

    def new_id(self, kind):
        return f"{self.name}_{secrets.token_hex(12)}"


STYLES: dict[str, type[SimulatedProvider]] = {"flat": Flat, "nested": Nested}


class Acme(Flat):
    """The reference catalog's acme: the flat style, as the reference service's acme adapter speaks it."""

    def __init__(self, seed: int, currencies: Mapping[str, int] = REFERENCE_CURRENCIES):
        super().__init__("acme", seed, currencies)


class Globex(Nested):
    """The reference catalog's globex: the nested style, with its historical `gx_` tokens."""

    def __init__(self, seed: int, currencies: Mapping[str, int] = REFERENCE_CURRENCIES):
        super().__init__("globex", seed, currencies)

    def new_id(self, kind):
        return f"gx_{secrets.token_hex(12)}"


REFERENCE: dict[str, type[Acme] | type[Globex]] = {"acme": Acme, "globex": Globex}


class StyleError(ValueError):
    """An unknown provider or style in an explicit style choice; the message is one line."""


def _hint(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def styles_for(providers: Iterable[str], chosen: Mapping[str, str] | None = None) -> dict[str, str]:
    """provider → style, in catalog order: `chosen` first, then acme flat and globex nested, then by
    position (the first provider flat, the second nested, alternately). StyleError names a bad choice."""
    providers = list(providers)
    for name, style in (chosen or {}).items():
        if name not in providers:
            raise StyleError(f"{name} is not a provider of the catalog (known: {', '.join(providers)})"
                             f"{_hint(name, providers)}")
        if style not in STYLES:
            raise StyleError(f"{style} is not a style (known: {', '.join(STYLES)}){_hint(style, STYLES)}")
    fixed = {name: cls.style for name, cls in REFERENCE.items()}
    return {name: (chosen or {}).get(name) or fixed.get(name) or ("flat", "nested")[i % 2]
            for i, name in enumerate(providers)}


def build(seed: int, styles: Mapping[str, str] | None = None,
          currencies: Mapping[str, int] = REFERENCE_CURRENCIES) -> dict[str, SimulatedProvider]:
    """One simulated provider per entry of `styles` (provider → style; default: the reference catalog's)."""
    styles = styles_for(REFERENCE_PROVIDERS) if styles is None else styles
    built: dict[str, SimulatedProvider] = {}
    for name, style in styles.items():
        reference = REFERENCE.get(name)
        if reference is not None and reference.style == style:
            built[name] = reference(seed, currencies)
        else:
            built[name] = STYLES[style](name, seed, currencies)
    return built
