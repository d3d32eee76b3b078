"""The canary metric `latency_shift`: is the canary's authorization latency, at the compared quantiles, slower than
the baseline's by more than the tolerated shift?

Each arm's quantile comes from its classic-histogram bucket counts over the window since the canary started, by
linear interpolation inside the bucket (Prometheus' histogram_quantile), with its standard error by Woodruff's
method: the binomial interval of the CDF at q, q +- 1.96 sqrt(q (1 - q) / n), mapped through the same interpolated
quantile function, its width over 2 x 1.96. The estimate canary - baseline (seconds) and its variance go to the
group-sequential `MarginTest`: margin the tolerance, max(shift, relative x the baseline's quantile), design twice
it. A tolerance finer than the buckets is never judged: `catalog check` refuses one the buckets where healthy
authorizations land do not resolve, and a look whose quantile lands in a bucket that does not resolve it (or in
+Inf) is not measured. docs/decisions/0020-canary-latency-distribution.md says why this test and what it costs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from moneypath._common.verdict import NOT_MEASURED, not_measured
from moneypath.canary.queries import increase
from moneypath.canary.results import SKIPPED, MetricRow, Plan
from moneypath.canary.sequential import MarginTest
from moneypath.catalog.canary_policy import LATENCY_METRIC
from moneypath.catalog.conventions import Key
from moneypath.catalog.latency_resolution import RESOLUTION, resolves, tolerance

Z95 = 1.959963984540054  # Woodruff's interval: 95 %, two-sided
INF = math.inf


def cumulative(series: Mapping[str, float]) -> tuple[list[float], list[float]]:
    """(upper bounds with +Inf last, cumulative counts) from `sum by (le)` answers keyed by their `le` label;
    counts made monotonic as histogram_quantile does (two counters read at slightly different times)."""
    pairs = sorted((float(le), float(v)) for le, v in series.items())
    if not pairs or not math.isinf(pairs[-1][0]):
        raise ValueError("the buckets have no +Inf bucket")
    uppers, counts, top = [], [], 0.0
    for upper, count in pairs:
        top = max(top, count if math.isfinite(count) else 0.0)
        uppers.append(upper)
        counts.append(top)
    return uppers, counts


def bucket_of(uppers: Sequence[float], counts: Sequence[float], q: float) -> int:
    """The index of the bucket holding quantile q: the first whose cumulative count reaches q x total, as
    histogram_quantile's search (over the finite buckets; len - 1 when none: the +Inf bucket)."""
    rank = q * counts[-1]
    for i in range(len(uppers) - 1):
        if counts[i] >= rank:
            return i
    return len(uppers) - 1


def quantile(uppers: Sequence[float], counts: Sequence[float], q: float) -> float:
    """histogram_quantile(q): linear interpolation inside the bucket holding rank q x total (the first bucket from
    0); the largest finite bound when it is the +Inf bucket; NaN without observations or with under 2 buckets."""
    if len(uppers) < 2 or not counts[-1] > 0:
        return math.nan
    if q < 0:
        return -INF
    if q > 1:
        return INF
    b = bucket_of(uppers, counts, q)
    if b == len(uppers) - 1:
        return float(uppers[-2])
    if b == 0 and uppers[0] <= 0:
        return float(uppers[0])
    start, end, count, rank = 0.0, float(uppers[b]), counts[b], q * counts[-1]
    if b > 0:
        start, count, rank = float(uppers[b - 1]), count - counts[b - 1], rank - counts[b - 1]
    if count <= 0:  # rank 0 in an empty bucket: the quantile is where the bucket starts
        return start
    return start + (end - start) * (rank / count)


def woodruff_se(uppers: Sequence[float], counts: Sequence[float], q: float) -> float:
    """Woodruff's standard error of the interpolated quantile q: the 95 % binomial interval of the CDF at q over
    the n observations, mapped through the interpolated quantile function, width / (2 x 1.96); inf when the
    interval reaches the +Inf bucket (no bound there), NaN without observations."""
    n = counts[-1] if counts else 0.0
    if not n > 0:
        return math.nan
    half = Z95 * math.sqrt(q * (1 - q) / n)
    lo, hi = max(q - half, 0.0), min(q + half, 1.0)
    if bucket_of(uppers, counts, hi) == len(uppers) - 1:
        return INF
    return (quantile(uppers, counts, hi) - quantile(uppers, counts, lo)) / (2 * Z95)


@dataclass(frozen=True)
class ArmQuantile:
    """One arm's quantile q at this look: the interpolated value, its Woodruff se, its bucket and observations."""

    value: float
    se: float
    lower: float  # the bucket holding it
    upper: float
    events: float

    @classmethod
    def of(cls, uppers: Sequence[float], counts: Sequence[float], q: float) -> ArmQuantile:
        b = bucket_of(uppers, counts, q)
        lower = float(uppers[b - 1]) if b > 0 else 0.0
        return cls(quantile(uppers, counts, q), woodruff_se(uppers, counts, q), lower, float(uppers[b]),
                   float(counts[-1]))


@dataclass(frozen=True)
class Comparison:
    """Canary against baseline at one quantile: the estimate and its variance for the MarginTest, the tolerance,
    or why it cannot be judged at this look (`unjudged`)."""

    q: float
    canary: ArmQuantile
    baseline: ArmQuantile
    tolerance: float
    unjudged: str | None

    @property
    def estimate(self) -> float:
        return self.canary.value - self.baseline.value

    @property
    def variance(self) -> float:
        return self.canary.se ** 2 + self.baseline.se ** 2


def compare(canary: tuple[Sequence[float], Sequence[float]], baseline: tuple[Sequence[float], Sequence[float]],
            q: float, shift: float | None, relative: float | None) -> Comparison:
    """Both arms' quantile q from their (upper bounds, cumulative counts), and whether the data resolve the
    tolerance there: each quantile in a finite bucket at most RESOLUTION x the tolerance wide, its interval
    below +Inf."""
    c, b = ArmQuantile.of(*canary, q), ArmQuantile.of(*baseline, q)
    tol = tolerance(b.value, shift, relative)
    why = None
    for name, arm in (("baseline", b), ("canary", c)):
        if math.isinf(arm.upper):
            why = f"the {name}'s p{q * 100:g} is in the +Inf bucket (over {arm.lower:g} s): no bound to judge"
        elif not resolves(arm.lower, arm.upper, tol):
            why = (f"the {name}'s p{q * 100:g} is in the bucket ({arm.lower:g}, {arm.upper:g}] s, wider than "
                   f"{RESOLUTION:g} x the tolerance {tol:.4g} s: the histogram cannot resolve that shift there")
        elif math.isinf(arm.se):
            why = f"the {name}'s p{q * 100:g} interval reaches the +Inf bucket: no bound to judge"
        if why:
            break
    return Comparison(q, c, b, tol, why)


# ---------------------------------------------------------------- the judge's rows

TEST = ("quantiles compared, canary minus baseline, one-sided against the tolerated shift, group-sequential "
        "(interpolated in the buckets, Woodruff's variance)")
UNIT = "authorizations"


def test_id(q: float) -> str:
    return f"{LATENCY_METRIC}{{quantile={q:g}}}"


def buckets_query(catalog, arm: tuple[str, ...], window_s: int) -> str:
    """One arm's bucket counts over the window: `sum by (le) (increase(<hist>_bucket{<arm>}[<window>s]))`."""
    return increase(f"{catalog.metric(Key.AUTHORIZATION_DURATION_SECONDS)}_bucket", arm, window_s, "le")


def figures(cmp: Comparison, seen=None, arms: Mapping | None = None) -> dict:
    """A row's figures: both quantiles, their se, the tolerance, the buckets holding them, the test's look, and
    both arms' cumulative counts at the finite bounds `le` (the +Inf count last) for the report's plot."""
    out = {"quantile": cmp.q, "canary_quantile": cmp.canary.value, "baseline_quantile": cmp.baseline.value,
           "canary_se": cmp.canary.se, "baseline_se": cmp.baseline.se, "tolerance": cmp.tolerance,
           "canary_bucket": [cmp.canary.lower, cmp.canary.upper],
           "baseline_bucket": [cmp.baseline.lower, cmp.baseline.upper],
           "canary_events": cmp.canary.events, "baseline_events": cmp.baseline.events}
    if seen is not None:
        out.update({k: v for k, v in asdict(seen).items() if k not in ("verdict", "reason")})
    if arms is not None:
        out["distribution"] = {"le": [u for u in arms["canary"][0] if math.isfinite(u)],
                               **{arm: list(counts) for arm, (_, counts) in arms.items()}}
    return out


def rows(metric, queries: Mapping[str, str], answers: Mapping[str, Mapping[str, float]],
         problem: str | None, window_s: int, alpha: float, power: float, tests: dict,
         state_path=None) -> list[MetricRow]:
    """One row per compared quantile from both arms' `sum by (le)` answers (`problem`: why they could not be
    read); `tests` holds each quantile's MarginTest state between looks (kept in `state_path`)."""
    spec = metric.spec
    plans = [Plan(id=test_id(q), provider=None, test=TEST, unit=UNIT, description=spec.description,
                  queries={arm: {"buckets": query} for arm, query in queries.items()}, min_effect=metric.shift or 0.0,
                  min_sample=metric.min_sample, alpha=alpha) for q in metric.quantiles]
    arms, why = {}, problem
    for arm, query in queries.items():
        if why is None:
            try:
                arms[arm] = cumulative(answers.get(arm) or {})
            except ValueError:
                why = f"{query} returned nothing"
    if why is not None:
        return [MetricRow(metric=metric.key, plan=p, outcome=NOT_MEASURED, reason=not_measured(f"{p.id}: {why}"))
                for p in plans]
    if arms["canary"][1][-1] <= 0 and arms["baseline"][1][-1] <= 0:
        return [MetricRow.of(SKIPPED, metric=metric.key, plan=p, reason="no authorizations in either arm: "
                          "nothing to compare (shown, not judged)") for p in plans]
    rate = arms["canary"][1][-1] / window_s
    out = []
    for q, plan in zip(metric.quantiles, plans, strict=True):
        out.append(_row(metric, plan, q, arms, alpha, power, tests, rate, state_path))
    return out


def _row(metric, plan: Plan, q: float, arms: dict, alpha: float, power: float, tests: dict, rate: float,
         state_path) -> MetricRow:
    if min(arms["canary"][1][-1], arms["baseline"][1][-1]) <= 0:
        arm = "canary" if arms["canary"][1][-1] <= 0 else "baseline"
        return MetricRow(metric=metric.key, plan=plan, outcome=NOT_MEASURED, waiting=True, rate_per_s=rate,
                         reason=f"no {arm} authorizations yet", figures={"needed_canary": metric.min_sample})
    cmp = compare(arms["canary"], arms["baseline"], q, metric.shift, metric.relative)
    if cmp.unjudged is not None:
        return MetricRow(metric=metric.key, plan=plan, outcome=NOT_MEASURED, figures=figures(cmp, arms=arms),
                         reason=not_measured(f"{plan.id}: {cmp.unjudged}"))
    if not cmp.variance > 0:
        return MetricRow(metric=metric.key, plan=plan, outcome=NOT_MEASURED, waiting=True, figures=figures(cmp, arms=arms),
                         rate_per_s=rate, reason="both arms' quantiles have no spread yet: needs more authorizations")
    try:
        test = (MarginTest.from_dict(tests[plan.id]) if plan.id in tests else
                MarginTest(alpha=alpha, power=power, min_sample=metric.min_sample))
    except ValueError as exc:  # never restart a test that may have spent alpha or decided: say so
        return MetricRow(metric=metric.key, plan=plan, outcome=NOT_MEASURED, figures=figures(cmp, arms=arms),
                         reason=not_measured(f"{plan.id}: its saved state does not read ({exc}); judge it afresh "
                                             f"with a later --since or remove {state_path}"))
    try:
        seen = test.look(estimate=cmp.estimate, variance=cmp.variance, margin=cmp.tolerance, design=2 * cmp.tolerance,
                         canary_value=cmp.canary.value, baseline_value=cmp.baseline.value,
                         canary_events=cmp.canary.events, baseline_events=cmp.baseline.events)
    except (ValueError, ZeroDivisionError) as exc:
        return MetricRow(metric=metric.key, plan=plan, outcome=NOT_MEASURED, figures=figures(cmp, arms=arms),
                         reason=not_measured(f"{plan.id}: the test refused the quantiles: {exc}"))
    tests[plan.id] = test.to_dict()
    said = (f"p{q * 100:g} canary {cmp.canary.value * 1000:.1f} ms against baseline {cmp.baseline.value * 1000:.1f} ms "
            f"({cmp.estimate * 1000:+.1f} ms, tolerated {cmp.tolerance * 1000:.1f} ms): {seen.reason}")
    return MetricRow.of(seen.verdict, metric=metric.key, plan=plan, figures=figures(cmp, seen, arms), reason=said,
                     rate_per_s=rate)
