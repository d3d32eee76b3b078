"""The canary judge's queries: each judged metric as a (bad, total) pair of PromQL sums over the window since the
canary started, for the canary's and for the baseline's label selector, built from the catalog's signal names.

A SELECTOR is PromQL label matchers without braces (`track="canary"`, `instance="127.0.0.1:8001",job="svc"`); its
matchers are added to every selector of every query. Per-provider metrics give one test per catalog provider.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from moneypath.catalog import Catalog
from moneypath.catalog.canary_policy import (
    CANARY_METRICS,
    SLOW_METRIC,
    CanaryMetric,
    JudgedMetric,
    judged_metric,
    judged_metrics,
)
from moneypath.catalog.conventions import (
    AUTHORIZATION_APPROVED,
    AUTHORIZATION_DECLINED,
    LEDGER_WRITE_FAILED,
    PROVIDER_CALL_ERROR,
    PROVIDER_CALL_TIMEOUT,
    Key,
)

_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
PER_PROVIDER = "provider"
TWO_PROPORTIONS = "two proportions, one-sided, group-sequential (Hwang-Shih-DeCani alpha spending)"


class BadUsage(ValueError):
    """A selector, metric key or time the judge cannot use: one line, exit 2 (HTTP 400)."""


def parse_selector(text: str, what: str = "selector") -> tuple[str, ...]:
    """The matchers of `label="value", ...` (braces allowed), each as PromQL; BadUsage when it is not one."""
    body = (text or "").strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1].strip()
    if not body:
        raise BadUsage(f"the {what} is empty: give label matchers such as track=\"canary\"")
    matchers, pos = [], 0
    while pos < len(body):
        m = _MATCHER.match(body, pos)
        if m is None:
            raise BadUsage(f"the {what} {text!r} is not PromQL label matchers (label=\"value\", comma-separated) "
                           f"at {body[pos:pos + 20]!r}")
        label, op, value = m.group(1), m.group(2), m.group(3)
        if label == "__name__":
            raise BadUsage(f"the {what} {text!r} names a metric: it selects instances, the judge names the metrics")
        matchers.append(f'{label}{op}"{value}"')
        pos = m.end()
        if m.group(4) == "," and not body[pos:].strip():
            break
    return tuple(matchers)


def selector_of(metric: str, *matchers: str) -> str:
    return f"{metric}{{{','.join(matchers)}}}" if matchers else metric


def increase(metric: str, matchers: tuple[str, ...], window_s: int, by: str | None = None) -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (increase({selector_of(metric, *matchers)}[{window_s}s]))"


@dataclass(frozen=True)
class MetricQueries:
    """One judged metric: how to count its bad and total events for an arm's selector."""

    metric: JudgedMetric
    unit: str  # what one total event is, plural: "authorizations"
    test: str  # TWO_PROPORTIONS
    bad_parts: tuple[tuple[str, tuple[str, ...]], ...]  # (metric name, matchers) summed; a second part subtracted
    total_part: tuple[str, tuple[str, ...]]
    groups: tuple[str, ...]  # catalog providers, or ("",) for one test

    @property
    def key(self) -> str:
        return self.metric.key

    @property
    def by(self) -> str | None:
        return PER_PROVIDER if self.metric.spec.per_provider else None

    def bad(self, arm: tuple[str, ...], window_s: int) -> str:
        (first, m1), *rest = self.bad_parts
        query = increase(first, m1 + arm, window_s, self.by)
        for name, matchers in rest:  # the histogram's count minus its bucket at the threshold
            query = f"{query} - {increase(name, matchers + arm, window_s, self.by)}"
        return query

    def total(self, arm: tuple[str, ...], window_s: int) -> str:
        name, matchers = self.total_part
        return increase(name, matchers + arm, window_s, self.by)

    def test_id(self, group: str) -> str:
        return f"{self.key}{{provider={group}}}" if group else self.key


def _outcome(value: str, op: str = "=") -> tuple[str, ...]:
    return (f'outcome{op}"{value}"',)


def missing_signal(catalog: Catalog, metric: JudgedMetric) -> str | None:
    """The first signal of the metric the catalog lacks (or whose feature is off): the metric is not measured."""
    return next((signal for signal in metric.spec.signals if not catalog.has(signal)), None)


def metric_queries(catalog: Catalog, metric: JudgedMetric) -> MetricQueries:
    """The queries of one judged share (cost per transaction has its own: moneypath.canary.cost_ratio); KeyError when the
    catalog lacks one of its signals (not measured)."""
    missing = missing_signal(catalog, metric)
    if missing is not None:
        raise KeyError(missing)
    groups = tuple(catalog.providers) if metric.spec.per_provider else ("",)
    auth = catalog.metric(Key.AUTHORIZATIONS_TOTAL) if Key.AUTHORIZATIONS_TOTAL in metric.spec.signals else ""
    key = metric.key

    def q(unit, bad, total):
        return MetricQueries(metric, unit, TWO_PROPORTIONS, bad, total, groups)

    if key == "approval_ratio":
        return q("authorizations", ((auth, _outcome(AUTHORIZATION_APPROVED, "!=")),), (auth, ()))
    if key == "decline_ratio":
        return q("authorizations", ((auth, _outcome(AUTHORIZATION_DECLINED)),), (auth, ()))
    if key == "authorization_failure_ratio":
        answered = f"{AUTHORIZATION_APPROVED}|{AUTHORIZATION_DECLINED}"
        return q("authorizations", ((auth, _outcome(answered, "!~")),), (auth, ()))
    if key in ("provider_error_ratio", "provider_timeout_ratio"):
        calls = catalog.metric(Key.PROVIDER_REQUESTS_TOTAL)
        outcome = PROVIDER_CALL_ERROR if key == "provider_error_ratio" else PROVIDER_CALL_TIMEOUT
        return q("provider calls", ((calls, _outcome(outcome)),), (calls, ()))
    if key == SLOW_METRIC:
        hist = catalog.metric(Key.AUTHORIZATION_DURATION_SECONDS)
        le = (f'le="{floatToGoString(metric.threshold)}"',)
        return q("authorizations", ((f"{hist}_count", ()), (f"{hist}_bucket", le)), (f"{hist}_count", ()))
    if key == "ledger_write_failures":
        writes = catalog.metric(Key.LEDGER_WRITES_TOTAL)
        return q("ledger writes", ((writes, _outcome(LEDGER_WRITE_FAILED)),), (writes, ()))
    if key == "dead_letters":
        return q("authorizations", ((catalog.metric(Key.DEAD_LETTERS_TOTAL), ()),), (auth, ()))
    raise AssertionError(f"no queries for canary metric {key}")  # CANARY_METRICS and this function go together


def selected_metrics(catalog: Catalog, only: list[str] | None = None) -> list[JudgedMetric]:
    """The catalog's judged metrics, or those named in `only` (BadUsage for a key that is no canary metric; a known
    metric the catalog's policy does not list is judged with its defaults)."""
    metrics = judged_metrics(catalog)
    if not only:
        return metrics
    unknown = [k for k in only if k not in CANARY_METRICS]
    if unknown:
        raise BadUsage(f"unknown canary metric {unknown[0]!r} (known: {', '.join(CANARY_METRICS)})")
    by_key = {m.key: m for m in metrics}
    out = []
    for key in dict.fromkeys(only):
        if key in by_key:
            out.append(by_key[key])
        else:
            out.append(judged_metric(catalog, key, CanaryMetric()))
    return out
