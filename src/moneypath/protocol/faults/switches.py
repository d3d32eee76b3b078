"""Fault switches for drills and load tests, shared by the fault proxy, the provider simulator and the
reference service (their vocabularies: moneypath.protocol.faults.vocabularies).

A fault has validated parameters and, optionally, a target (the provider or queue it hits),
so a drill can break one provider and leave the other healthy. Whether a rate-based fault
fires is drawn from a seeded random.Random, so a drill (and a test) replays the same way.
Every fault ends by itself: `duration_s` in its body (default DEFAULT_DURATION_S, at most
MAX_DURATION_S), so a fault nobody clears (a crashed drill, a forgotten curl) cannot stay on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

Check = Callable[[str, object], object]


class FaultError(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None):
        self.status, self.field = status, field
        super().__init__(detail)


def number(low: float, high: float) -> Check:
    def check(name: str, value: object) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
            raise FaultError(422, f"{name}: must be a number from {low:g} to {high:g}", name)
        return value
    return check


def integer(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 10**12:
        raise FaultError(422, f"{name}: must be an integer (minor units)", name)
    return value


rate = number(0, 1)
DURATION = "duration_s"  # every fault's own end, in seconds from when it is set
DEFAULT_DURATION_S = 900.0
MAX_DURATION_S = 86_400.0
duration = number(0.1, MAX_DURATION_S)


@dataclass(frozen=True)
class Spec:
    """`params` are required, `optional` have a default. `target` names the parameter that says what
    the fault hits, one of `targets`."""

    params: dict[str, Check] = field(default_factory=dict)
    target: str | None = None
    targets: tuple[str, ...] = ()
    optional: dict[str, tuple[Check, object]] = field(default_factory=dict)

    def takes(self) -> list[str]:
        """Every key its body may carry, for messages."""
        return [k for k in (self.target, *self.params, *self.optional, DURATION) if k]

    def for_targets(self, targets: tuple[str, ...]) -> Spec:
        return replace(self, targets=tuple(targets)) if self.target else self


class Faults:
    def __init__(self, specs: dict[str, Spec], seed: int, clock: Callable[[], float] = time.monotonic):
        self.specs = specs
        self._active: dict[tuple[str, str | None], dict] = {}
        self._ends: dict[tuple[str, str | None], float] = {}
        self._rng = random.Random(f"{seed}:faults")
        self._clock = clock

    def set(self, name: str, params: object) -> dict:
        spec = self._spec(name)
        if not isinstance(params, dict):
            raise FaultError(422, "body: must be a JSON object", "body")
        target = None
        if spec.target:
            target = params.get(spec.target)
            if target not in spec.targets:
                raise FaultError(422, f"{spec.target}: must be one of {', '.join(spec.targets)}", spec.target)
        for key in params:
            if key not in spec.takes():
                raise FaultError(422, f"{key}: {name} takes no such parameter (it takes {', '.join(spec.takes())})", key)
        checked = {key: check(key, params[key]) if key in params else self._missing(key)
                   for key, check in spec.params.items()}
        checked |= {key: check(key, params[key]) if key in params else default
                    for key, (check, default) in spec.optional.items()}
        seconds = duration(DURATION, params[DURATION]) if DURATION in params else DEFAULT_DURATION_S
        self._active[(name, target)] = checked
        self._ends[(name, target)] = self._clock() + seconds
        return self._describe(name, target, checked)

    def clear(self, name: str, target: str | None = None) -> list[dict]:
        """Clear `name` for one target, or for all of them; returns what was cleared."""
        self._spec(name)
        cleared = []
        for key in [k for k in self._active if k[0] == name and target in (None, k[1])]:
            cleared.append(self._describe(name, key[1], self._active.pop(key)))
            self._ends.pop(key, None)
        return cleared

    def get(self, name: str, target: str | None = None) -> dict | None:
        key = (name, target)
        params = self._active.get(key)
        if params is not None and self._clock() >= self._ends[key]:  # its duration is over
            del self._active[key], self._ends[key]
            return None
        return params

    def fires(self, name: str, target: str | None = None) -> dict | None:
        """The fault's parameters if it is active and (for rate-based faults) this call is hit."""
        if not self._active:  # the hot path of a proxy or simulator with no fault set
            return None
        params = self.get(name, target)
        if params is None or ("rate" in params and self._rng.random() >= params["rate"]):
            return None
        return params

    def active(self) -> list[dict]:
        return [self._describe(name, target, params) for (name, target) in list(self._active)
                if (params := self.get(name, target)) is not None]

    def catalog(self) -> dict[str, dict]:
        """What can be set: name → its target and parameter names (for GET listings and errors)."""
        return {name: {"target": spec.target, "targets": list(spec.targets), "params": list(spec.params),
                       "optional": {k: d for k, (_, d) in spec.optional.items()}}
                for name, spec in self.specs.items()}

    def _describe(self, name: str, target: str | None, params: dict) -> dict:
        spec = self.specs[name]
        left = self._ends.get((name, target))
        return {"name": name, **({spec.target: target} if spec.target else {}), **params,
                **({"ends_in_s": round(max(0.0, left - self._clock()), 1)} if left is not None else {})}

    def _spec(self, name: str) -> Spec:
        if name not in self.specs:
            raise FaultError(404, f"no fault named {name!r}; known: {', '.join(self.specs)}")
        return self.specs[name]

    @staticmethod
    def _missing(key: str):
        raise FaultError(422, f"{key}: required", key)
