"""Admission control: above saturation, refuse fast (503 + Retry-After) instead of queueing until
clients time out, and keep the money already in motion (captures, refunds, webhooks) ahead of new
authorizations.

Measured before it existed (issue 27): offered 3x saturation, the service refused nothing; 11,040
requests timed out, the admitted p99 was 1.26 s and ~4,000 payments were booked for clients that had
already given up. Requests in flight are what an overloaded event loop is made of, so the limit is on
them, and it is learned from latency rather than guessed (Netflix concurrency-limits' Gradient2):

    every window (100 ms of completions): short = mean latency of the window,
                                          long  = slow moving average of `short` (the no-queue latency)
    gradient = clamp(tolerance * long / short, 0.5, 1)      # < 1 once latency grows beyond tolerance
    limit    = (1 - smoothing) * limit + smoothing * (limit * gradient + sqrt(limit))

The sqrt(limit) term lets the limit probe upwards while latency stays flat; queueing shows up as a
short latency above tolerance x long and shrinks it. A window in which fewer than half the limit were
ever in flight leaves the limit alone (the load, not the service, set its latency: a stall at light load
must not shrink the limit until normal traffic is refused), but feeds the long average: at light load
the latency is the no-queue latency. (Learned only under load, a spike from a quiet baseline took its
first, already queued windows for "no queue", and the limit grew instead of shedding: the overload-spike
drill's clients all timed out.) A long average that drifted up under sustained
overload is pulled back when short falls well below it. Critical requests may go `reserve` above the
limit, so a full house of authorizations never starves a capture. Health, metrics and admin routes are
never limited. A refusal is decided before the body is read: it costs microseconds, not a booking.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from moneypath._common.problem import problem

CRITICAL, NORMAL, EXEMPT = "critical", "normal", "exempt"


@dataclass
class Gradient:
    """The adaptive limit on requests in flight (see the module docstring)."""

    limit: float = 50.0  # the checkout mix ramps 275 users at once: a low start refused its first seconds
    min_limit: float = 16.0
    max_limit: float = 400.0
    tolerance: float = 2.0  # latency may grow to this multiple of the no-queue latency before the limit shrinks
    smoothing: float = 0.2
    window_s: float = 0.1
    long_samples: int = 100  # windows the long average spans (~10 s at full load)

    def __post_init__(self):
        self.long_rtt = 0.0
        self._sum, self._n, self._window_end, self._busiest = 0.0, 0, 0.0, 0

    def observe(self, latency_s: float, now: float, in_flight: int | None = None) -> None:
        """One admitted request finished after `latency_s`, with `in_flight` others (None: the limit was full)."""
        self._sum += latency_s
        self._n += 1
        self._busiest = max(self._busiest, self.limit if in_flight is None else in_flight)
        if now < self._window_end:
            return
        short, busiest = self._sum / self._n, self._busiest
        self._sum, self._n, self._window_end, self._busiest = 0.0, 0, now + self.window_s, 0
        if self.long_rtt == 0.0:
            self.long_rtt = short
        else:
            self.long_rtt += (short - self.long_rtt) / self.long_samples
            if self.long_rtt / short > 2.0:  # latency fell well below the average: it had drifted up
                self.long_rtt *= 0.95
        if busiest < self.limit / 2:  # app-limited: this latency says nothing about the limit, but it is the
            return                    # no-queue latency the limit is judged against when a spike arrives
        gradient = max(0.5, min(1.0, self.tolerance * self.long_rtt / short))
        target = self.limit * gradient + math.sqrt(self.limit)
        self.limit = max(self.min_limit, min(self.max_limit,
                                             (1 - self.smoothing) * self.limit + self.smoothing * target))


class AdmissionControl:
    """Pure ASGI: admit while requests in flight < limit (+ reserve for critical ones), else 503 at once."""

    def __init__(self, app: ASGIApp, classify: Callable[[str, str], str], gradient: Gradient | None = None,
                 reserve: float = 0.25, retry_after_s: int = 1, on_refuse: Callable[[str], None] | None = None):
        self.app, self.classify = app, classify
        self.gradient = gradient or Gradient()
        self.reserve, self.retry_after = reserve, str(retry_after_s)
        self.on_refuse = on_refuse
        self.in_flight = 0
        self.refused = {CRITICAL: 0, NORMAL: 0}

    def admits(self, kind: str) -> bool:
        limit = self.gradient.limit
        return self.in_flight < (limit * (1 + self.reserve) + 1 if kind == CRITICAL else limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = self.classify(scope["method"], scope["path"])
        if kind == EXEMPT:
            await self.app(scope, receive, send)
            return
        if not self.admits(kind):
            self.refused[kind] += 1
            if self.on_refuse is not None:
                self.on_refuse(kind)
            await self._refusal()(scope, receive, send)
            return
        self.in_flight += 1
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            now = time.perf_counter()
            self.gradient.observe(now - started, now, self.in_flight + 1)

    def _refusal(self):
        return problem(503, "overloaded", "Service overloaded",
                       f"the service is at its limit of {self.gradient.limit:.0f} requests in flight; "
                       f"retry after {self.retry_after} s with the same Idempotency-Key",
                       headers={"Retry-After": self.retry_after})
