"""One pass of the canary judge: query Prometheus for the canary's and the baseline's counts since the canary
started, feed each metric's sequential test (alpha split evenly over the tests: Bonferroni), check the money
invariants, and decide (moneypath.canary.results: the verdict and its parts, typed).

Verdicts: fail when a test crossed its boundary or an invariant broke; pass when every test reached its planned
sample without crossing (none skipped for lack of traffic in both arms counts, and at least one passed); otherwise
inconclusive, saying how many more canary events (and minutes at the current rate) it needs. Past the policy's
max_inconclusive an inconclusive verdict is held or failed as the policy says. Whatever returned nothing or could
not be asked (a selector matching no series, a signal the catalog lacks, a Prometheus that does not answer) is one
"not measured" line naming the resolved query, and makes the verdict inconclusive: never a pass.

The tests' state lives in a JSON file between passes (keyed by canary, baseline, start and policy), so each
call of the CLI, each HTTP request and each `--watch` round is one more look of the same tests.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from moneypath._common.atomic import write_json
from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath._common.verdict import NOT_MEASURED, jsonable, not_measured
from moneypath.canary import cost_ratio, invariants, latency
from moneypath.canary.queries import BadUsage, metric_queries, missing_signal, parse_selector, selected_metrics
from moneypath.canary.results import (
    SKIPPED,
    Arm,
    CanaryVerdict,
    InvariantResult,
    JudgedPolicy,
    MetricRow,
    Plan,
    decide,
    minutes,
)
from moneypath.canary.sequential import SequentialTest
from moneypath.catalog import Catalog, duration_seconds
from moneypath.catalog.canary_policy import COST_METRIC, LATENCY_METRIC
from moneypath.catalog.conventions import PROCESS_START_METRIC
from moneypath.catalog.moments import parse_moment, rfc3339

HISTORY_LOOKS = 240  # looks kept per state for the report's plots
STATES_KEPT = 50  # canaries whose tests the state file keeps
LOOK_FIGURES = ("canary_ratio", "baseline_ratio", "effect", "z", "boundary", "p_value")  # kept per look for the plots
_STATE_LOCK = threading.Lock()


def parse_time(text: str | float | None, now: float) -> float | None:
    """Unix seconds of a canary's start as the judge is told it (moneypath.catalog.moments); None stays None."""
    if text is None or text == "":
        return None
    try:
        return parse_moment(text, now)
    except ValueError as exc:
        raise BadUsage(f"since {exc}") from None


def _vector(prom: Prometheus, query: str, by: str | None, at: float) -> dict[str, float]:
    return {(s["metric"].get(by, "") if by else ""): float(s["value"][1]) for s in prom.instant(query, at=at)}


def _state_key(canary: str, baseline: str, since: float, fingerprint: str) -> str:
    return hashlib.sha256(f"{canary}\n{baseline}\n{since:.0f}\n{fingerprint}".encode()).hexdigest()[:20]


def _load_state(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a state that cannot be read starts the tests afresh (more looks, never fewer)
    return data if isinstance(data, dict) else {}


@dataclass
class _Look:
    """What one pass gathers before it decides."""

    since: float | None
    window_s: int | None = None
    rows: list[MetricRow] = field(default_factory=list)
    gates: list[InvariantResult] = field(default_factory=list)
    not_measured: list[str] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    values: dict[str, dict] = field(default_factory=dict)  # this look's figures per test, for the history


class Judge:
    """`Judge(catalog, prometheus_url, state_path).judge(canary, baseline, since)` → a `CanaryVerdict`."""

    def __init__(self, catalog: Catalog, prometheus: str, state_path: Path | None = None,
                 database: str | None = None, timeout_s: float = 10.0):
        self.catalog, self.prometheus, self.state_path = catalog, prometheus, state_path
        self.database, self.timeout_s = database, timeout_s

    def judge(self, canary: str, baseline: str, since: str | float | None = None, metrics: list[str] | None = None,
              now: float | None = None) -> CanaryVerdict:
        """One pass. BadUsage for a selector, metric key or time the judge cannot use."""
        now = time.time() if now is None else now
        arms = {"canary": parse_selector(canary, "canary selector"),
                "baseline": parse_selector(baseline, "baseline selector")}
        if set(arms["canary"]) == set(arms["baseline"]):
            raise BadUsage("the canary and baseline selectors are the same: the judge would compare a release with itself")
        chosen = selected_metrics(self.catalog, metrics)
        look = _Look(parse_time(since, now))
        if look.since is not None and look.since >= now:
            raise BadUsage(f"since {rfc3339(look.since)} is not in the past")
        with Prometheus(self.prometheus, timeout_s=self.timeout_s) as prom:
            if self._measure(prom, arms, chosen, canary, baseline, now, look):
                return self._verdict(canary, baseline, now, look)
        return self._verdict(canary, baseline, now, look, elapsed=now - look.since)

    # ------------------------------------------------------------------ measuring

    def _measure(self, prom: Prometheus, arms: dict, chosen, canary: str, baseline: str, now: float,
                 look: _Look) -> bool:
        """Gather one look into `look`; True when it stopped before the tests (nothing to judge yet)."""
        look.not_measured += self._preflight(prom, arms, now)
        if look.not_measured:
            return True
        if look.since is None:
            look.since = self._canary_start(prom, arms["canary"], now, look.not_measured)
            if look.since is None:
                return True
        policy = self.catalog.canary
        look.window_s = window_s = max(1, math.ceil(now - look.since))
        fingerprint = json.dumps([[asdict(m) for m in chosen], policy.model_dump(), list(self.catalog.providers)],
                                 sort_keys=True, default=str)
        with _STATE_LOCK:
            state = _load_state(self.state_path)
            key = _state_key(canary, baseline, look.since, fingerprint)
            entry = state.get(key) or {"tests": {}, "history": []}
            n_tests = sum(len(m.quantiles) if m.key == LATENCY_METRIC else
                          len(self.catalog.providers) if m.spec.per_provider else 1 for m in chosen
                          if m.key in self._measurable(chosen))
            alpha = policy.alpha / max(n_tests, 1)
            for metric in chosen:
                self._metric(prom, metric, arms, window_s, now, alpha, policy.power, entry["tests"], look)
            look.gates = self._invariants(prom, arms["canary"], window_s, now, look.since)
            entry["history"] = (entry["history"] + [{"at": now, "tests": look.values}])[-HISTORY_LOOKS:]
            look.history = entry["history"]
            if self.state_path is not None:
                state[key] = entry
                for stale in sorted(state, key=lambda k: (state[k].get("history") or [{"at": 0}])[-1]["at"])[
                        :max(0, len(state) - STATES_KEPT)]:
                    del state[stale]  # the canaries judged longest ago
                self.state_path.parent.mkdir(parents=True, exist_ok=True)
                write_json(self.state_path, jsonable(state))
        return False

    def _measurable(self, chosen) -> set[str]:
        return {m.key for m in chosen if missing_signal(self.catalog, m) is None}

    def _preflight(self, prom: Prometheus, arms: dict, now: float) -> list[str]:
        """What the selectors do not reach: a Prometheus that does not answer, an arm matching no series."""
        lines = []
        for arm, matchers in arms.items():
            query = f'count({{__name__=~"{self.catalog.namespace}_.+",{",".join(matchers)}}})'
            try:
                found = prom.instant(query, at=now)
            except PrometheusError as exc:
                return [not_measured(f"Prometheus does not answer: {exc}")]
            if not found:
                lines.append(not_measured(
                    f"the {arm} selector {{{','.join(matchers)}}} matches no series of the catalog's metrics ({query})"))
        return lines

    def _canary_start(self, prom: Prometheus, canary: tuple[str, ...], now: float, lines: list[str]) -> float | None:
        query = f"max({PROCESS_START_METRIC}{{{','.join(canary)}}})"
        try:
            found = prom.instant(query, at=now)
        except PrometheusError as exc:
            lines.append(not_measured(f"when the canary started: {exc}"))
            return None
        value = float(found[0]["value"][1]) if found else math.nan
        if math.isnan(value) or value >= now:
            lines.append(not_measured(f"when the canary started: {query} returned nothing; give --since"))
            return None
        return value

    def _metric(self, prom, metric, arms, window_s, now, alpha, power, tests, look: _Look) -> None:
        missing = missing_signal(self.catalog, metric)
        if missing is not None:
            line = not_measured(f"{metric.key}: the catalog has no signal {missing} (or its feature is off)")
            look.not_measured.append(line)
            look.rows.append(MetricRow(metric=metric.key, outcome=NOT_MEASURED, reason=line))
            return
        if metric.key == COST_METRIC:  # its own test, from per-interval sums (moneypath.canary.cost_ratio)
            self._add(cost_ratio.judge_cost(prom, self.catalog, metric, arms, now, window_s, alpha, power, tests,
                                            self.state_path), look)
            return
        if metric.key == LATENCY_METRIC:
            queries = {arm: latency.buckets_query(self.catalog, m, window_s) for arm, m in arms.items()}
            answers, problem = {}, None
            for arm, query in queries.items():
                try:
                    answers[arm] = _vector(prom, query, "le", now)
                except PrometheusError as exc:
                    problem = problem or f"{query}: {exc}"
            for row in latency.rows(metric, queries, answers, problem, window_s, alpha, power, tests, self.state_path):
                self._add(row, look)
            return
        mq = metric_queries(self.catalog, metric)
        queries = {arm: {"bad": mq.bad(m, window_s), "total": mq.total(m, window_s)} for arm, m in arms.items()}
        values: dict = {}
        problem = None
        for arm, pair in queries.items():
            for part, query in pair.items():
                try:
                    values[arm, part] = _vector(prom, query, mq.by, now)
                except PrometheusError as exc:
                    problem = problem or f"{query}: {exc}"
        for group in mq.groups:
            plan = Plan(id=mq.test_id(group), provider=group or None, test=mq.test, unit=mq.unit,
                        description=metric.spec.description, queries=queries, min_effect=metric.min_effect,
                        min_sample=metric.min_sample, alpha=alpha)
            self._add(self._test(metric, mq, plan, values, problem, window_s, alpha, power, tests), look)

    @staticmethod
    def _add(row: MetricRow, look: _Look) -> None:
        look.rows.append(row)
        if row.outcome is NOT_MEASURED and not (row.waiting or row.skipped):
            look.not_measured.append(row.reason)
        elif row.rate_per_s is not None:
            look.values[row.id] = {k: row.figures.get(k) for k in LOOK_FIGURES}

    def _test(self, metric, mq, plan: Plan, values: dict, problem: str | None, window_s: int, alpha: float,
              power: float, tests: dict) -> MetricRow:
        """One test's row: its counts from the answers, then its test's look (or why there is none)."""
        group = plan.provider or ""
        counts, missing = {}, None
        for (arm, part), vector in values.items():
            value = vector.get(group, math.nan)
            if math.isnan(value) and missing is None:
                missing = plan.queries[arm][part]
            counts[arm, part] = value
        if problem or missing or len(counts) < 4:
            what = problem or f"{missing} returned nothing{f' for provider {group}' if group else ''}"
            return MetricRow(metric=metric.key, plan=plan, outcome=NOT_MEASURED, reason=not_measured(f"{plan.id}: {what}"))
        cb, ct = counts["canary", "bad"], counts["canary", "total"]
        bb, bt = counts["baseline", "bad"], counts["baseline", "total"]
        cb, bb = min(max(cb, 0.0), ct), min(max(bb, 0.0), bt)  # extrapolated increases may stray past the total
        arms = {"plan": plan, "canary": Arm.of(cb, ct), "baseline": Arm.of(bb, bt)}
        if ct <= 0 and bt <= 0:
            return MetricRow.of(SKIPPED, metric=metric.key, **arms, reason=f"no {mq.unit} in either arm"
                             f"{f' for {group}' if group else ''}: nothing to compare (shown, not judged)")
        try:
            test = (SequentialTest.from_dict(tests[plan.id]) if plan.id in tests else
                    SequentialTest(alpha=alpha, power=power, min_effect=metric.min_effect,
                                   min_sample=metric.min_sample))
        except ValueError as exc:  # never restart a test that may have spent alpha or decided: say so
            return MetricRow(metric=metric.key, **arms, outcome=NOT_MEASURED, reason=not_measured(
                f"{plan.id}: its saved state does not read ({exc}); judge it afresh with a later --since or "
                f"remove {self.state_path}"))
        try:
            seen = test.look(cb, ct, bb, bt)
        except (ValueError, ZeroDivisionError) as exc:
            return MetricRow(metric=metric.key, **arms, outcome=NOT_MEASURED,
                             reason=not_measured(f"{plan.id}: the test refused the counts: {exc}"))
        tests[plan.id] = test.to_dict()
        figures = {k: v for k, v in asdict(seen).items() if k not in ("verdict", "reason")}
        status, reason = seen.verdict, seen.reason
        return MetricRow.of(status, metric=metric.key, **arms, figures=figures, reason=reason,
                         rate_per_s=ct / window_s)

    def _invariants(self, prom, canary, window_s, now, start) -> list[InvariantResult]:
        results = invariants.prometheus_invariants(self.catalog, prom, canary, window_s, now)
        if self.catalog.money_checks.breaks is not None:
            results.append(invariants.writes_lost(self.database is not None))
        breaks, why_not = None, None
        if self.database is not None:
            try:
                breaks = invariants.read_breaks(self.catalog, self.database, start)
            except Exception as exc:  # noqa: BLE001 - a database that cannot be read is one line, never a crash
                why_not = f"payments not named: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        invariants.name_payments(results, breaks, why_not)
        return results

    # ------------------------------------------------------------------ deciding

    def _verdict(self, canary: str, baseline: str, now: float, look: _Look,
                 elapsed: float | None = None) -> CanaryVerdict:
        policy = self.catalog.canary
        overdue = None
        if elapsed is not None and elapsed > duration_seconds(policy.max_inconclusive):
            overdue = (f"inconclusive {minutes(elapsed)} after the canary started, past max_inconclusive "
                       f"{policy.max_inconclusive}")
        decision = decide(look.rows, look.gates, look.not_measured, overdue, policy.on_inconclusive)
        return CanaryVerdict(
            outcome=decision.outcome, reason=decision.reason, canary=canary, baseline=baseline,
            since=rfc3339(look.since) if look.since is not None else None, at=rfc3339(now), window_s=look.window_s,
            prometheus=self.prometheus, catalog=self.catalog.path,
            policy=JudgedPolicy(policy.alpha, policy.power, policy.min_sample, policy.interval,
                                policy.max_inconclusive, policy.on_inconclusive),
            metrics=tuple(look.rows), invariants=tuple(look.gates), not_measured=decision.not_measured,
            needs=decision.needs, held=decision.held, history=tuple(look.history))
