"""Cost per transaction in the canary judge, with an interval, from per-interval sums of cost and authorizations.

Each arm's cost and authorization counters are read raw (`sum(<counter>{sel})`, a range query at step S from the
last step at or before the canary's start to now, both arms on the same timestamps); the differences of consecutive
points are the interval sums: exact at scrape granularity (no increase() extrapolation to the interval's edges),
cost and authorizations from the same scrapes, and telescoping to the window's total. A negative difference is a
counter reset (a process restarted): that interval is dropped for that arm, its cost and authorizations both, and
counted in the row. Each arm's cost per transaction is a ratio estimator R = sum(c_i) / sum(n_i), its variance by
the delta method over the m intervals, var(R) = sum((c_i - R n_i)^2) / (m (m - 1) nbar^2); the log ratio of the
arms' R is tested by the group-sequential margin test (moneypath.canary.sequential.MarginTest): fail when the
canary is dearer by more than `min_effect` (relative), pass once the planned information shows it is not, at the
policy's alpha and power against twice the tolerance.

Counters hold sums, not each payment's cost: the intervals are the units the variance is read from. An interval is
at least one scrape interval long (each point then mostly a new scrape; a point seeing no new scrape gives an empty
interval, harmless to the ratio estimator) and the window is cut in at most MAX_INTERVALS. The variance estimate's
few degrees of freedom are paid for by widening it to Student's t at the test's alpha (`t_widening`), and the
canary's part is no lower than the baseline's spread per payment gives at its count (`log_ratio`). Where there is
no sound basis (intervals without transactions, an arm that costs nothing, no cost series) the row is not measured
and says why; while the window is too short for MIN_INTERVALS intervals, it is inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

from scipy.stats import t as student_t

from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath._common.verdict import NOT_MEASURED, not_measured
from moneypath.canary.queries import selector_of
from moneypath.canary.results import Arm, MetricRow, Plan
from moneypath.canary.sequential import Look, MarginTest
from moneypath.catalog import Catalog
from moneypath.catalog.canary_policy import JudgedMetric
from moneypath.catalog.conventions import COST_INFRASTRUCTURE, Key

MIN_INTERVALS = 10  # intervals with transactions each arm needs before its variance is read
MAX_INTERVALS = 60  # the window is cut in at most this many (more: a longer range query, little more precision)
MIN_SAMPLES_PER_INTERVAL = 1  # scrape intervals an interval spans at least: each point mostly a new scrape
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
    var = var_c / R_c^2 + var_b / R_b^2, its degrees of freedom by Welch-Satterthwaite. The canary's part is at least
    the baseline's spread per payment at the canary's payments (var_b / R_b^2 * n_b / n_c): with skewed costs a
    short canary's own estimate is often low (its few dear payments not drawn yet), which would end the test before
    the information it claims; the baseline, with more payments, reads the spread steadily, and a canary whose costs
    spread more keeps its own. Both arms need R > 0 and a variance (ValueError otherwise)."""
    for name, arm in (("canary", canary), ("baseline", baseline)):
        if arm.per_transaction is None or arm.per_transaction <= 0 or arm.variance is None:
            raise ValueError(f"the {name} has no positive cost per transaction with a variance")
    vb = baseline.variance / baseline.per_transaction ** 2
    vc = max(canary.variance / canary.per_transaction ** 2, vb * baseline.transactions / canary.transactions)
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


def step_seconds(window_s: float, scrape_s: float) -> float:
    """The interval S, to the millisecond: at least MIN_SAMPLES_PER_INTERVAL scrape intervals each, and the window
    cut in at most MAX_INTERVALS."""
    return max(math.ceil(MIN_SAMPLES_PER_INTERVAL * scrape_s * 1000 - 1e-6), math.ceil(window_s * 1000 / MAX_INTERVALS),
               1) / 1000


def margins(min_effect: float) -> tuple[float, float]:
    """(margin, design) on the log scale: the tolerated relative increase, and twice it (what must fail)."""
    return math.log1p(min_effect), math.log1p(2 * min_effect)


# ---------------------------------------------------------------------------------------------- the judge's row

UNIT = "authorizations"
TEST = ("ratio of the arms' cost per transaction (ratio estimator over per-interval sums, delta-method variance "
        "widened to Student's t), one-sided margin test on its log, group-sequential")


def _queries(catalog: Catalog, arm: tuple[str, ...], window_s: int, step_s: float | None) -> dict[str, str]:
    """One arm's queries: the authorization series' scrapes in the window, then (once the step is known) the raw
    cost counters (infrastructure left out: paid per process hour, it would make a small canary look dearer) and
    authorization counters, summed, read at each step: their differences are the interval sums."""
    cost, auth = catalog.metric(Key.COST_USD_TOTAL), catalog.metric(Key.AUTHORIZATIONS_TOTAL)
    out = {"scrapes": f"max(count_over_time({selector_of(auth, *arm)}[{window_s}s]))"}
    if step_s is not None:
        priced = f'component!="{COST_INFRASTRUCTURE}"'
        out["cost"] = f"sum ({selector_of(cost, priced, *arm)})"
        out["transactions"] = f"sum ({selector_of(auth, *arm)})"
    return out


def interval_sums(grid: Sequence[float], costs: dict[float, float], counts: dict[float, float],
                  ) -> tuple[list[float], list[float], int]:
    """One arm's interval sums from its raw counters read at the `grid`'s timestamps: the differences of consecutive
    points where both counters have a value at both ends (an arm whose series start later starts at its first
    point), and how many intervals were dropped because a counter went down (a reset: neither part is kept, so the
    pairs stay from the same interval). Differences that round-off makes slightly negative are 0."""
    out_costs, out_counts, resets = [], [], 0
    for before, after in zip(grid, grid[1:]):
        if not all(t in series for t in (before, after) for series in (costs, counts)):
            continue
        parts = [series[after] - series[before] for series in (costs, counts)]
        if any(d < -1e-9 * max(1.0, abs(series[before])) for d, series in zip(parts, (costs, counts), strict=True)):
            resets += 1
            continue
        out_costs.append(max(parts[0], 0.0))
        out_counts.append(max(parts[1], 0.0))
    return out_costs, out_counts, resets


class _NotMeasured(Exception):
    """Why this look has no sound basis: one line."""


def _series(prom: Prometheus, query: str, start: float, end: float, step: float) -> dict[float, float]:
    try:
        found = prom.range(query, start, end, step)
    except PrometheusError as exc:
        raise _NotMeasured(f"{query}: {exc}") from None
    if not found:
        raise _NotMeasured(f"{query} returned nothing")
    return {round(float(t), 3): float(v) for t, v in found[0]["values"] if math.isfinite(float(v))}


def judge_cost(prom: Prometheus, catalog: Catalog, metric: JudgedMetric, arms: dict[str, tuple[str, ...]],
               now: float, window_s: int, alpha: float, power: float, tests: dict,
               state_path: object = None) -> MetricRow:
    """Cost per transaction's row at this look; `tests` keeps its MarginTest's state between looks (in the judge's
    `state_path`)."""
    queries = {arm: _queries(catalog, matchers, window_s, None) for arm, matchers in arms.items()}

    def plan() -> Plan:
        return Plan(id=metric.key, provider=None, test=TEST, unit=UNIT, description=metric.spec.description,
                    queries=queries, min_effect=metric.min_effect, min_sample=metric.min_sample, alpha=alpha)

    try:
        scrapes = [_scrape(prom, queries[arm]["scrapes"], window_s, now) for arm in arms]
        scrape = None if None in scrapes else max(scrapes)
        if scrape is None:
            return MetricRow(metric=metric.key, plan=plan(), outcome=NOT_MEASURED, waiting=True, reason=(
                "an arm's authorizations were scraped fewer than twice since the canary started: no interval yet"))
        step = step_seconds(window_s, scrape)
        queries = {arm: _queries(catalog, matchers, window_s, step) for arm, matchers in arms.items()}
        possible = math.floor(window_s / step + 1e-9)
        if possible < 1:
            return MetricRow(metric=metric.key, plan=plan(), outcome=NOT_MEASURED, waiting=True, reason=(
                f"needs {MIN_INTERVALS} intervals of {step:g} s: {math.ceil(MIN_INTERVALS * step - window_s)} s more"))
        points = math.ceil(window_s / step - 1e-9)  # the first point at or before the start: its value is the base
        start = now - points * step
        values = {(arm, part): _series(prom, queries[arm][part], start, now, step)
                  for arm in arms for part in ("cost", "transactions")}
    except _NotMeasured as exc:
        return MetricRow(metric=metric.key, plan=plan(), outcome=NOT_MEASURED, reason=not_measured(f"{metric.key}: {exc}"))
    grid = [round(start + k * step, 3) for k in range(points + 1)]
    sums = {arm: interval_sums(grid, values[arm, "cost"], values[arm, "transactions"]) for arm in arms}
    est = {arm: ratio_estimate(sums[arm][0], sums[arm][1]) for arm in arms}
    resets = {arm: sums[arm][2] for arm in arms}
    canary, baseline = est["canary"], est["baseline"]
    row = {"metric": metric.key, "plan": plan(), "canary": Arm.of(canary.cost, canary.transactions),
           "baseline": Arm.of(baseline.cost, baseline.transactions),
           "rate_per_s": canary.transactions / (canary.intervals * step) if canary.intervals else 0.0}
    figures = {"canary_ratio": canary.per_transaction, "baseline_ratio": baseline.per_transaction,
               "intervals": min(canary.intervals, baseline.intervals), "step_s": step, "scrape_s": scrape,
               "min_intervals": MIN_INTERVALS, "resets": resets}
    dropped = "".join(f"; {n} interval(s) of the {name} dropped: its counters went down (a process restarted)"
                      for name, n in resets.items() if n)
    if possible < MIN_INTERVALS:
        wait = math.ceil(MIN_INTERVALS * step - window_s)
        figures["needed_canary"] = max(1, math.ceil(row["rate_per_s"] * wait))
        return MetricRow(**row, figures=figures, outcome=NOT_MEASURED, waiting=True, reason=(
            f"{possible} intervals of {step:g} s so far: needs {MIN_INTERVALS}, {wait} s more{dropped}"))
    why = unsound(canary, baseline, step)
    if why:
        return MetricRow(**row, figures=figures, outcome=NOT_MEASURED,
                         reason=not_measured(f"{metric.key}: {why}{dropped}"))
    try:
        test = MarginTest.from_dict(tests[metric.key]) if metric.key in tests else \
            MarginTest(alpha=alpha, power=power, min_sample=metric.min_sample)
    except ValueError as exc:  # never restart a test that may have spent alpha or decided: say so
        return MetricRow(**row, figures=figures, outcome=NOT_MEASURED, reason=not_measured(
            f"{metric.key}: its saved state does not read ({exc}); judge it afresh with a later --since or remove "
            f"{state_path}"))
    try:
        seen, more = look(test, canary, baseline, metric.min_effect, alpha)
    except ValueError as exc:
        return MetricRow(**row, figures=figures, outcome=NOT_MEASURED,
                         reason=not_measured(f"{metric.key}: the test refused the figures: {exc}"))
    tests[metric.key] = test.to_dict()
    figures.update({k: v for k, v in asdict(seen).items() if k not in ("verdict", "reason")}, **more)
    low, high = more["interval"]
    said = (f"canary {canary.per_transaction:.4g} against baseline {baseline.per_transaction:.4g} USD per "
            f"authorization: x{more['ratio']:.3f} ({CONFIDENCE:.0%} {low:.3f}-{high:.3f}; tolerated "
            f"x{more['tolerance']:.2f}); ")
    return MetricRow.of(seen.verdict, **row, figures=figures, reason=said + seen.reason + dropped)


def look(test: MarginTest, canary: ArmCost, baseline: ArmCost, min_effect: float, alpha: float) -> tuple[Look, dict]:
    """One look of the margin test on both arms' estimates (sound: `unsound` said nothing), and the figures beside
    it: the ratio, its CONFIDENCE interval and the one whose ends are at the test's alpha, the tolerance."""
    estimate, variance, df = log_ratio(canary, baseline)
    margin, design = margins(min_effect)
    seen = test.look(estimate=estimate, variance=max(variance * t_widening(df, alpha), VARIANCE_FLOOR),
                     margin=margin, design=design, canary_value=canary.per_transaction,
                     baseline_value=baseline.per_transaction, canary_events=canary.transactions,
                     baseline_events=baseline.transactions)
    return seen, {"ratio": math.exp(estimate), "interval": list(ratio_interval(estimate, variance, df, CONFIDENCE)),
                  "interval_at_alpha": list(ratio_interval(estimate, variance, df, 1 - 2 * alpha)),
                  "confidence": CONFIDENCE, "tolerance": 1 + min_effect, "degrees_of_freedom": df}


VARIANCE_FLOOR = 1e-12  # a cost that never varies per transaction is known exactly, not divided by zero


def _scrape(prom: Prometheus, query: str, window_s: int, now: float) -> float | None:
    try:
        found = prom.instant(query, at=now)
    except PrometheusError as exc:
        raise _NotMeasured(f"{query}: {exc}") from None
    if not found:
        raise _NotMeasured(f"{query} returned nothing: no authorization series")
    return scrape_interval(window_s, float(found[0]["value"][1]))


def unsound(canary: ArmCost, baseline: ArmCost, step: float) -> str | None:
    """Why these intervals give no sound ratio: too few with transactions, or an arm that costs nothing."""
    for name, arm in (("canary", canary), ("baseline", baseline)):
        if arm.with_transactions < MIN_INTERVALS:
            return (f"the {name} had authorizations in {arm.with_transactions} of {arm.intervals} intervals of "
                    f"{step:g} s: an interval for its cost per transaction needs {MIN_INTERVALS}")
    if not baseline.per_transaction:
        return "the baseline costs nothing per transaction: no ratio to judge the canary's against"
    if not canary.per_transaction:
        return ("the canary costs nothing per transaction: its cost stopped being counted, which is not a cheaper "
                "release")
    return None
