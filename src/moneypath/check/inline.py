"""Recording rules written into the expressions that read them, so an alert can be evaluated over history
that never ran those rules (a week loaded from elsewhere, a record added yesterday).

`Inliner(rules).expand(expr, step)` replaces every reference to a recorded series, `name{matchers}`, by the
expressions of the recording rules it selects, each with the rule's static labels added (`label_replace`),
joined with `or` when several match. A range over a record (`name[7d]`) becomes a subquery at `step`, or
coarser: at most SUBQUERY_POINTS points (a 7-day average every 50 minutes), because a range query evaluates
the subquery again at every step.
Records inside records are expanded too. A reference whose matchers name a label the rule does not set
statically cannot be told apart without evaluating it, so it is left to the server's own recorded history
and listed in `kept`. Text rewriting with the readers of moneypath.check.promql (no PromQL parser here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from moneypath.catalog import duration_seconds
from moneypath.check.promql import _MATCHER, _STRING
from moneypath.generate.compress import format_duration

_REFERENCE = re.compile(r'(?<![\w:])([a-zA-Z_:][a-zA-Z0-9_:]*)'
                        r'(\s*\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\})?'
                        r'(\s*\[[^\]]*\])?')
SUBQUERY_POINTS = 200
MAX_DEPTH = 8  # records of records of ... (a cycle would be a broken rule file anyway)


@dataclass(frozen=True)
class Record:
    name: str
    expr: str
    labels: tuple[tuple[str, str], ...]


@dataclass
class Inliner:
    records: dict[str, list[Record]]
    kept: set[str] = field(default_factory=set)  # references left to the server's recorded history

    @classmethod
    def from_rules(cls, rules: list[dict]) -> Inliner:
        records: dict[str, list[Record]] = {}
        for rule in rules:
            if "record" in rule:
                labels = rule.get("labels") if isinstance(rule.get("labels"), dict) else {}
                records.setdefault(str(rule["record"]), []).append(
                    Record(str(rule["record"]), str(rule["expr"]), tuple(sorted((k, str(v)) for k, v in labels.items()))))
        return cls(records)

    def expand(self, expr: str, step: str, depth: int = 0) -> str:
        if depth > MAX_DEPTH:
            raise ValueError(f"recording rules nest deeper than {MAX_DEPTH} levels (a cycle?)")
        strings = [m.span() for m in _STRING.finditer(expr)]

        def inside_string(pos: int) -> bool:
            return any(a <= pos < b for a, b in strings)

        out, last = [], 0
        for m in _REFERENCE.finditer(expr):
            name, body, window = m[1], m[2] or "", m[3] or ""
            if name not in self.records or inside_string(m.start()):
                continue
            replacement = self._reference(name, body, window, step, depth)
            if replacement is None:
                continue
            out.append(expr[last:m.start()])
            out.append(replacement)
            last = m.end()
        out.append(expr[last:])
        return "".join(out)

    def _reference(self, name: str, body: str, window: str, step: str, depth: int) -> str | None:
        matchers = [(label, op, value) for label, op, value in _MATCHER.findall(body.strip().strip("{}"))]
        chosen = []
        for record in self.records[name]:
            static = dict(record.labels)
            if any(label not in static for label, _, _ in matchers):
                self.kept.add(name)
                return None  # the record's other labels come from its data: only the server can select them
            if all(_matches(static[label], op, value) for label, op, value in matchers):
                chosen.append(record)
        if not chosen:
            self.kept.add(name)
            return None
        parts = []
        for record in chosen:
            inner = f"({self.expand(record.expr, step, depth + 1)})"
            for label, value in record.labels:
                inner = f'label_replace({inner}, "{label}", "{_escape(value)}", "", "")'
            parts.append(inner)
        joined = parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"
        if window:
            inside = window.strip()[1:-1].strip()
            window = f"[{inside}]" if ":" in inside else f"[{inside}:{_subquery_step(inside, step)}]"
        return joined + window


def _subquery_step(window: str, step: str) -> str:
    points = duration_seconds(window) / SUBQUERY_POINTS
    return step if duration_seconds(step) >= points else format_duration(points)


def _matches(actual: str, op: str, wanted: str) -> bool:
    wanted = wanted.encode().decode("unicode_escape") if "\\" in wanted else wanted
    if op == "=":
        return actual == wanted
    if op == "!=":
        return actual != wanted
    hit = re.fullmatch(wanted, actual) is not None
    return hit if op == "=~" else not hit


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
