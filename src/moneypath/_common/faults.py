"""Fault switches for drills, shared by the provider simulator and the reference service.

A fault has validated parameters and, optionally, a target (the provider or queue it hits),
so a drill can break one provider and leave the other healthy. Whether a rate-based fault
fires is drawn from a seeded random.Random, so a drill (and a test) replays the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Spec:
    """Every parameter is required. `target` names the parameter that says what the fault hits."""

    params: dict[str, Check] = field(default_factory=dict)
    target: str | None = None
    targets: tuple[str, ...] = ()


class Faults:
    def __init__(self, specs: dict[str, Spec], seed: int):
        self.specs = specs
        self._active: dict[tuple[str, str | None], dict] = {}
        self._rng = random.Random(f"{seed}:faults")

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
            if key != spec.target and key not in spec.params:
                raise FaultError(422, f"{key}: {name} takes no such parameter (it takes "
                                 f"{', '.join(filter(None, [spec.target, *spec.params])) or 'none'})", key)
        checked = {key: check(key, params[key]) if key in params else self._missing(key)
                   for key, check in spec.params.items()}
        self._active[(name, target)] = checked
        return self._describe(name, target, checked)

    def clear(self, name: str, target: str | None = None) -> list[dict]:
        """Clear `name` for one target, or for all of them; returns what was cleared."""
        self._spec(name)
        cleared = []
        for key in [k for k in self._active if k[0] == name and target in (None, k[1])]:
            cleared.append(self._describe(name, key[1], self._active.pop(key)))
        return cleared

    def get(self, name: str, target: str | None = None) -> dict | None:
        return self._active.get((name, target))

    def fires(self, name: str, target: str | None = None) -> dict | None:
        """The fault's parameters if it is active and (for rate-based faults) this call is hit."""
        params = self._active.get((name, target))
        if params is None or ("rate" in params and self._rng.random() >= params["rate"]):
            return None
        return params

    def active(self) -> list[dict]:
        return [self._describe(name, target, params) for (name, target), params in self._active.items()]

    def catalog(self) -> dict[str, dict]:
        """What can be set: name → its target and parameter names (for GET listings and errors)."""
        return {name: {"target": spec.target, "targets": list(spec.targets), "params": list(spec.params)}
                for name, spec in self.specs.items()}

    def _describe(self, name: str, target: str | None, params: dict) -> dict:
        spec = self.specs[name]
        return {"name": name, **({spec.target: target} if spec.target else {}), **params}

    def _spec(self, name: str) -> Spec:
        if name not in self.specs:
            raise FaultError(404, f"no fault named {name!r}; known: {', '.join(self.specs)}")
        return self.specs[name]

    @staticmethod
    def _missing(key: str):
        raise FaultError(422, f"{key}: required", key)
