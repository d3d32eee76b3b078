"""Faults for incident drills: what each one takes, validation, and which are active.

A fault is keyed by (name, provider) so a drill can break one provider and leave the other
healthy. Whether a rate-based fault fires is drawn from a seeded random.Random, so a drill
(and a test) replays the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable

PROVIDERS = ("acme", "globex")


class FaultError(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None):
        self.status, self.field = status, field
        super().__init__(detail)


def _number(low: float, high: float) -> Callable[[str, object], float]:
    def check(field: str, value: object) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
            raise FaultError(422, f"{field}: must be a number from {low:g} to {high:g}", field)
        return value
    return check


def _integer(field: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 10**12:
        raise FaultError(422, f"{field}: must be an integer (minor units)", field)
    return value


_rate = _number(0, 1)

# name → {parameter: validator}; every parameter is required, `provider` always is.
SPECS: dict[str, dict[str, Callable[[str, object], object]]] = {
    "error_rate": {"rate": _rate},                                        # 503 from the provider's API
    "latency": {"extra_ms": _number(0, 60_000)},                          # added to every call
    "timeout_late_success": {"rate": _rate, "delay_s": _number(0, 120)},  # effect now, answer after delay_s
    "duplicate_webhooks": {"rate": _rate},                                # same body twice, fresh signatures
    "out_of_order_webhooks": {},                                          # held, sent in reverse pairs
    "duplicate_capture": {"rate": _rate},                                 # two settlement lines for one capture
    "settlement_drop": {"rate": _rate},                                   # lines left out of the file
    "settlement_alter": {"rate": _rate, "delta_minor": _integer},         # amount changed in the file
}


class Faults:
    def __init__(self, seed: int):
        self._active: dict[tuple[str, str], dict] = {}
        self._rng = random.Random(f"{seed}:faults")

    def set(self, name: str, params: object) -> dict:
        spec = self._spec(name)
        if not isinstance(params, dict):
            raise FaultError(422, "body: must be a JSON object", "body")
        if params.get("provider") not in PROVIDERS:
            raise FaultError(422, f"provider: must be one of {', '.join(PROVIDERS)}", "provider")
        for key in params:
            if key != "provider" and key not in spec:
                raise FaultError(422, f"{key}: {name} takes no such parameter (it takes {', '.join(spec) or 'none'})",
                                 key)
        checked = {key: check(key, params[key]) if key in params else self._missing(key) for key, check in spec.items()}
        self._active[(name, params["provider"])] = checked
        return {"name": name, "provider": params["provider"], **checked}

    def clear(self, name: str, provider: str | None = None) -> list[dict]:
        """Clear `name` for one provider, or for both; returns what was cleared."""
        self._spec(name)
        cleared = []
        for key in [(name, p) for p in PROVIDERS if provider in (None, p)]:
            if key in self._active:
                cleared.append({"name": name, "provider": key[1], **self._active.pop(key)})
        return cleared

    def get(self, name: str, provider: str) -> dict | None:
        return self._active.get((name, provider))

    def fires(self, name: str, provider: str) -> dict | None:
        """The fault's parameters if it is active and (for rate-based faults) this call is hit."""
        params = self._active.get((name, provider))
        if params is None or ("rate" in params and self._rng.random() >= params["rate"]):
            return None
        return params

    def active(self) -> list[dict]:
        return [{"name": name, "provider": provider, **params} for (name, provider), params in self._active.items()]

    @staticmethod
    def _spec(name: str) -> dict:
        if name not in SPECS:
            raise FaultError(404, f"no fault named {name!r}; known: {', '.join(SPECS)}")
        return SPECS[name]

    @staticmethod
    def _missing(key: str):
        raise FaultError(422, f"{key}: required", key)
