"""Cost per transaction's statistics (moneypath.canary.cost_ratio): the ratio estimator and its delta-method variance
against a simulation of skewed per-payment costs, the log ratio of the arms, its t widening and interval, and the
interval length the scrape interval allows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from moneypath._common.verdict import FAIL, NOT_MEASURED
from moneypath.canary import cost_ratio as cost_module
from moneypath.canary.cost_ratio import (
    MAX_INTERVALS,
    MIN_INTERVALS,
    MIN_SAMPLES_PER_INTERVAL,
    ArmCost,
    interval_sums,
    log_ratio,
    margins,
    ratio_estimate,
    ratio_interval,
    scrape_interval,
    step_seconds,
    t_widening,
)
from moneypath.canary.judge import Judge
from moneypath.canary.sequential import INCONCLUSIVE, Look
from moneypath.catalog.conventions import Key
from tests.support.canary_prom import FakePrometheus, arm, install


def _arm(rng: np.random.Generator, rate: float, m: int, seconds: float, dearer: float = 0.0):
    """m intervals of Poisson payments, each costing a fee mix: 2.9 % of a lognormal amount plus USD 0.30."""
    counts = rng.poisson(rate * seconds, size=m)
    costs = [float(((0.029 * rng.lognormal(math.log(40), 1.0, size=n) + 0.30) * (1 + dearer)).sum()) for n in counts]
    return costs, counts.tolist()


def test_the_ratio_estimator_and_its_variance_by_hand():
    arm = ratio_estimate([2.0, 4.0, 0.0], [1, 1, 0])
    assert arm.per_transaction == 3.0 and arm.intervals == 3 and arm.with_transactions == 2
    nbar = 2 / 3  # ((2 - 3)^2 + (4 - 3)^2 + 0^2) / (3 * 2 * nbar^2)
    assert arm.variance == pytest.approx(2 / (6 * nbar ** 2))


def test_the_delta_method_variance_matches_the_spread_of_the_estimate_over_simulated_canaries():
    rng = np.random.default_rng(62)
    estimates, variances, logs, log_variances = [], [], [], []
    for _ in range(2000):
        canary, baseline = ratio_estimate(*_arm(rng, 2, 40, 10)), ratio_estimate(*_arm(rng, 18, 40, 10))
        estimates.append(canary.per_transaction)
        variances.append(canary.variance)
        estimate, variance, _ = log_ratio(canary, baseline)
        logs.append(estimate)
        log_variances.append(variance)
    assert np.mean(variances) == pytest.approx(np.var(estimates), rel=0.1)
    # the log ratio's: the canary's part no lower than the baseline's spread at its count errs high, a little
    assert np.var(logs) < np.mean(log_variances) < 1.25 * np.var(logs)
    assert abs(np.mean(logs)) < 0.2 * math.sqrt(np.var(logs))  # the log ratio of equal arms is about 0


def test_ten_intervals_of_skewed_costs_keep_the_false_fail_rate_at_alpha():
    """Equal arms, 10 intervals of 30 s: the widened z crosses the one-sided alpha quantile at most alpha of the time
    (the variance's 9 to 20 degrees of freedom would otherwise show; the sequential test's boundaries are higher)."""
    rng = np.random.default_rng(63)
    alpha, crossed, crossed_widened, runs = 0.01, 0, 0, 3000
    for _ in range(runs):
        estimate, variance, df = log_ratio(ratio_estimate(*_arm(rng, 2, 10, 30)), ratio_estimate(*_arm(rng, 18, 10, 30)))
        crossed += estimate / math.sqrt(variance) > 2.326
        crossed_widened += estimate / math.sqrt(variance * t_widening(df, alpha)) > 2.326
    assert crossed_widened <= crossed and crossed_widened / runs <= alpha


def test_the_log_ratio_of_a_dearer_canary_and_its_interval():
    canary = ArmCost(330.0, 1000, 0.33, 2e-5, 60, 60)
    baseline = ArmCost(2700.0, 9000, 0.30, 1e-6, 60, 60)
    estimate, variance, df = log_ratio(canary, baseline)
    assert estimate == pytest.approx(math.log(1.1))
    assert variance == pytest.approx(2e-5 / 0.33 ** 2 + 1e-6 / 0.09)
    steady = ArmCost(330.0, 1000, 0.33, 5e-6, 60, 60)  # a canary whose own spread reads low: the baseline's, at 1000
    assert log_ratio(steady, baseline)[1] == pytest.approx(1e-6 / 0.09 * 9000 / 1000 + 1e-6 / 0.09)
    assert 59 < df < 2 * 59  # Welch-Satterthwaite: between one arm's and both arms' degrees of freedom
    lo, hi = ratio_interval(estimate, variance, df, 0.95)
    narrow = ratio_interval(estimate, variance, df, 0.5)
    assert lo < narrow[0] < 1.1 < narrow[1] < hi
    assert math.log(hi) - estimate == pytest.approx(estimate - math.log(lo))
    assert t_widening(df, 0.01) > t_widening(1000, 0.01) > 1 == t_widening(math.inf, 0.01)


@pytest.mark.parametrize("canary, baseline", [
    (ArmCost(0.0, 0, None, None, 60, 0), ArmCost(3.0, 10, 0.3, 0.01, 60, 10)),
    (ArmCost(3.0, 10, 0.3, 0.01, 60, 10), ArmCost(0.0, 10, 0.0, 0.0, 60, 10)),
    (ArmCost(3.0, 10, 0.3, None, 1, 1), ArmCost(3.0, 10, 0.3, 0.01, 60, 10)),
])
def test_no_log_ratio_without_a_positive_cost_and_a_variance_in_both_arms(canary, baseline):
    with pytest.raises(ValueError):
        log_ratio(canary, baseline)


def test_no_cost_per_transaction_without_transactions_and_intervals_must_align():
    assert ratio_estimate([1.0, 2.0], [0, 0]).per_transaction is None
    assert ratio_estimate([1.0], [4]).variance is None
    with pytest.raises(ValueError, match="2 cost intervals against 3"):
        ratio_estimate([1.0, 2.0], [1, 2, 3])


def test_each_interval_spans_a_scrape_and_the_window_at_most_max_intervals():
    assert scrape_interval(60, 13) == 5.0 and scrape_interval(60, 1) is None
    assert step_seconds(60, 5.0) == MIN_SAMPLES_PER_INTERVAL * 5 == 5
    assert step_seconds(6000, 5.0) == math.ceil(6000 / MAX_INTERVALS)
    assert step_seconds(10, 0.52) == 0.52 and step_seconds(100, 0.52) == 1.667  # to the millisecond
    assert step_seconds(0.01, 0.0001) == 0.001


def test_interval_sums_are_differences_that_add_up_to_the_total_and_drop_resets():
    grid = [0.0, 10.0, 20.0, 30.0, 40.0]
    costs, counts, resets = interval_sums(grid, dict(zip(grid, [5.0, 6.5, 6.5, 9.0, 9.25])),
                                          dict(zip(grid, [10.0, 15, 15, 22, 23])))
    assert (costs, counts, resets) == ([1.5, 0.0, 2.5, 0.25], [5, 0, 7, 1], 0)
    assert sum(costs) == 9.25 - 5.0  # they telescope: the window's total, nothing extrapolated
    # a process restarted before 20: the authorizations went down; that interval goes, cost and count both
    costs, counts, resets = interval_sums(grid, dict(zip(grid, [5.0, 6.5, 7.0, 9.0, 9.5])),
                                          dict(zip(grid, [10.0, 15, 2, 8, 9])))
    assert (costs, counts, resets) == ([1.5, 2.0, 0.5], [5, 6, 1], 1)
    # an arm whose series appear at 20 starts there; a point missing in one counter drops its two intervals
    costs, counts, resets = interval_sums(grid, {20.0: 1.0, 30.0: 2.0, 40.0: 4.0}, {20.0: 3, 30.0: 4, 40.0: 6})
    assert (costs, counts, resets) == ([1.0, 2.0], [1, 2], 0)
    assert interval_sums(grid, dict(zip(grid, [1.0] * 5)), {0.0: 1, 10.0: 2, 30.0: 3, 40.0: 4})[:2] == ([0.0, 0.0], [1, 1])
    # round-off in a sum of unchanged counters is no reset
    assert interval_sums(grid[:2], {0.0: 0.3, 10.0: 0.3 - 1e-15}, {0.0: 1, 10.0: 1}) == ([0.0], [0], 0)


def test_the_margin_is_the_tolerance_and_the_design_twice_it_on_the_log_scale():
    assert margins(0.1) == (pytest.approx(math.log(1.1)), pytest.approx(math.log(1.2)))


# ------------------------------------------------------------------ the judge's row, against a Prometheus stand-in

CANARY, BASELINE, NOW = 'track="canary"', 'track="baseline"', 1_800_000_000.0


class RecordingMarginTest:
    """Stands in for the lead's MarginTest: records what cost.py hands it, answers as `verdict` says."""

    seen: list[dict] = []
    verdict = INCONCLUSIVE

    def __init__(self, *, alpha, power, min_sample):
        self.settings = {"alpha": alpha, "power": power, "min_sample": min_sample}

    def look(self, **kw):
        RecordingMarginTest.seen.append({**self.settings, **kw})
        return Look(self.verdict, kw["canary_value"], kw["baseline_value"], kw["estimate"], 1.0, 0.2, 3.0, 0.5, 900,
                    0 if self.verdict != INCONCLUSIVE else 400, "recorded")

    def to_dict(self):
        return dict(self.settings)

    @classmethod
    def from_dict(cls, data):
        return cls(**data)


@pytest.fixture
def recorded(monkeypatch):
    RecordingMarginTest.seen, RecordingMarginTest.verdict = [], INCONCLUSIVE
    monkeypatch.setattr(cost_module, "MarginTest", RecordingMarginTest)
    return RecordingMarginTest


def _cost(catalog, monkeypatch, tmp_path, canary, baseline, since=NOW - 600, scrape_s=5.0):
    fake = install(monkeypatch, FakePrometheus(canary + baseline, scrape_s=scrape_s))
    result = Judge(catalog, "http://prom.test", tmp_path / "state.json").judge(
        CANARY, BASELINE, str(since), ["cost_per_transaction"], now=NOW).as_json()
    [row] = result["metrics"]
    return row, result, fake


def test_the_row_tests_the_log_ratio_of_aligned_interval_sums_infrastructure_left_out(foreign, monkeypatch, tmp_path,
                                                                                       recorded):
    row, result, fake = _cost(foreign, monkeypatch, tmp_path, arm(foreign, "canary", cost=0.33),
                              arm(foreign, "baseline", n=9000))
    [seen] = recorded.seen
    assert seen["estimate"] == pytest.approx(math.log(1.1)) and seen["margin"] == pytest.approx(math.log(1.1))
    assert seen["design"] == pytest.approx(math.log(1.2)) and seen["alpha"] == pytest.approx(0.05)
    assert (seen["canary_events"], seen["baseline_events"]) == (pytest.approx(2000), pytest.approx(18000))
    assert seen["canary_value"] == pytest.approx(0.33) and seen["baseline_value"] == pytest.approx(0.30)
    assert row["status"] == INCONCLUSIVE and row["test"].startswith("ratio of the arms' cost per transaction")
    # 600 s scraped every 5 s: intervals of 10 s (the window cut in 60), ending now, from the point at the start
    assert (row["step_s"], row["intervals"], row["scrape_s"]) == (10, 60, pytest.approx(600 / 120))
    assert row["ratio"] == pytest.approx(1.1) and row["interval"][0] < 1.1 < row["interval"][1]
    assert row["interval_at_alpha"][0] > row["interval"][0] and row["canary"]["ratio"] == pytest.approx(0.33)
    ranges = [q for q in fake.queries if q.startswith("sum (")]  # the raw counters, no increase()
    assert ranges == [f'sum ({foreign.metric(Key.COST_USD_TOTAL)}{{component!="infrastructure",{sel}}})'
                      if i % 2 == 0 else f"sum ({foreign.metric(Key.AUTHORIZATIONS_TOTAL)}{{{sel}}})"
                      for sel in (CANARY, BASELINE) for i in range(2)]
    assert {q for q in fake.queries if "count_over_time" in q} == {
        f"max(count_over_time({foreign.metric(Key.AUTHORIZATIONS_TOTAL)}{{{sel}}}[600s]))" for sel in (CANARY, BASELINE)}
    assert {tuple(call) for call in fake.ranges} == {(NOW - 60 * 10, NOW, 10)}  # aligned on both arms
    assert row["resets"] == {"canary": 0, "baseline": 0} and "dropped" not in row["reason"]


def test_an_interval_whose_counters_went_down_is_dropped_and_said(foreign, monkeypatch, tmp_path, recorded):
    canary = arm(foreign, "canary", cost=0.33)
    for s in canary:  # one canary process restarted: its counters start again from 0 before the 31st point
        if s.labels.get("provider") == next(iter(foreign.providers)) and s.name in (
                foreign.metric(Key.COST_USD_TOTAL), foreign.metric(Key.AUTHORIZATIONS_TOTAL)):
            s.reset_at = 30
    row, _, _ = _cost(foreign, monkeypatch, tmp_path, canary, arm(foreign, "baseline", n=9000))
    [seen] = recorded.seen
    assert row["resets"] == {"canary": 1, "baseline": 0} and row["intervals"] == 59
    assert "1 interval(s) of the canary dropped: its counters went down (a process restarted)" in row["reason"]
    assert seen["canary_value"] == pytest.approx(0.33, rel=0.01) and seen["canary_events"] == pytest.approx(2000 * 59 / 60)


def test_the_test_s_verdict_is_the_row_s(foreign, monkeypatch, tmp_path, recorded):
    recorded.verdict = FAIL
    row, result, _ = _cost(foreign, monkeypatch, tmp_path, arm(foreign, "canary", cost=0.5), arm(foreign, "baseline"))
    assert row["status"] == FAIL and result["verdict"] == FAIL and "x1.667" in row["reason"]


@pytest.mark.parametrize("canary, baseline, said", [
    ({"cost": 0.0}, {}, "the canary costs nothing per transaction"),
    ({}, {"cost": 0.0}, "the baseline costs nothing per transaction"),
])
def test_an_arm_that_costs_nothing_is_not_measured_never_a_pass(foreign, monkeypatch, tmp_path, recorded, canary,
                                                               baseline, said):
    row, result, _ = _cost(foreign, monkeypatch, tmp_path, arm(foreign, "canary", **canary),
                           arm(foreign, "baseline", **baseline))
    assert row["status"] == NOT_MEASURED and said in row["reason"] and row["reason"] in result["not_measured"]
    assert result["verdict"] == "inconclusive" and recorded.seen == []


def test_absent_cost_series_are_not_measured_naming_the_query(foreign, monkeypatch, tmp_path, recorded):
    canary = [s for s in arm(foreign, "canary") if s.name != foreign.metric(Key.COST_USD_TOTAL)]
    row, result, _ = _cost(foreign, monkeypatch, tmp_path, canary, arm(foreign, "baseline"))
    assert row["status"] == NOT_MEASURED and row["reason"].endswith(
        f'sum ({foreign.metric(Key.COST_USD_TOTAL)}{{component!="infrastructure",track="canary"}}) returned nothing')


def test_intervals_without_transactions_are_not_measured_once_the_window_is_long_enough(foreign, monkeypatch,
                                                                                        tmp_path, recorded):
    canary = arm(foreign, "canary")
    for s in canary:  # the canary's authorizations come in every other interval only
        if s.name == foreign.metric(Key.AUTHORIZATIONS_TOTAL):
            s.wobble = 1.0
    row, _, _ = _cost(foreign, monkeypatch, tmp_path, canary, arm(foreign, "baseline"), since=NOW - 150,
                      scrape_s=10.0)
    assert row["status"] == NOT_MEASURED
    assert f"the canary had authorizations in 8 of 15 intervals of 10 s: an interval for its cost per transaction " \
           f"needs {MIN_INTERVALS}" in row["reason"]


def test_a_window_too_short_for_the_intervals_is_inconclusive_saying_how_long(foreign, monkeypatch, tmp_path, recorded):
    row, result, _ = _cost(foreign, monkeypatch, tmp_path, arm(foreign, "canary", n=50), arm(foreign, "baseline"),
                           since=NOW - 30)
    assert row["status"] == INCONCLUSIVE and row["reason"].endswith(f"6 intervals of 5 s so far: needs {MIN_INTERVALS}, "
                                                                    f"20 s more")
    assert row["needed_canary"] > 0 and result["verdict"] == "inconclusive" and recorded.seen == []
    row, _, _ = _cost(foreign, monkeypatch, tmp_path, arm(foreign, "canary"), arm(foreign, "baseline"), since=NOW - 8)
    assert row["status"] == INCONCLUSIVE and row["reason"].endswith("1 intervals of 8 s so far: needs 10, 72 s more")
