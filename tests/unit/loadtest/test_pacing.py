"""Each load-test user's schedule: one request every 1/pace seconds, at a phase of its own
(moneypath.loadtest.in_locust.pacing)."""

from __future__ import annotations

import pytest

from moneypath.loadtest.in_locust import pacing


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _send_times(phases: list[float], requests: int, took_s: float, pace: float = 1.0) -> list[list[float]]:
    """When each user sends, users created at the same instant, each request taking `took_s`."""
    clock, times = FakeClock(), []
    for phase in phases:
        clock.now = 100.0
        pacer = pacing.Pacer(pace, clock, uniform=lambda lo, hi, p=phase: lo + p * (hi - lo))
        sent = []
        clock.now += pacer.first_wait()
        for _ in range(requests):
            sent.append(round(clock.now, 6))
            clock.now += took_s
            clock.now += pacer.next_wait()
        times.append(sent)
    return times


def test_users_spawned_together_keep_their_own_phase():
    # Locust's constant_throughput took the start phase back at the first wait: 60 users spawned
    # in one tick then sent within the same 0.1 s of every second and queued in the service.
    phases = [i / 10 for i in range(10)]
    times = _send_times(phases, requests=5, took_s=0.06)
    for phase, sent in zip(phases, times):
        assert [round(t - 100.0, 6) for t in sent] == [round(phase + k, 6) for k in range(5)]
    slots_of_the_fifth_request = {round(sent[4] % 1, 3) for sent in times}
    assert len(slots_of_the_fifth_request) == 10  # still spread over the second


def test_a_user_behind_its_pace_starts_a_new_grid_instead_of_a_burst():
    (sent,) = _send_times([0.5], requests=4, took_s=2.5)  # every request slower than the 1 s interval
    gaps = [round(b - a, 6) for a, b in zip(sent, sent[1:])]
    assert gaps == [2.5, 2.5, 2.5]  # back to back as fast as answers come, never two at once


def test_a_pace_must_be_positive():
    with pytest.raises(ValueError, match="pace must be positive"):
        pacing.Pacer(0)
