"""`moneypath lint --prometheus URL`: every metric and label the rules and dashboards read exists on that
server, so a typo or a metric renamed in the service is caught before the incident, not during it.

The rule files and dashboards under the project root are read as written (what production loads). For each
expression: every series it selects that is neither a recording rule of those files nor Prometheus' own must
be a metric name the server has seen within the lookback (the load-test exporter's series are not judged:
they exist only while a load test runs); every label a selector matches on must be on that
metric (a matcher that also accepts "no such label", such as `!=` or `=~".*"`, is not judged); every label
of by/without/on/ignoring/group_left/group_right must be on one of the expression's metrics, unless the
expression reads a recorded series or makes the label itself (label_replace). Two requests per metric name
at most, cached. A metric that exists in the catalog but was never emitted (a counter whose labelled series
has not been incremented yet) looks missing too: the problem says so.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from moneypath._common.prometheus import Prometheus
from moneypath._common.verdict import NOT_MEASURED, PASS, Check, not_measured, register
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import LOCUST_METRICS, served_by_moneypath
from moneypath.check import instrumentation_errors
from moneypath.check.dashboards import dashboard_queries
from moneypath.check.lint import ALERTS_FILE, RECORDING_FILE, load_rules
from moneypath.check.promql import (
    _GROUPING,
    _MATCHER,
    _SELECTOR,
    _STRING,
    PROMETHEUS_SERIES,
    did_you_mean,
    recorded_labels,
    selected_series,
)


@dataclass(frozen=True)
class Use:
    where: str  # "alerts/moneypath-alerts.yaml: MoneyPathX" or 'dashboards/x.json: panel "Title"'
    expr: str


def uses(root: Path) -> tuple[list[Use], set[str], set[str], list[str]]:
    """(expressions to check, recording rule names, labels recording rules add, problems reading files)."""
    found, problems, rules = [], [], []
    for rel in (RECORDING_FILE, ALERTS_FILE):
        loaded, error = load_rules(root / rel)
        if error:
            problems.append(f"{rel}: (file): {error}")
        rules += loaded
        found += [Use(f"{rel}: {r.get('alert') or r.get('record')}", str(r["expr"])) for r in loaded if "expr" in r]
    queries, unreadable = dashboard_queries(root)
    found += [Use(where, expr) for where, expr in queries]
    problems += unreadable
    records = {str(r["record"]) for r in rules if "record" in r}
    return found, records, recorded_labels(rules), problems


@dataclass
class Server:
    """What one Prometheus has seen within the lookback: metric names, and the label names of each metric."""

    prom: Prometheus
    lookback_s: float

    def __post_init__(self):
        self.start = time.time() - self.lookback_s
        self.names = set(self.prom.get("/api/v1/label/__name__/values", {"start": self.start}))
        self._labels: dict[str, set[str]] = {}

    def labels(self, metric: str) -> set[str]:
        if metric not in self._labels:
            self._labels[metric] = set(self.prom.get("/api/v1/labels", {"match[]": metric, "start": self.start}))
        return self._labels[metric]


def check(use: Use, server: Server, records: set[str], made_by_rules: set[str], url: str,
          lookback: str) -> list[str]:
    elsewhere = records | PROMETHEUS_SERIES | set(LOCUST_METRICS.values())
    raw = [name for name in selected_series(use.expr) if name not in elsewhere and not served_by_moneypath(name)]
    found = [f"{use.where}: {name} is not on {url} in the last {lookback} (renamed in the service, a typo, or "
             f"never emitted yet){did_you_mean(name, server.names)}" for name in raw if name not in server.names]
    present = [name for name in raw if name in server.names]
    for metric, body in _SELECTOR.findall(use.expr):
        if metric not in present:
            continue
        have = server.labels(metric)
        for label, op, value in _MATCHER.findall(body):
            if label == "__name__" or label in have or _accepts_missing(op, value):
                continue
            have_text = ", ".join(sorted(have - {"__name__"}))
            found.append(f"{use.where}: label {label} is not on {metric} (it has: {have_text})")
    reads_other = any(name not in present for name in selected_series(use.expr))
    if present and not reads_other:
        made_here = set(re.findall(r'label_replace\([^"]*"([A-Za-z_]\w*)"', use.expr))
        have = set().union(*(server.labels(m) for m in present)) | made_by_rules | made_here
        for _, labels in _GROUPING.findall(_STRING.sub('""', use.expr)):
            for label in (x.strip() for x in labels.split(",")):
                if label and label not in have:
                    found.append(f"{use.where}: label {label} (grouping) is on none of {', '.join(present)}")
    return found


def _accepts_missing(op: str, value: str) -> bool:
    """A matcher an absent label satisfies (Prometheus treats a missing label as the empty string)."""
    if op == "=":
        return value == ""
    if op == "!=":
        return value != ""
    try:
        empty_matches = re.fullmatch(value, "") is not None
    except re.error:
        return False
    return empty_matches if op == "=~" else not empty_matches


COVERAGE = "live coverage"  # the check's name: does the server hold what the project reads


def coverage(read: set[str], seen: set[str], url: str, lookback: str) -> Check:
    """Is there anything to judge? Not measured when the server has seen none of the metrics the project reads
    (nothing scraped from the service, or the wrong server): then every metric would look missing, and the lint
    says so once instead of listing them."""
    if not read:
        return Check(name=COVERAGE, outcome=NOT_MEASURED,
                     why=not_measured("the project's rules and dashboards read no metric of the service"))
    held = read & seen
    if not held:
        return Check(name=COVERAGE, outcome=NOT_MEASURED, why=not_measured(
            f"{url} holds none of the {len(read)} metrics the rules and dashboards read in the last {lookback} "
            "(is it scraping the service?)"))
    return Check(name=COVERAGE, outcome=PASS,
                 why=f"{len(held)} of the {len(read)} metrics the rules and dashboards read are on {url}")


register("check.live", coverage)


def lint_live(root: Path, url: str, lookback: str, lookback_s: float,
              catalog: Catalog | None = None) -> tuple[list[str], str | None]:
    """(one line per metric or label the project's rules and dashboards read that the server lacks, and with the
    catalog one per target that counted an instrumentation error (moneypath.check.instrumentation_errors); the
    reason when nothing could be judged: not measured)."""
    found, records, made_by_rules, problems = uses(Path(root))
    elsewhere = records | PROMETHEUS_SERIES | set(LOCUST_METRICS.values())
    with Prometheus(url, timeout_s=30) as prom:
        server = Server(prom, lookback_s)
        read = {name for use in found for name in selected_series(use.expr)
                if not served_by_moneypath(name)} - elsewhere
        covered = coverage(read, server.names, url, lookback)
        if covered.outcome is NOT_MEASURED:
            return list(dict.fromkeys(problems)), covered.why
        for use in found:
            problems += check(use, server, records, made_by_rules, url, lookback)
        if catalog is not None:
            problems += instrumentation_errors.problems(
                lambda expr: [(r["metric"], float(r["value"][1])) for r in prom.instant(expr)], catalog, lookback)
    return list(dict.fromkeys(problems)), None
