"""PromQL checks shared by the rule lint, the runbook pages and the drill files, and the one promtool wrapper.

Everything here reads an expression as text: metrics and labels against the catalog, rate() only on
counters, ranges within retention. `promtool` (Debian `prometheus`) parses what the text checks cannot.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from moneypath.catalog import DURATION, Catalog, Signal
from moneypath.catalog import duration_seconds as parse_duration
from moneypath.catalog.conventions import (
    INCIDENT_LABEL,
    READINESS_ALERT_LABEL,
    READINESS_METRICS,
    READINESS_RUN_LABEL,
    REPORT_LABEL,
    incident_series,
)
from moneypath.catalog.matchers import did_you_mean, matcher_problem
from moneypath.catalog.yaml_errors import FILE

# Labels that may appear in by()/without() although no catalog signal declares them.
GROUPING_LABELS = {"le", "slo", "provider", "service", READINESS_ALERT_LABEL, READINESS_RUN_LABEL, INCIDENT_LABEL,
                   REPORT_LABEL}
# Series Prometheus itself writes for every target and alert: a rule may read them, the catalog cannot declare them.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
                     "scrape_series_added", "ALERTS", "ALERTS_FOR_STATE",
                     *READINESS_METRICS.values()}  # and what `moneypath readiness serve` exports
PROMTOOL_TIMEOUT = 60
NO_PROMTOOL = "promtool is not on PATH"
# A double-, single- or back-quoted PromQL string literal, escapes included.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
# rate(metric / irate(metric / increase(metric: group 1 the function, group 2 the first series name.
# \b keeps "rate" from matching inside "irate".
_RATE = re.compile(r"\b(rate|irate|increase)\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")
# metric{...}: group 1 the name, group 2 the matchers. The body may hold quoted strings containing braces,
# e.g. route="/v1/payments/{payment_id}"; the look-behind stops a match from starting mid-name.
_SELECTOR = re.compile(r'(?<![\w:])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}')
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
# [5m] or the range of a subquery [30m:1m]; group 1 is the (first) duration.
_RANGE = re.compile(r"\[\s*(" + DURATION.pattern + r")\s*(?::[^\]]*)?\]")
# promtool's message for one rule: 'file: 5:11: group "g", rule 1, "Name": message'.
_PROMTOOL_RULE = re.compile(r'group "[^"]*", rule \d+, "([^"]*)": (.*)$')
_IDENT = re.compile(r"(?<![\w:])[a-zA-Z_:][a-zA-Z0-9_:]*")
_BRACKETS = re.compile(r"\[[^\]]*\]")  # ranges and subqueries: [5m], [30m:1m]
_MATCHERS = re.compile(r"\{[^{}]*\}")  # label names inside selectors are not series names
# Words of PromQL that are neither functions (followed by "(") nor series names.
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "atan2", "inf", "nan", "start", "end", "by", "without", "on",
             "ignoring", "group_left", "group_right"}


def metric_index(catalog: Catalog) -> dict[str, tuple[Signal, str]]:
    """Every series name the catalog exports → (signal, histogram suffix or "")."""
    index = {}
    for sig in catalog.signals.values():
        if sig.type == "histogram":
            index.update({f"{sig.name}{suffix}": (sig, suffix) for suffix in ("_bucket", "_count", "_sum")})
        else:
            index[sig.name] = (sig, "")
    for name, labels in incident_series(catalog.namespace).items():  # the incident clock exporter's gauges
        index[name] = (Signal(type="gauge", help="served by moneypath incident clock serve",
                              labels={label: [] for label in labels}), "")
    return index


def recorded_labels(rules: list[dict]) -> set[str]:
    """Labels that recording rules attach to the series they record (e.g. slo)."""
    return {label for r in rules if "record" in r and isinstance(r.get("labels"), dict) for label in r["labels"]}


def check_expr(expr: str, metrics: dict, known_labels: set[str], retention: str, limit: float) -> list[str]:
    """(d) rates on counters, (e) catalog labels and values, (f) ranges within retention."""
    bare = _STRING.sub('""', expr)  # no function, grouping or range inside a string literal
    return (check_rates(bare, metrics) + check_selectors(expr, metrics, known_labels)
            + check_groupings(bare, known_labels)
            + check_ranges(bare, retention, limit))


def check_rates(expr: str, metrics: dict) -> list[str]:
    found = []
    for func, metric in _RATE.findall(expr):
        if ":" in metric:
            continue  # a recorded series: its type is the recording rule's business
        sig, suffix = metrics.get(metric, (None, ""))
        if sig is None or not (sig.type == "counter" or suffix):
            what = f"a {sig.type}" if sig else "not a catalog metric"
            found.append(f"{func}() applied to {metric}, which is {what}, not a counter or histogram _bucket/_count/_sum"
                         + ("" if sig else did_you_mean(metric, metrics)))
    return found


def selected_series(expr: str) -> list[str]:
    """The series an expression selects, in order, each once: identifiers outside strings, ranges, label
    matchers and grouping clauses that are neither a function name (followed by "(") nor a keyword."""
    bare = _MATCHERS.sub("{}", _BRACKETS.sub("[]", _STRING.sub('""', expr)))
    bare = _GROUPING.sub(" ", bare)
    names = [m[0] for m in _IDENT.finditer(bare)
             if m[0].lower() not in _KEYWORDS and not re.match(r"\s*\(", bare[m.end():])]
    return list(dict.fromkeys(names))


def check_series(expr: str, metrics: dict, records: set[str]) -> list[str]:
    """Every series a rule reads is a catalog series, a recording rule or one of Prometheus's own. A series
    inside rate()/irate()/increase() is left to check_rates, which names it in its own problem."""
    rated = {metric for _, metric in _RATE.findall(_STRING.sub('""', expr))}
    return [f"{name} is not a catalog metric (nor a histogram's _bucket/_count/_sum) or a recording rule"
            + did_you_mean(name, [*metrics, *records])
            for name in selected_series(expr)
            if name not in metrics and name not in records and name not in PROMETHEUS_SERIES and name not in rated]


def check_selectors(expr: str, metrics: dict, known_labels: set[str] | None = None) -> list[str]:
    """Matchers on a catalog series use its labels and values; on a recorded series (a name with a colon),
    labels some signal or recording rule has (when `known_labels` is given)."""
    found = []
    for metric, body in _SELECTOR.findall(expr):
        if metric not in metrics:
            if ":" in metric and known_labels is not None:
                found += [f"{metric}: label {label} is on no catalog signal or recording rule"
                          for label, _, _ in _MATCHER.findall(body) if label not in known_labels]
            continue
        sig, suffix = metrics[metric]
        for label, op, value in _MATCHER.findall(body):
            if label == "le" and suffix == "_bucket":
                if op == "=" and not _is_bucket(value, sig):
                    found.append(f'{metric}{{le="{value}"}}: not a bucket boundary of {sig.name}')
            elif label not in sig.labels:
                found.append(f"{metric}: label {label} is not in the catalog for {sig.name}")
            elif (problem := matcher_problem(label, op, value, sig.labels[label])) is not None:
                found.append(f"{metric}: {problem}")
    return found


def _is_bucket(value: str, sig: Signal) -> bool:
    try:
        return value == "+Inf" or float(value) in (sig.buckets or ())
    except ValueError:
        return False


def check_groupings(expr: str, known_labels: set[str]) -> list[str]:
    found = []
    for clause, labels in _GROUPING.findall(expr):
        for label in filter(None, (s.strip() for s in labels.split(","))):
            if label not in known_labels:
                found.append(f"{clause} ({label}): label {label} is on no catalog signal")
    return found


def check_ranges(expr: str, retention: str, limit: float) -> list[str]:
    return [f"range [{window}] exceeds retention {retention}"
            for window in _RANGE.findall(expr) if parse_duration(window) > limit]


class QueryContext:
    """What a PromQL query is checked against, computed once per run: the catalog's series and labels,
    the recording rules' names and labels, and the retention the stack gives Prometheus."""

    def __init__(self, catalog: Catalog):
        from moneypath.generate.prometheus_config import retention
        from moneypath.generate.rules import recording_rules

        self.catalog = catalog
        self.namespace = f"{catalog.namespace}_"
        self.metrics = metric_index(catalog)
        recording = [r for g in recording_rules(catalog)["groups"] for r in g["rules"]]
        self.records = {r["record"] for r in recording}
        self.labels = (GROUPING_LABELS | {label for s in catalog.signals.values() for label in s.labels}
                       | recorded_labels(recording))
        self.retention = retention(catalog)
        self.limit = parse_duration(self.retention)


def series_names(expr: str) -> list[str]:
    """Series names in a PromQL expression: identifiers outside strings, ranges and label matchers that are
    recording-rule names (they hold a colon) or could be metric names. Function names and keywords are
    among them; the caller keeps only what it can judge."""
    bare = _MATCHERS.sub("{}", _BRACKETS.sub("[]", _STRING.sub('""', expr)))
    return _IDENT.findall(bare)


def check_promql(expr: str, context: QueryContext) -> list[str]:
    """A hand-written query (runbook diagnosis, drill check): its series exist, then the rule checks."""
    found = []
    for name in dict.fromkeys(series_names(expr)):
        if ":" in name:
            if name not in context.records:
                found.append(f"{name} is not a recording rule")
        elif name.startswith(context.namespace) and name not in context.metrics and name not in PROMETHEUS_SERIES:
            found.append(f"{name} is not a catalog metric (nor a histogram's _bucket/_count/_sum)"
                         + did_you_mean(name, context.metrics))
    return found + check_expr(expr, context.metrics, context.labels, context.retention, context.limit)


# ---------------------------------------------------------------- promtool


def promtool_check_rules(path: Path, *options: str, cwd: Path | None = None) -> tuple[bool, str] | str:
    """`promtool check rules PATH`: (passed, its output), or a one-line reason it could not run."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return NO_PROMTOOL
    try:
        result = subprocess.run([promtool, "check", "rules", *options, str(path)], cwd=cwd,
                                capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"promtool check rules timed out after {PROMTOOL_TIMEOUT} s"
    return result.returncode == 0, result.stdout + result.stderr


def run_promtool(root: Path, files: list[str]) -> list[str]:
    """(c) `promtool check rules` once per rule file under `root`; its failures as problem lines."""
    problems = []
    for rel in files:
        outcome = promtool_check_rules(Path(rel), cwd=root)
        if outcome == NO_PROMTOOL:
            return [f"{root}: {FILE}: {NO_PROMTOOL}, rule expressions were not checked"]
        if isinstance(outcome, str):
            problems.append(f"{rel}: {FILE}: {outcome}")
        elif not outcome[0]:
            problems += _promtool_problems(rel, outcome[1])
    return problems


def _promtool_problems(rel: str, output: str) -> list[str]:
    problems = []
    for line in output.splitlines():
        line = line.strip()
        if not line or line.startswith(("Checking ", "FAILED", "SUCCESS")):
            continue
        line = line.removeprefix(f"{rel}: ")
        rule = _PROMTOOL_RULE.search(line)
        problems.append(f"{rel}: {rule[1]}: promtool: {rule[2]}" if rule else f"{rel}: {FILE}: promtool: {line}")
    return problems or [f"{rel}: {FILE}: promtool check rules failed without a message"]


def check_queries(queries: list[tuple[str, str, str]], where: str) -> list[str]:
    """Parse every (file, key path, PromQL) with ONE promtool run, each query as a recording rule.
    `where` names the set in a problem about the whole run (e.g. "runbooks")."""
    if not queries:
        return []
    names = {f"query:{i}": (rel, key) for i, (rel, key, _) in enumerate(queries)}
    doc = {"groups": [{"name": "queries",
                       "rules": [{"record": name, "expr": expr} for name, (_, _, expr) in zip(names, queries)]}]}
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "queries.yaml"
        rules.write_text(yaml.safe_dump(doc, sort_keys=False))
        outcome = promtool_check_rules(rules, "--lint=none")
    if isinstance(outcome, str):  # promtool missing or timed out: say so, never pass silently
        return [f"{where}: {FILE}: {outcome}" + (", diagnosis PromQL was not parsed" if outcome == NO_PROMTOOL else "")]
    passed, output = outcome
    if passed:
        return []
    problems = []
    for line in output.splitlines():
        rule = _PROMTOOL_RULE.search(line)
        if rule and rule[1] in names:
            rel, key = names[rule[1]]
            problems.append(f"{rel}: {key}: promtool: {rule[2]}")
    return problems or [f"{where}: {FILE}: promtool rejected the diagnosis queries: {' '.join(output.split())[:300]}"]
