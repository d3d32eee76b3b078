"""`moneypath alerts backtest`: every alert evaluated over history, as Prometheus would have evaluated it.

Each alert rule's expression (recording rules inlined, moneypath.check.inline) is asked of Prometheus with
query_range at the evaluation step. A series is active at a step when the expression returns it; it fires
once active for `for:` without a gap, and stays firing until the step it is gone (Prometheus' rule
semantics at that interval). Per alert name, the firing intervals of all its rules and series are merged:
one notification group in Alertmanager, one "time it fired". Pages count only the intervals of its
severity=page rules. The watchdog (severity none) fires always by design and is reported apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from moneypath._common.prometheus import Prometheus
from moneypath.catalog import duration_seconds
from moneypath.catalog.conventions import WATCHDOG_SEVERITY
from moneypath.check.inline import Inliner

MAX_POINTS = 10_000  # Prometheus refuses a range query of more than 11,000 points per series
WEEK_S = 7 * 86400


@dataclass
class AlertResult:
    alert: str
    severity: str  # the worst of its rules: page > ticket > none
    fired: list[tuple[float, float]] = field(default_factory=list)  # merged [start, end) firing intervals
    paged: list[tuple[float, float]] = field(default_factory=list)  # the same, of its severity=page rules

    @property
    def firing_s(self) -> float:
        return sum(end - start for start, end in self.fired)

    def pages_per_week(self, range_s: float) -> float:
        return len(self.paged) * WEEK_S / range_s


@dataclass
class Backtest:
    start: float
    end: float
    step_s: float
    results: list[AlertResult]
    kept: set[str]  # recording rules read from the server's history instead of inlined
    seconds: float  # how long the evaluation took

    @property
    def range_s(self) -> float:
        return self.end - self.start

    def over_budget(self, max_pages_per_week: float) -> list[AlertResult]:
        return [r for r in self.results
                if r.severity != WATCHDOG_SEVERITY and r.pages_per_week(self.range_s) > max_pages_per_week]


def firing_intervals(points: list[float], step_s: float, for_s: float) -> list[tuple[float, float]]:
    """[start, end) intervals in which a series with samples at `points` (sorted evaluation times) fires:
    a run of consecutive evaluations fires from its first point + for_s, until one step after its last."""
    out = []
    run_start = prev = None
    for t in [*points, None]:
        if t is not None and prev is not None and t - prev <= step_s * 1.5:
            prev = t
            continue
        if run_start is not None and prev - run_start >= for_s - 1e-9:
            out.append((run_start + for_s, prev + step_s))
        run_start = prev = t
    return out


def merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def evaluate(prom: Prometheus, alert_rules: list[dict], recording: list[dict], start: float, end: float,
             step: str, progress: Callable[[str], None] = lambda line: None) -> Backtest:
    step_s = duration_seconds(step)
    inliner = Inliner.from_rules(recording)
    began = time.monotonic()
    by_name: dict[str, AlertResult] = {}
    order = {"page": 2, "ticket": 1}
    for i, rule in enumerate(alert_rules, 1):
        name = str(rule["alert"])
        labels = rule.get("labels") if isinstance(rule.get("labels"), dict) else {}
        severity = str(labels.get("severity", ""))
        result = by_name.setdefault(name, AlertResult(name, severity))
        if order.get(severity, 0) > order.get(result.severity, 0):
            result.severity = severity
        for_s = duration_seconds(str(rule.get("for", "0s")))
        expr = inliner.expand(str(rule["expr"]), step)
        t0 = time.monotonic()
        intervals = []
        for series in _range(prom, expr, start, end, step_s):
            intervals += firing_intervals([float(t) for t, _ in series], step_s, for_s)
        result.fired = merge(result.fired + intervals)
        if severity == "page":
            result.paged = merge(result.paged + intervals)
        progress(f"[{i}/{len(alert_rules)}] {name} {_rule_tag(labels)}: {len(merge(intervals))} firing(s), "
                 f"{time.monotonic() - t0:.1f} s")
    return Backtest(start, end, step_s, list(by_name.values()), set(inliner.kept), time.monotonic() - began)


def _range(prom: Prometheus, expr: str, start: float, end: float, step_s: float) -> list[list]:
    """Every series' [t, value] points over the range, in chunks Prometheus accepts, joined per label set."""
    joined: dict[tuple, list] = {}
    chunk_start = start
    while chunk_start <= end:
        chunk_end = min(end, chunk_start + (MAX_POINTS - 1) * step_s)
        for series in prom.range(expr, chunk_start, chunk_end, step_s):
            joined.setdefault(tuple(sorted(series["metric"].items())), []).extend(series["values"])
        chunk_start = chunk_end + step_s
    return list(joined.values())


def _rule_tag(labels: dict) -> str:
    windows = "/".join(str(labels[k]) for k in ("long_window", "short_window") if k in labels)
    reason = labels.get("reason")
    return f"({', '.join(x for x in (str(labels.get('severity', '')), windows, reason) if x)})"
