"""Cost per transaction in the canary judge, with an interval: each arm's cost and authorizations summed per
interval since the canary started (Prometheus range queries of increase(), the intervals aligned on both arms),
each arm's cost per transaction as a ratio estimator R = sum(c_i) / sum(n_i), its variance by the delta method over
the m intervals, var(R) = sum((c_i - R n_i)^2) / (m (m - 1) nbar^2), and the log ratio of the arms' R tested by the
lead's group-sequential margin test (moneypath.canary.sequential.MarginTest): fail when the canary is dearer by
more than `min_effect` (relative), pass once the planned information shows it is not, at the policy's alpha and
power against twice the tolerance.

Counters hold sums, not each payment's cost: the intervals are the units the variance is read from, so an interval
must hold at least two scrapes (its increase is read from them), and the variance estimate's few degrees of
freedom (m - 1) are paid for by widening it to Student's t at the test's alpha (`t_widening`). Where there is no
sound basis (intervals without transactions, a baseline that costs nothing, no cost series) the row is not
measured and says why; while the window is too short for MIN_INTERVALS intervals, it is inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from scipy.stats import t as student_t

MIN_INTERVALS = 10  # intervals with transactions each arm needs before its variance is read
MAX_INTERVALS = 60  # the window is cut in at most this many (more: a longer range query, little more precision)
MIN_SAMPLES_PER_INTERVAL = 2  # scrapes an interval holds at least: its increase() is read from them
CONFIDENCE = 0.95  # the interval shown beside the one at the test's alpha

_NORMAL = NormalDist()


@dataclass(frozen=True)
class ArmCost:
    """One arm's cost per transaction over m intervals: the sums, R, its delta-method variance (None with fewer
    than two intervals or no transactions) and how many intervals had transactions."""

    cost: float
    transactions: float
    per_transaction: float | None
    variance: float | None
    intervals: int
    with_transactions: int


def ratio_estimate(costs: Sequence[float], counts: Sequence[float]) -> ArmCost:
    """R = sum(c) / sum(n) over aligned intervals, var(R) = sum((c_i - R n_i)^2) / (m (m - 1) nbar^2)."""
    if len(costs) != len(counts):
        raise ValueError(f"{len(costs)} cost intervals against {len(counts)} transaction intervals")
    m = len(costs)
    cost, transactions = float(sum(costs)), float(sum(counts))
    with_transactions = sum(1 for n in counts if n > 0)
    if transactions <= 0:
        return ArmCost(cost, transactions, None, None, m, with_transactions)
    r = cost / transactions
    if m < 2:
        return ArmCost(cost, transactions, r, None, m, with_transactions)
    nbar = transactions / m
    variance = sum((c - r * n) ** 2 for c, n in zip(costs, counts, strict=True)) / (m * (m - 1) * nbar ** 2)
    return ArmCost(cost, transactions, r, variance, m, with_transactions)


def log_ratio(canary: ArmCost, baseline: ArmCost) -> tuple[float, float, float]:
    """(estimate, variance, degrees of freedom) of ln(R_canary / R_baseline): the delta method over both arms,
    var = var_c / R_c^2 + var_b / R_b^2, its degrees of freedom by Welch-Satterthwaite. Both arms need R > 0 and a
    variance (ValueError otherwise)."""
    for name, arm in (("canary", canary), ("baseline", baseline)):
        if arm.per_transaction is None or arm.per_transaction <= 0 or arm.variance is None:
            raise ValueError(f"the {name} has no positive cost per transaction with a variance")
    vc = canary.variance / canary.per_transaction ** 2
    vb = baseline.variance / baseline.per_transaction ** 2
    variance = vc + vb
    parts = [v ** 2 / (arm.intervals - 1) for v, arm in ((vc, canary), (vb, baseline)) if v > 0]
    df = variance ** 2 / sum(parts) if parts else math.inf
    return math.log(canary.per_transaction / baseline.per_transaction), variance, df


def t_widening(df: float, alpha: float) -> float:
    """The factor on a variance with `df` degrees of freedom that makes the normal test at one-sided `alpha` reject
    where Student's t would: (t_{df, 1-alpha} / z_{1-alpha})^2, 1 for infinite df."""
    if not math.isfinite(df):
        return 1.0
    return (float(student_t.ppf(1 - alpha, max(df, 1.0))) / _NORMAL.inv_cdf(1 - alpha)) ** 2


def ratio_interval(estimate: float, variance: float, df: float, confidence: float) -> tuple[float, float]:
    """The two-sided `confidence` interval of R_canary / R_baseline from its log's estimate, variance and degrees
    of freedom (Student's t)."""
    level = 0.5 + confidence / 2
    quantile = _NORMAL.inv_cdf(level) if not math.isfinite(df) else float(student_t.ppf(level, max(df, 1.0)))
    half = quantile * math.sqrt(variance)
    return math.exp(estimate - half), math.exp(estimate + half)


def scrape_interval(window_s: float, samples: float) -> float | None:
    """The scrape interval seen in the data: `samples` scrapes of one series within `window_s` are at most
    window / (samples - 1) apart; None with fewer than two."""
    if samples < 2:
        return None
    return window_s / (samples - 1)


def step_seconds(window_s: float, scrape_s: float) -> int:
    """The interval S: at least MIN_SAMPLES_PER_INTERVAL scrapes each, and the window cut in at most MAX_INTERVALS."""
    return max(math.ceil(MIN_SAMPLES_PER_INTERVAL * scrape_s), math.ceil(window_s / MAX_INTERVALS), 1)


def margins(min_effect: float) -> tuple[float, float]:
    """(margin, design) on the log scale: the tolerated relative increase, and twice it (what must fail)."""
    return math.log1p(min_effect), math.log1p(2 * min_effect)
