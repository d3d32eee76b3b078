"""Which series a PromQL expression reads, and through recording rules which raw metrics: how the live map
(live_health.py), the drill report (drills/map_hits.py) and the map board (generate/dashboards/map_queries.py) tell
that an alert's expression reads one of an edge's signals (`AlertRule.reads_signal`).

A small lexer, not a parser: it walks the text once, skipping strings, comments, ranges and subqueries
(`[5m]`, `[30m:1m]`), numbers and durations, keywords, function names (an identifier followed by `(`) and
the label lists of `by`, `without`, `on`, `ignoring`, `group_left` and `group_right`; what is left is a series
name, with the matchers of the `{...}` that follows it. `{__name__="x"}` names x."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from moneypath.catalog.terms import Matcher

if TYPE_CHECKING:
    from moneypath.map.graph import EdgeSignal

# PromQL words that are neither functions (followed by "(") nor series names; matched case-insensitively.
KEYWORDS = frozenset({
    "and", "or", "unless", "atan2", "offset", "bool", "by", "without", "on", "ignoring", "group_left",
    "group_right", "inf", "nan", "start", "end",
    # aggregation operators: followed by "(" or by a grouping clause
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile", "limitk", "limit_ratio",
})
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z0-9_]*")  # 15m, 1h30m too
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`)'
                      r"\s*,?")
_HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


@dataclass(frozen=True)
class Read:
    """A series an expression selects: its name and the matchers written on it."""

    name: str
    matchers: tuple[Matcher, ...] = ()


def _unquote(text: str) -> str:
    body = text[1:-1]
    return body if text[0] == "`" else re.sub(r"\\(.)", r"\1", body)


def _matchers(body: str) -> tuple[Matcher, ...]:
    found, pos = [], 0
    while pos < len(body):
        m = _MATCHER.match(body, pos)
        if not m:
            break
        found.append(Matcher(m.group(1), m.group(2), _unquote(m.group(3))))
        pos = m.end()
    return tuple(found)


def _closing(text: str, start: int, open_: str, close: str) -> int:
    """The index just past the bracket closing the one at `start`, strings inside skipped."""
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c in "\"'`":
            m = _STRING.match(text, i)
            i = m.end() if m else len(text)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def reads(expr: str) -> tuple[Read, ...]:
    """The series an expression selects, in order, each once (name and matchers)."""
    found: list[Read] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c == "#":
            end = expr.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'`":
            m = _STRING.match(expr, i)
            i = m.end() if m else n
        elif c == "[":
            i = _closing(expr, i, "[", "]")
        elif c == "{":  # a selector without a name: {__name__="x", ...}
            end = _closing(expr, i, "{", "}")
            matchers = _matchers(expr[i + 1:end - 1])
            name = next((m.value for m in matchers if m.label == "__name__" and m.op == "="), None)
            if name:
                found.append(Read(name, tuple(m for m in matchers if m.label != "__name__")))
            i = end
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            m = _NUMBER.match(expr, i)
            i = m.end() if m else i + 1
        elif m := _IDENT.match(expr, i):
            word, i = m.group(), m.end()
            after = _skip_space(expr, i)
            if word.lower() in _GROUPING and after < n and expr[after] == "(":
                i = _closing(expr, after, "(", ")")  # a label list
            elif word.lower() in KEYWORDS or (after < n and expr[after] == "("):
                pass  # a keyword or a function
            elif after < n and expr[after] == "{":
                end = _closing(expr, after, "{", "}")
                found.append(Read(word, _matchers(expr[after + 1:end - 1])))
                i = end
            else:
                found.append(Read(word))
        else:
            i += 1
    return tuple(dict.fromkeys(found))


def names(expr: str) -> list[str]:
    """The series names an expression selects, in order, each once."""
    return list(dict.fromkeys(r.name for r in reads(expr)))


def agrees(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether series with these label values may be among those the matchers select: every matcher on a label
    the values name holds for its value (`=`, `!=`, `=~`, `!~`); a label the values leave out constrains nothing."""
    for m in matchers:
        if m.label not in labels:
            continue
        value = labels[m.label]
        try:
            hit = {"=": value == m.value, "!=": value != m.value,
                   "=~": re.fullmatch(m.value, value) is not None, "!~": re.fullmatch(m.value, value) is None}[m.op]
        except re.error:
            hit = True  # a matcher we cannot judge constrains nothing
        if not hit:
            return False
    return True


def compatible(a: Iterable[Matcher], b: Iterable[Matcher]) -> bool:
    """Whether two sets of matchers may select a series in common, judged on the labels one of them fixes
    with `=` (what the other says of that value)."""
    a, b = tuple(a), tuple(b)
    return (agrees(b, {m.label: m.value for m in a if m.op == "="})
            and agrees(a, {m.label: m.value for m in b if m.op == "="}))


@dataclass(frozen=True)
class Recording:
    """A recording rule: the series it writes (name and static labels) and what its expression reads."""

    name: str
    labels: tuple[tuple[str, str], ...]
    reads: tuple[Read, ...]


def recording(name: str, expr: str, labels: Mapping[str, str] | None = None) -> Recording:
    return Recording(name, tuple(sorted((labels or {}).items())), reads(expr))


def raw_reads(expr_reads: Iterable[Read], recordings: Iterable[Recording]) -> tuple[Read, ...]:
    """The series an expression reads with every recorded series replaced, transitively, by what its recording
    rules read: those of that name whose static labels the read's matchers accept (the SLO error ratios share one
    name, told apart by `slo`). A recorded series without a rule here stays as it is."""
    by_name: dict[str, list[Recording]] = {}
    for rule in recordings:
        by_name.setdefault(rule.name, []).append(rule)
    found: list[Read] = []
    seen: set[Read] = set()
    todo = list(expr_reads)
    while todo:
        read = todo.pop(0)
        if read in seen:
            continue
        seen.add(read)
        rules = [r for r in by_name.get(read.name, ()) if agrees(read.matchers, dict(r.labels))]
        if rules:
            for rule in rules:
                todo.extend(rule.reads)
        elif read.name not in by_name:
            found.append(read)
    return tuple(dict.fromkeys(found))


def reads_metric(read: Read, metric: str) -> bool:
    """Whether a read selects the metric: its name, or a histogram's _bucket, _count or _sum of it."""
    return read.name == metric or (read.name.startswith(metric) and read.name[len(metric):] in _HISTOGRAM_SUFFIXES)


def reads_signal(expr_reads: Iterable[Read], signal: EdgeSignal, labels: Mapping[str, str] | None = None) -> bool:
    """Whether an expression's reads select the signal's metric with matchers that may select the same series,
    and the alert's labels (None: unknown) name no other value of a label the signal's selector constrains."""
    matchers = signal.selector.matchers
    return (any(reads_metric(r, signal.metric) and compatible(r.matchers, matchers) for r in expr_reads)
            and agrees(matchers, labels or {}))


# ---------------------------------------------------------------- rule groups


def _kind(rule: Mapping) -> str:
    """A rule's kind, from a rule file (`alert:`/`record:`) or from /api/v1/rules (`type:`)."""
    return "recording" if "record" in rule else "alerting" if "alert" in rule else str(rule.get("type", ""))


def _name(rule: Mapping) -> str:
    return str(rule.get("record") or rule.get("alert") or rule.get("name", ""))


def _expr(rule: Mapping) -> str:
    return str(rule.get("expr", rule.get("query", "")))


def recordings_of(groups: Iterable[Mapping]) -> list[Recording]:
    """The recording rules of Prometheus rule groups (a rule file's or /api/v1/rules')."""
    return [recording(_name(r), _expr(r), r.get("labels")) for g in groups for r in g.get("rules", [])
            if _kind(r) == "recording"]


@dataclass(frozen=True)
class AlertRule:
    """An alerting rule: its alert's name, its severity label and what its expression reads, recording rules
    expanded."""

    name: str
    severity: str
    reads: tuple[Read, ...]

    def reads_signal(self, signal: EdgeSignal, labels: Mapping[str, str] | None = None) -> bool:
        return reads_signal(self.reads, signal, labels)


def alerting_rules(groups: Iterable[Mapping]) -> list[AlertRule]:
    """The alerting rules of Prometheus rule groups (a rule file's or /api/v1/rules'), in order, each with what
    it reads through the groups' recording rules."""
    groups = list(groups)
    recordings = recordings_of(groups)
    return [AlertRule(_name(r), str((r.get("labels") or {}).get("severity", "")), raw_reads(reads(_expr(r)), recordings))
            for g in groups for r in g.get("rules", []) if _kind(r) == "alerting"]


def alerts_reading(signal: EdgeSignal, rules: Iterable[AlertRule],
                   labels: Mapping[str, str] | None = None) -> list[AlertRule]:
    """The rules whose alert reads the signal (`labels`: the alert's own, narrowing it)."""
    return [r for r in rules if r.reads_signal(signal, labels)]
