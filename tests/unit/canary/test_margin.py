"""The margin test (latency shifts, cost ratios): an estimate above its tolerance fails, one within passes on the
planned information, its error rates hold under repeated looks, and its state round-trips."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from moneypath._common.verdict import FAIL, PASS
from moneypath.canary.sequential import FAIL_FLOOR, INCONCLUSIVE, MarginTest

ALPHA, POWER, TOLERANCE = 0.05 / 4, 0.8, 0.05  # as one of four tests; a shift of 50 ms tolerated
SD_PER_EVENT = 0.4  # the estimate's standard deviation times sqrt(canary events)


def judged(true_shift: float, rng: np.random.Generator, per_look: int = 80, looks: int = 100,
           min_sample: int = 50) -> tuple[str, int]:
    """One canary judged look by look on an estimate whose noise shrinks as its events grow: (verdict, events)."""
    test = MarginTest(alpha=ALPHA, power=POWER, min_sample=min_sample)
    noise = 0.0
    for k in range(1, looks + 1):
        events = k * per_look
        noise += rng.normal(0, SD_PER_EVENT * math.sqrt(per_look))  # a sum of independent events' noise
        estimate = true_shift + noise / events
        look = test.look(estimate=estimate, variance=SD_PER_EVENT ** 2 / events, margin=TOLERANCE,
                         design=2 * TOLERANCE, canary_value=0.1 + estimate, baseline_value=0.1,
                         canary_events=events, baseline_events=9 * events)
        if look.verdict != INCONCLUSIVE:
            return look.verdict, events
    return INCONCLUSIVE, looks * per_look


def test_twice_the_tolerance_fails_with_the_power_and_half_of_it_passes():
    rng = np.random.default_rng(69)
    runs = 100
    twice = [judged(2 * TOLERANCE, rng) for _ in range(runs)]
    half = [judged(TOLERANCE / 2, rng) for _ in range(runs)]
    power = sum(v == FAIL for v, _ in twice) / runs
    assert 0.65 <= power <= 0.95  # 0.8 planned; 100 runs give about +-0.08
    assert sum(v == PASS for v, _ in half) / runs >= 0.95
    assert {v for v, _ in twice + half} <= {PASS, FAIL}  # each decided within its plan


def test_a_shift_far_beyond_fails_at_the_first_look_past_the_floor_not_at_min_sample():
    test = MarginTest(alpha=ALPHA, power=POWER, min_sample=500)
    few = dict(margin=TOLERANCE, design=2 * TOLERANCE, canary_value=0.9, baseline_value=0.1)
    under = test.look(estimate=0.8, variance=0.16 / 5, canary_events=FAIL_FLOOR - 5, baseline_events=100, **few)
    assert under.verdict == INCONCLUSIVE and "under the floor" in under.reason and test.to_dict()["steps"] == []
    look = test.look(estimate=0.8, variance=0.16 / 12, canary_events=12, baseline_events=110, **few)
    assert look.verdict == FAIL and look.z >= look.boundary and look.effect == 0.8 and look.canary_ratio == 0.9


def test_a_pass_waits_for_the_plan_and_the_minimum_sample_and_says_what_it_needs():
    test = MarginTest(alpha=ALPHA, power=POWER, min_sample=200)
    first = test.look(estimate=0.0, variance=0.16 / 50, margin=TOLERANCE, design=2 * TOLERANCE, canary_value=0.1,
                      baseline_value=0.1, canary_events=50, baseline_events=450)
    assert first.verdict == INCONCLUSIVE and 0 < first.information < 1
    assert first.needed_canary == first.planned_per_arm - 50 and "more canary events" in first.reason
    # information beyond the plan, but 150 canary events: a pass needs 200
    short = test.look(estimate=0.0, variance=0.16 / 5_000, margin=TOLERANCE, design=2 * TOLERANCE, canary_value=0.1,
                      baseline_value=0.1, canary_events=150, baseline_events=1_350)
    assert short.verdict == INCONCLUSIVE and short.information > 1 and "a pass needs 200" in short.reason
    done = test.look(estimate=0.0, variance=0.16 / 6_000, margin=TOLERANCE, design=2 * TOLERANCE, canary_value=0.1,
                     baseline_value=0.1, canary_events=200, baseline_events=1_800)
    assert done.verdict == PASS and "within the tolerance" in done.reason


def test_the_state_round_trip_keeps_the_verdict_sequence():
    rng = np.random.default_rng(3)
    straight = MarginTest(alpha=ALPHA, power=POWER, min_sample=20)
    restored = MarginTest(alpha=ALPHA, power=POWER, min_sample=20)
    seen = []
    for k in range(1, 40):
        events = 15 * k
        args = dict(estimate=float(0.12 + rng.normal(0, 0.4 / math.sqrt(events))), variance=0.16 / events,
                    margin=TOLERANCE, design=2 * TOLERANCE, canary_value=0.2, baseline_value=0.1,
                    canary_events=events, baseline_events=9 * events)
        restored = MarginTest.from_dict(json.loads(json.dumps(restored.to_dict())))
        seen.append((straight.look(**args).to_dict(), restored.look(**args).to_dict()))
    assert all(a == b for a, b in seen) and any(a["verdict"] != INCONCLUSIVE for a, _ in seen)


@pytest.mark.parametrize("change, message", [
    ({"variance": 0.0}, "variance must be a positive"), ({"variance": math.nan}, "variance must be a positive"),
    ({"estimate": math.inf}, "estimate must be a finite"), ({"design": 0.01}, "must exceed the margin"),
    ({"canary_events": -1}, "canary_events must be"),
])
def test_bad_figures_are_refused_with_a_clear_message(change, message):
    test = MarginTest(alpha=ALPHA, power=POWER, min_sample=20)
    args = dict(estimate=0.0, variance=0.01, margin=TOLERANCE, design=2 * TOLERANCE, canary_value=0.1,
                baseline_value=0.1, canary_events=50, baseline_events=450)
    with pytest.raises(ValueError, match=message):
        test.look(**{**args, **change})
