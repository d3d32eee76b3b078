"""Each load-test user's schedule: one request every 1/pace seconds, at a phase of its own.

Why not Locust's `constant_throughput`: it measures a user's first interval from the moment the
user was created, so a random start phase slept in `on_start` counts as "run time" and the first
wait takes it back. Every user spawned in the same tick then sends at the same instant each
interval, and the bursts queue in the service. A `Pacer` keeps each user on its own grid,
`phase + k / pace`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from time import perf_counter


class Pacer:
    """`first_wait()` once before the first request (a random phase within one interval), then
    `next_wait()` after each request: the time left until the next slot of this user's grid.
    A user that fell behind by more than a slot (the service answered slower than the interval)
    starts a new grid from now rather than sending the missed requests back to back."""

    def __init__(self, pace: float, clock: Callable[[], float] = perf_counter,
                 uniform: Callable[[float, float], float] = random.uniform):
        if pace <= 0:
            raise ValueError("pace must be positive (requests per second per user)")
        self.interval, self.clock, self.uniform = 1.0 / pace, clock, uniform
        self.due: float | None = None

    def first_wait(self) -> float:
        phase = self.uniform(0.0, self.interval)
        self.due = self.clock() + phase
        return phase

    def next_wait(self) -> float:
        now = self.clock()
        if self.due is None:
            self.due = now
        self.due += self.interval
        if self.due < now:  # behind: the missed slots are not made up in a burst
            self.due = now
        return self.due - now
