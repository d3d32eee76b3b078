"""The time factor, in one unit: how many times faster than production a stack's rules run (1: the committed rules;
the local drill stack: 60, moneypath.formats.drill.LOCAL_TIME_FACTOR). Everything carries the factor as this one
number; the clocks are converted only here: `real` (a wall-clock span on the stack → the production time it stands
for) and `wall` (production time → wall-clock seconds on the stack). A drill file's durations are written in the
local stack's seconds: `TimeFactor.between(local, target)` stretches them to a target's wall clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TimeFactor:
    times: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.times) and self.times > 0):
            raise ValueError(f"the time factor must be a positive number, got {self.times!r}")

    def real(self, wall_s: float) -> float:
        """The production seconds `wall_s` seconds on this stack stand for."""
        return wall_s * self.times

    def wall(self, real_s: float) -> float:
        """The wall-clock seconds on this stack that `real_s` production seconds take."""
        return real_s / self.times

    @staticmethod
    def between(written: float, target: float) -> float:
        """How much a span written for a stack `written` times faster than production stretches on one `target`
        times faster: its wall seconds there per wall second where it was written."""
        return TimeFactor(target).wall(TimeFactor(written).real(1.0))
