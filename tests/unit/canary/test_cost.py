"""Cost per transaction's statistics (moneypath.canary.cost): the ratio estimator and its delta-method variance
against a simulation of skewed per-payment costs, the log ratio of the arms, its t widening and interval, and the
interval length the scrape interval allows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from moneypath.canary.cost import (
    MAX_INTERVALS,
    MIN_SAMPLES_PER_INTERVAL,
    ArmCost,
    log_ratio,
    margins,
    ratio_estimate,
    ratio_interval,
    scrape_interval,
    step_seconds,
    t_widening,
)


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
    assert np.mean(log_variances) == pytest.approx(np.var(logs), rel=0.1)
    assert abs(np.mean(logs)) < 0.2 * math.sqrt(np.var(logs))  # the log ratio of equal arms is about 0


def test_the_t_widening_keeps_the_false_fail_rate_of_few_intervals_at_alpha():
    rng = np.random.default_rng(63)
    alpha, crossed, crossed_widened = 0.01, 0, 0
    runs = 3000
    for _ in range(runs):
        estimate, variance, df = log_ratio(ratio_estimate(*_arm(rng, 2, 10, 30)), ratio_estimate(*_arm(rng, 18, 10, 30)))
        crossed += estimate / math.sqrt(variance) > 2.326
        crossed_widened += estimate / math.sqrt(variance * t_widening(df, alpha)) > 2.326
    assert crossed_widened / runs <= alpha * 1.2 < crossed / runs  # 0.6-0.9 % against 1.4-1.5 % unwidened


def test_the_log_ratio_of_a_dearer_canary_and_its_interval():
    canary = ArmCost(330.0, 1000, 0.33, 1e-5, 60, 60)
    baseline = ArmCost(2700.0, 9000, 0.30, 1e-6, 60, 60)
    estimate, variance, df = log_ratio(canary, baseline)
    assert estimate == pytest.approx(math.log(1.1))
    assert variance == pytest.approx(1e-5 / 0.33 ** 2 + 1e-6 / 0.09)
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


def test_each_interval_holds_two_scrapes_and_the_window_at_most_max_intervals():
    assert scrape_interval(60, 13) == 5.0 and scrape_interval(60, 1) is None
    assert step_seconds(60, 5.0) == MIN_SAMPLES_PER_INTERVAL * 5
    assert step_seconds(6000, 5.0) == math.ceil(6000 / MAX_INTERVALS)
    assert step_seconds(10, 0.4) == 1


def test_the_margin_is_the_tolerance_and_the_design_twice_it_on_the_log_scale():
    assert margins(0.1) == (pytest.approx(math.log(1.1)), pytest.approx(math.log(1.2)))
