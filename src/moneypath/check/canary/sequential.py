"""Stand-in for the canary's sequential test (a plain fixed-z one-sided two-proportion test), with the contract's
signatures only, so the judge runs until the real group-sequential module replaces this file."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS


@dataclass(frozen=True)
class Look:
    verdict: str
    canary_ratio: float
    baseline_ratio: float
    effect: float
    z: float
    p_value: float
    boundary: float
    information: float
    planned_per_arm: int
    needed_canary: int
    reason: str


def planned_sample(p_baseline: float, min_effect: float, alpha: float, power: float) -> int:
    """The fixed-sample n per arm of a one-sided two-proportion test."""
    p1, p2 = p_baseline, min(p_baseline + min_effect, 1.0)
    za, zb = NormalDist().inv_cdf(1 - alpha), NormalDist().inv_cdf(power)
    var = p1 * (1 - p1) + p2 * (1 - p2)
    return max(1, math.ceil((za + zb) ** 2 * var / (min_effect ** 2)))


class SequentialTest:
    def __init__(self, *, alpha: float, power: float, min_effect: float, min_sample: int):
        self.alpha, self.power, self.min_effect, self.min_sample = alpha, power, min_effect, min_sample
        self.looks = 0

    def look(self, canary_bad: float, canary_total: float, baseline_bad: float, baseline_total: float) -> Look:
        self.looks += 1
        pc = canary_bad / canary_total if canary_total > 0 else 0.0
        pb = baseline_bad / baseline_total if baseline_total > 0 else 0.0
        planned = max(self.min_sample, planned_sample(pb, self.min_effect, self.alpha, self.power))
        pooled = (canary_bad + baseline_bad) / max(canary_total + baseline_total, 1)
        se = math.sqrt(pooled * (1 - pooled) * (1 / max(canary_total, 1) + 1 / max(baseline_total, 1)))
        z = (pc - pb) / se if se > 0 else 0.0
        p = 1 - NormalDist().cdf(z)
        boundary = NormalDist().inv_cdf(1 - self.alpha)
        info = min(canary_total, baseline_total) / planned
        needed = max(0, math.ceil(planned - canary_total))
        if min(canary_total, baseline_total) >= self.min_sample and z > boundary:
            return Look(FAIL, pc, pb, pc - pb, z, p, boundary, info, planned, 0, "z crossed the boundary")
        if info >= 1:
            return Look(PASS, pc, pb, pc - pb, z, p, boundary, info, planned, 0, "planned sample reached")
        return Look(NOT_MEASURED, pc, pb, pc - pb, z, p, boundary, info, planned, needed,
                    f"needs ~{needed} more canary events")

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "power": self.power, "min_effect": self.min_effect,
                "min_sample": self.min_sample, "looks": self.looks}

    @classmethod
    def from_dict(cls, data: dict) -> SequentialTest:
        test = cls(alpha=data["alpha"], power=data["power"], min_effect=data["min_effect"],
                   min_sample=data["min_sample"])
        test.looks = data.get("looks", 0)
        return test
