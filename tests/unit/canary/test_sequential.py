"""The canary gate's group-sequential test: published boundaries, its error rate and power, its three verdicts,
its state across processes, and bad input refused."""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from moneypath._common.verdict import FAIL, PASS
from moneypath.canary.sequential import (
    FAIL_FLOOR,
    INCONCLUSIVE,
    Look,
    SequentialTest,
    exact_test,
    planned_sample,
)

Z_95, Z_80 = 1.6448536269514722, 0.8416212335729143  # the standard normal's 0.95 and 0.80 quantiles


def counts_over(looks: int, per_look: int, canary_share: float, baseline_share: float, split: int = 9):
    """Cumulative (canary bad, canary total, baseline bad, baseline total) with the shares exact at every look."""
    for k in range(1, looks + 1):
        ct, bt = k * per_look, k * per_look * split
        yield round(ct * canary_share), ct, round(bt * baseline_share), bt


def test_planned_sample_is_the_fixed_two_proportion_test():
    p1, p2 = 0.01, 0.02
    pooled = (p1 + p2) / 2
    by_hand = ((Z_95 * math.sqrt(2 * pooled * (1 - pooled)) + Z_80 * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2)))
               / (p2 - p1)) ** 2
    assert planned_sample(0.01, 0.01, 0.05, 0.8) == math.ceil(by_hand) == 1826
    # a baseline nine times the canary: the canary needs about half as much
    r, pooled = 9, (p2 + 9 * p1) / 10
    by_hand = ((Z_95 * math.sqrt(pooled * (1 - pooled) * (1 + 1 / r)) + Z_80 * math.sqrt(p2 * (1 - p2) + p1 * (1 - p1) / r))
               / (p2 - p1)) ** 2
    assert planned_sample(0.01, 0.01, 0.05, 0.8, ratio=9) == math.ceil(by_hand) == 912
    assert planned_sample(0.2, 0.01, 0.05, 0.8) > planned_sample(0.05, 0.01, 0.05, 0.8) > 1826
    assert planned_sample(0.999, 0.02, 0.05, 0.8) == planned_sample(0.98, 0.02, 0.05, 0.8)


def fisher_by_hand(canary_bad: int, canary_total: int, baseline_bad: int, baseline_total: int) -> float:
    total, bad = canary_total + baseline_total, canary_bad + baseline_bad
    return sum(math.comb(bad, x) * math.comb(total - bad, canary_total - x)
               for x in range(canary_bad, min(bad, canary_total) + 1)) / math.comb(total, canary_total)


@pytest.mark.parametrize("counts", [(3, 20, 5, 180), (0, 50, 4, 450), (7, 40, 2, 360), (120, 2_000, 900, 18_000),
                                    (90, 2_000, 900, 18_000), (2, 3, 0, 37), (10, 10, 90, 90)])
def test_the_exact_test_is_fishers(counts):
    z, p = exact_test(*counts)
    assert p == pytest.approx(fisher_by_hand(*counts), rel=1e-9)
    if p > 1 - 1e-12:
        assert z < -7
    else:
        assert z == pytest.approx(-NormalDist().inv_cdf(p), abs=1e-9)


def test_the_exact_test_agrees_with_the_pooled_z_for_many_events_and_not_for_rare_ones():
    cb, ct, bb, bt = 1_080, 20_000, 9_000, 180_000
    pooled = (cb + bb) / (ct + bt)
    z_pooled = (cb / ct - bb / bt) / math.sqrt(pooled * (1 - pooled) * (1 / ct + 1 / bt))
    assert exact_test(cb, ct, bb, bt)[0] == pytest.approx(z_pooled, abs=0.05)
    # 3 bad canary events against 1 in a baseline nine times as large: the normal approximation says z 4.3,
    # far beyond a final boundary; the exact tail (p 0.0036) says z 2.7
    z, p = exact_test(3, 1_000, 1, 9_000)
    assert z < 2.8 and p > 0.003


def test_a_clearly_worse_canary_fails_well_before_the_plan():
    test = SequentialTest(alpha=0.05 / 7, power=0.8, min_effect=0.02, min_sample=100)
    looks = [test.look(*c) for c in counts_over(40, 100, canary_share=0.10, baseline_share=0.02)]
    failed = next(k for k, look in enumerate(looks) if look.verdict == FAIL)
    fail = looks[failed]
    assert all(look.verdict == INCONCLUSIVE for look in looks[:failed])
    assert fail.information < 0.5 and fail.z >= fail.boundary and fail.effect == pytest.approx(0.08)
    assert fail.p_value < 1e-4 and "crossed the boundary" in fail.reason and fail.needed_canary == 0
    after = looks[failed + 1]  # the test is over: later looks repeat the verdict
    assert after.verdict == FAIL and after.reason.startswith("decided at an earlier look")


def test_an_equal_canary_passes_only_once_the_planned_sample_is_reached():
    test = SequentialTest(alpha=0.05, power=0.8, min_effect=0.01, min_sample=200)
    looks = []
    for counts in counts_over(200, 50, canary_share=0.02, baseline_share=0.02):
        looks.append((counts[1], test.look(*counts)))
        if looks[-1][1].verdict != INCONCLUSIVE:
            break
    canary_events, passed = looks[-1]
    assert passed.verdict == PASS and passed.information >= 1 and canary_events >= passed.planned_per_arm
    assert passed.needed_canary == 0 and "planned sample reached" in passed.reason
    for events, look in looks[:-1]:
        assert look.verdict == INCONCLUSIVE and look.information < 1 and look.needed_canary > 0
        assert look.needed_canary == pytest.approx(look.planned_per_arm - events, abs=1)
        assert "more canary events" in look.reason
    assert len(looks) > 10  # it looked many times on the way


def test_the_minimum_sample_gates_a_pass_and_the_floor_a_fail():
    test = SequentialTest(alpha=0.05, power=0.8, min_effect=0.02, min_sample=500)
    under_floor = test.look(FAIL_FLOOR - 1, FAIL_FLOOR - 1, 1, 10_000)  # every canary event bad: not yet a look
    assert under_floor.verdict == INCONCLUSIVE and f"under the floor of {FAIL_FLOOR}" in under_floor.reason
    assert math.isnan(under_floor.boundary) and test.to_dict()["steps"] == []  # no alpha spent on it
    assert "under the floor" in test.look(0, 5_000, 0, FAIL_FLOOR - 1).reason
    broken = test.look(9, FAIL_FLOOR, 100, 10_000)  # nine in ten bad against 1 %: fails at once, under min_sample
    assert broken.verdict == FAIL and broken.information < 0.05 and "crossed the boundary" in broken.reason


def test_an_equal_canary_never_passes_before_the_minimum_sample():
    test = SequentialTest(alpha=0.05, power=0.8, min_effect=0.2, min_sample=2_000)  # a plan far below 2,000
    looks = [test.look(*c) for c in counts_over(15, 100, canary_share=0.05, baseline_share=0.05)]
    assert all(look.verdict == INCONCLUSIVE for look in looks) and looks[-1].information > 1
    assert "a pass needs 2000 events in each arm" in looks[-1].reason and looks[-1].needed_canary == 500
    assert [test.look(*c) for c in counts_over(20, 100, 0.05, 0.05)][-1].verdict == PASS


def test_zero_totals_and_zero_bad_events_are_handled():
    test = SequentialTest(alpha=0.05, power=0.8, min_effect=0.02, min_sample=100)
    empty = test.look(0, 0, 0, 0)
    assert empty.verdict == INCONCLUSIVE and "no canary events yet" in empty.reason and empty.needed_canary > 0
    assert math.isnan(empty.canary_ratio) and json.dumps(empty.to_dict())  # NaN written as null
    assert "no baseline events yet" in test.look(0, 100, 0, 0).reason
    clean = test.look(0, 300, 0, 2_700)  # no bad event anywhere: no evidence; the plan for a 0 % baseline is small
    assert clean.p_value == 1 and clean.z < -7 and clean.verdict == PASS and json.dumps(clean.to_dict())
    full = SequentialTest(alpha=0.05, power=0.8, min_effect=0.02, min_sample=100).look(300, 300, 2_700, 2_700)
    assert full.p_value == 1 and full.verdict == PASS  # both all bad: nothing worse to detect


def test_a_call_with_too_little_new_information_is_not_a_look():
    test = SequentialTest(alpha=0.05, power=0.8, min_effect=0.01, min_sample=100)
    first = test.look(20, 1_000, 180, 9_000)
    assert first.verdict == INCONCLUSIVE and math.isfinite(first.boundary)
    again = test.look(20, 1_000, 180, 9_000)
    assert "not a look" in again.reason and len(test.to_dict()["steps"]) == 1


def test_the_state_round_trip_keeps_the_verdict_sequence():
    rng = np.random.default_rng(7)
    straight = SequentialTest(alpha=0.01, power=0.8, min_effect=0.01, min_sample=300)
    restored = SequentialTest(alpha=0.01, power=0.8, min_effect=0.01, min_sample=300)
    cb = ct = bb = bt = 0
    straight_looks, restored_looks = [], []
    for _ in range(30):
        ct, bt = ct + 200, bt + 1800
        cb, bb = cb + rng.binomial(200, 0.04), bb + rng.binomial(1800, 0.03)
        straight_looks.append(straight.look(cb, ct, bb, bt))
        restored = SequentialTest.from_dict(json.loads(json.dumps(restored.to_dict())))
        restored_looks.append(restored.look(cb, ct, bb, bt))
    assert [look.to_dict() for look in restored_looks] == [look.to_dict() for look in straight_looks]
    assert {look.verdict for look in straight_looks} > {INCONCLUSIVE}  # it decided along the way
    assert Look.from_dict(json.loads(json.dumps(straight_looks[3].to_dict()))).verdict == straight_looks[3].verdict


def test_a_tampered_or_foreign_state_is_refused():
    test = SequentialTest(alpha=0.05, power=0.8, min_effect=0.01, min_sample=100)
    for counts in counts_over(5, 300, 0.02, 0.02):
        test.look(*counts)
    state = test.to_dict()
    state["steps"][1][2] -= 0.3  # a lower boundary than the spending function allows
    with pytest.raises(ValueError, match="does not replay"):
        SequentialTest.from_dict(state)
    with pytest.raises(ValueError, match="not a sequential test's state"):
        SequentialTest.from_dict({"version": 2, "kind": "two proportions", "alpha": 0.05})
    with pytest.raises(ValueError, match="a 'margin' test's state"):
        SequentialTest.from_dict({**test.to_dict(), "kind": "margin"})
    with pytest.raises(ValueError, match="state version"):
        SequentialTest.from_dict({**test.to_dict(), "version": 99})


@pytest.mark.parametrize("counts, message", [
    ((math.nan, 100, 1, 100), "canary_bad must be a finite number"),
    ((1, -5, 1, 100), "canary_total must be a finite number"),
    ((1, 100, 1, math.inf), "baseline_total must be a finite number"),
    ((1, 100, "3", 100), "baseline_bad must be a finite number"),
    ((150, 100, 1, 100), "the canary's bad events .150. exceed its total .100."),
])
def test_bad_counts_are_refused_with_a_clear_message(counts, message):
    test = SequentialTest(alpha=0.05, power=0.8, min_effect=0.01, min_sample=10)
    with pytest.raises(ValueError, match=message):
        test.look(*counts)
    assert test.to_dict()["steps"] == []


def test_a_slight_overshoot_of_bad_over_total_reads_as_all_bad():
    test = SequentialTest(alpha=0.05, power=0.8, min_effect=0.01, min_sample=10)
    assert test.look(100.4, 100, 1, 900).canary_ratio == 1.0


@pytest.mark.parametrize("design, message", [
    ({"alpha": 0}, "alpha must be"), ({"alpha": 0.9}, "alpha must be"), ({"power": 0.01}, "must exceed alpha"),
    ({"min_effect": 1.5}, "min_effect must be"), ({"min_sample": 0}, "min_sample must be"),
    ({"min_sample": 10.5}, "min_sample must be"), ({"alpha": math.nan}, "alpha must be"),
])
def test_a_bad_design_is_refused(design, message):
    with pytest.raises(ValueError, match=message):
        SequentialTest(**{"alpha": 0.05, "power": 0.8, "min_effect": 0.01, "min_sample": 100, **design})
    with pytest.raises(ValueError, match="baseline share"):
        planned_sample(1.2, 0.01, 0.05, 0.8)


def test_a_long_drill_like_sequence_replays_after_every_look():
    # Uneven looks, counts read from counters (a little over or under the events), the state written and read
    # back after each look as the judge does: every look must spend what the spending function says. This
    # sequence once found a boundary on part of the grid only and failed to replay by its 72nd look.
    import random

    rng = random.Random(2)
    test = SequentialTest(alpha=0.05 / 9, power=0.8, min_effect=0.02, min_sample=50)
    ct = bt = cb = bb = 0.0
    for _ in range(80):
        dc, db = 8 * rng.uniform(0.5, 1.5), 8 * rng.uniform(0.8, 1.2)
        ct, bt = ct + dc, bt + db
        cb += sum(rng.random() < 0.05 for _ in range(int(dc))) * rng.uniform(0.9, 1.1)
        bb += sum(rng.random() < 0.05 for _ in range(int(db))) * rng.uniform(0.9, 1.1)
        test.look(cb * 1.1, ct * 1.1, bb * 1.05, bt * 1.05)
        test = SequentialTest.from_dict(test.to_dict())  # raises when a look does not replay
    assert len(test.to_dict()["steps"]) >= 30
