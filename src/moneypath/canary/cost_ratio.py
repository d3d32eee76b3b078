"""Cost per transaction in the canary judge, with an interval, from per-interval sums of cost and authorizations.

Each arm's cost and authorizations are summed per interval since the canary started (Prometheus range queries of
increase(), the intervals aligned on both arms); each arm's cost per transaction is a ratio estimator
R = sum(c_i) / sum(n_i), its variance by the delta method over the m intervals,
var(R) = sum((c_i - R n_i)^2) / (m (m - 1) nbar^2); the log ratio of the arms' R is tested by the group-sequential
margin test (moneypath.canary.sequential.MarginTest): fail when the canary is dearer by more than `min_effect`
(relative), pass once the planned information shows it is not, at the policy's alpha and power against twice the
tolerance.

Counters hold sums, not each payment's cost: the intervals are the units the variance is read from, so an interval
must hold at least two scrapes (its increase is read from them); the variance estimate's few degrees of freedom are
paid for by widening it to Student's t at the test's alpha (`t_widening`), and the canary's part is no lower than
the baseline's spread per payment gives at its count (`log_ratio`). Where there is no sound basis (intervals
without transactions, an arm that costs nothing, no cost series) the row is not measured and says why; while the
window is too short for MIN_INTERVALS intervals, it is inconclusive.
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
from moneypath.canary.sequential import INCONCLUSIVE, Look, MarginTest
from moneypath.catalog import Catalog
from moneypath.catalog.canary_policy import JudgedMetric
from moneypath.catalog.conventions import COST_INFRASTRUCTURE, Key

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
    """The interval S, to the millisecond: at least MIN_SAMPLES_PER_INTERVAL scrapes each, and the window cut in at
    most MAX_INTERVALS."""
    return max(math.ceil(MIN_SAMPLES_PER_INTERVAL * scrape_s * 1000 - 1e-6), math.ceil(window_s * 1000 / MAX_INTERVALS),
               1) / 1000


def duration(seconds: float) -> str:
    """A PromQL duration of whole seconds, else milliseconds: 10s, 1043ms."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def margins(min_effect: float) -> tuple[float, float]:
    """(margin, design) on the log scale: the tolerated relative increase, and twice it (what must fail)."""
    return math.log1p(min_effect), math.log1p(2 * min_effect)


# ---------------------------------------------------------------------------------------------- the judge's row

UNIT = "authorizations"
TEST = ("ratio of the arms' cost per transaction (ratio estimator over per-interval sums, delta-method variance "
        "widened to Student's t), one-sided margin test on its log, group-sequential")


def _queries(catalog: Catalog, arm: tuple[str, ...], window_s: int, step_s: float | None) -> dict[str, str]:
    """One arm's queries: the authorization series' scrapes in the window, then (once the step is known) the cost
    (infrastructure left out: paid per process hour, it would make a small canary look dearer) and the
    authorizations per interval."""
    cost, auth = catalog.metric(Key.COST_USD_TOTAL), catalog.metric(Key.AUTHORIZATIONS_TOTAL)
    out = {"scrapes": f"max(count_over_time({selector_of(auth, *arm)}[{window_s}s]))"}
    if step_s is not None:
        every, priced = duration(step_s), f'component!="{COST_INFRASTRUCTURE}"'
        out["cost"] = f"sum (increase({selector_of(cost, priced, *arm)}[{every}]))"
        out["transactions"] = f"sum (increase({selector_of(auth, *arm)}[{every}]))"
    return out


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
            return MetricRow(metric=metric.key, plan=plan(), status=INCONCLUSIVE, reason=(
                "an arm's authorizations were scraped fewer than twice since the canary started: no interval yet"))
        step = step_seconds(window_s, scrape)
        queries = {arm: _queries(catalog, matchers, window_s, step) for arm, matchers in arms.items()}
        possible = math.floor(window_s / step + 1e-9)
        if possible < 1:
            return MetricRow(metric=metric.key, plan=plan(), status=INCONCLUSIVE, reason=(
                f"needs {MIN_INTERVALS} intervals of {step:g} s ({MIN_SAMPLES_PER_INTERVAL} scrapes each): "
                f"{math.ceil(MIN_INTERVALS * step - window_s)} s more"))
        start = now - (possible - 1) * step  # intervals ending now, aligned on both arms
        values = {(arm, part): _series(prom, queries[arm][part], start, now, step)
                  for arm in arms for part in ("cost", "transactions")}
    except _NotMeasured as exc:
        return MetricRow(metric=metric.key, plan=plan(), status=NOT_MEASURED, reason=not_measured(f"{metric.key}: {exc}"))
    common = sorted(set.intersection(*(set(v) for v in values.values())))
    est = {arm: ratio_estimate([values[arm, "cost"][t] for t in common], [values[arm, "transactions"][t] for t in common])
           for arm in arms}
    canary, baseline = est["canary"], est["baseline"]
    row = {"metric": metric.key, "plan": plan(), "canary": Arm.of(canary.cost, canary.transactions),
           "baseline": Arm.of(baseline.cost, baseline.transactions),
           "rate_per_s": canary.transactions / (len(common) * step) if common else 0.0}
    figures = {"canary_ratio": canary.per_transaction, "baseline_ratio": baseline.per_transaction,
               "intervals": len(common), "step_s": step, "scrape_s": scrape, "min_intervals": MIN_INTERVALS}
    if possible < MIN_INTERVALS:
        wait = math.ceil(MIN_INTERVALS * step - window_s)
        figures["needed_canary"] = max(1, math.ceil(row["rate_per_s"] * wait))
        return MetricRow(**row, figures=figures, status=INCONCLUSIVE, reason=(
            f"{possible} intervals of {step:g} s ({MIN_SAMPLES_PER_INTERVAL} scrapes each) so far: needs "
            f"{MIN_INTERVALS}, {wait} s more"))
    why = unsound(canary, baseline, step)
    if why:
        return MetricRow(**row, figures=figures, status=NOT_MEASURED, reason=not_measured(f"{metric.key}: {why}"))
    try:
        test = MarginTest.from_dict(tests[metric.key]) if metric.key in tests else \
            MarginTest(alpha=alpha, power=power, min_sample=metric.min_sample)
    except ValueError as exc:  # never restart a test that may have spent alpha or decided: say so
        return MetricRow(**row, figures=figures, status=NOT_MEASURED, reason=not_measured(
            f"{metric.key}: its saved state does not read ({exc}); judge it afresh with a later --since or remove "
            f"{state_path}"))
    try:
        seen, more = look(test, canary, baseline, metric.min_effect, alpha)
    except ValueError as exc:
        return MetricRow(**row, figures=figures, status=NOT_MEASURED,
                         reason=not_measured(f"{metric.key}: the test refused the figures: {exc}"))
    tests[metric.key] = test.to_dict()
    figures.update({k: v for k, v in asdict(seen).items() if k not in ("verdict", "reason")}, **more)
    low, high = more["interval"]
    said = (f"canary {canary.per_transaction:.4g} against baseline {baseline.per_transaction:.4g} USD per "
            f"authorization: x{more['ratio']:.3f} ({CONFIDENCE:.0%} {low:.3f}-{high:.3f}; tolerated "
            f"x{more['tolerance']:.2f}); ")
    return MetricRow(**row, figures=figures, status=seen.verdict, reason=said + seen.reason)


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
