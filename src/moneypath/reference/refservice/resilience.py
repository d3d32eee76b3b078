"""Retry with capped exponential backoff and full jitter, a retry budget and a circuit breaker per provider."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

_jitter = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_s: float = 0.05
    cap_s: float = 1.0

    def delay(self, attempt: int, rng: random.Random = _jitter) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)] so a
        fleet of retrying clients spreads out instead of stampeding a recovering provider."""
        return rng.uniform(0, min(self.cap_s, self.base_s * (2 ** attempt)))


class RetryBudget:
    """Retries at most `ratio` of calls, so retries cannot multiply an overload (Finagle's retry budget):
    each first attempt deposits `ratio` of a token, each retry spends one, the bucket holds `max_tokens`
    (a burst of failures on a quiet provider may still be retried). With the default 20 %, a provider
    failing one call in three still sees most payments through on a retry, while a provider that times
    out on every call gets 1.2 attempts per call instead of 3."""

    def __init__(self, ratio: float = 0.2, max_tokens: float = 10.0):
        self.ratio, self.max_tokens = ratio, max_tokens
        self.tokens = max_tokens

    def deposit(self) -> None:
        """A first attempt went out."""
        self.tokens = min(self.max_tokens, self.tokens + self.ratio)

    def withdraw(self) -> bool:
        """May a retry go out now? Spends a token when it may."""
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class CircuitBreaker:
    """closed → open after `failure_threshold` consecutive failures; open → half_open after
    `cooldown_s`; half_open lets one trial call through: success closes, failure reopens.

    `on_change(state)` is called on every transition (the service records the state gauge).
    """

    CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"

    def __init__(self, failure_threshold: int = 5, cooldown_s: float = 10.0, on_change=None, clock=time.monotonic):
        self.failure_threshold, self.cooldown_s = failure_threshold, cooldown_s
        self._on_change, self._clock = on_change, clock
        self.state = self.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    def _set(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self._on_change is not None:
                self._on_change(state)

    def allow(self) -> bool:
        """May a call go out now?"""
        if self.state == self.OPEN:
            if self._clock() - self._opened_at < self.cooldown_s:
                return False
            self._set(self.HALF_OPEN)
        if self.state == self.HALF_OPEN:
            if self._trial_in_flight:
                return False
            self._trial_in_flight = True
        return True

    def success(self) -> None:
        self._failures = 0
        self._trial_in_flight = False
        self._set(self.CLOSED)

    def failure(self) -> None:
        self._trial_in_flight = False
        self._failures += 1
        if self.state == self.HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._set(self.OPEN)
