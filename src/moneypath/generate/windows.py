"""A run's own window: the one rewrite every query a drill verdict rests on goes through.

A query written in one time unit (a runbook's production `[5m]`, a drill file's local-stack `[10s]`) is first
scaled to the target's clock (`scale_expr`), then confined to the time since the run's phase began: every
range and subquery range longer than that is cut to it, so no figure can come from before the phase (an
earlier incident on the same stack). What cannot be cut is refused with its reason, and the caller records
the query as not measured:
- an `offset` that reaches before the phase (the window sits in the past), or `@ <time>` pinned outside it;
- a nested window (a range inside a subquery) whose sum still reaches before it;
- a recorded series whose rule looks back further than the phase (its window is baked into the rule).
  A recorded series named once in the rules and read without matchers is inlined first (its expression,
  scaled and cut like the rest), so only the label-split families (`slo:*`) stay recorded.

Ranges, offsets and `@` are read from the parse tree (promql-parser, the Prometheus grammar); the rewrite
itself is textual, string literals left alone.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from moneypath.catalog import duration_seconds
from moneypath.generate.compress import _STRING, DURATION, format_duration, scale_expr

try:
    import promql_parser as pp
except ModuleNotFoundError:  # the tools extra declares it
    pp = None

SLACK_S = 1.0  # a reach this much past the phase start is the scrape's own jitter, not an earlier incident
_RANGE = re.compile(r"\[\s*(" + DURATION.pattern + r")\s*(:\s*(?:" + DURATION.pattern + r")?\s*)?\]")


@dataclass(frozen=True)
class Records:
    """The recording rules a query may read: the expression of each rule whose name is recorded once
    (inlined), and how far back (production seconds) every recorded name looks."""
    inline: dict[str, str] = field(default_factory=dict)
    reach_s: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def of(rule_docs: Iterable[dict]) -> Records:
        rules = [r for doc in rule_docs for g in doc.get("groups", []) for r in g.get("rules", []) if "record" in r]
        count = Counter(str(r["record"]) for r in rules)
        inline = {str(r["record"]): str(r["expr"]) for r in rules if count[str(r["record"])] == 1}
        reach: dict[str, float] = {}
        for r in rules:
            name = str(r["record"])
            reach[name] = max(reach.get(name, 0.0), _longest_text(str(r["expr"])))
        for _ in range(4):  # a rule reading another rule looks back as far as that one too
            for r in rules:
                name, expr = str(r["record"]), str(r["expr"])
                reach[name] = max(reach[name], max((reach[n] for n in reach if _reads(expr, n)), default=0.0)
                                  + _longest_text(expr))
        return Records(inline, reach)


@dataclass(frozen=True)
class Window:
    """A query confined to its phase: `expr` to run, or None with `why` (the figure would not be the phase's)."""
    expr: str | None
    why: str  # confined: how (scaled, cut); else why the figure would not be the phase's

    @property
    def confined(self) -> bool:
        return self.expr is not None


def own_window(expr: str, factor: float, since_s: float, records: Records | None = None,
               rules_factor: float | None = None, at_bounds: tuple[float, float] | None = None) -> Window:
    """`expr` scaled by `factor` (its ranges divided by it) and confined to the last `since_s` seconds.

    The recorded series it reads run `rules_factor` times faster than production (the target's time factor;
    default `factor`). `at_bounds` (phase start, now; epoch seconds) admits an `@ <time>` inside the phase;
    without it any `@ <time>` is refused. The `why` of a confined query says how: the ranges scaled, the recorded
    series read as their expressions, the ranges cut."""
    if pp is None:
        return Window(None, "promql-parser is not installed (pip install 'moneypath[tools]'): its window "
                            "cannot be checked")
    since_s = max(since_s, 1.0)
    records = records or Records()
    rules_factor = factor if rules_factor is None else rules_factor
    inlined: list[str] = []
    text = _inline(scale_expr(expr, factor), records, rules_factor, inlined)
    cut: list[str] = []
    text = _cut(text, since_s, cut)
    try:
        tree = pp.parse(text)
    except Exception as exc:  # noqa: BLE001 - the binding raises its own error types
        return Window(None, f"does not parse: {' '.join(str(exc).split())[:120]}")
    reach, why = _reach(tree, records, rules_factor, at_bounds)
    if why:
        return Window(None, why)
    if reach > since_s + SLACK_S:
        return Window(None, f"looks back {format_duration(reach)}, further than the {math.floor(since_s)} s since the "
                            "phase began: it may hold an earlier incident")
    scaled = [f"[{a}] → [{b}]" for a, b in zip(_ranges(expr), _ranges(scale_expr(expr, factor))) if a != b]
    by = f"÷{factor:g}" if factor >= 1 else f"×{1 / factor:g}"
    parts = [f"ranges {by} ({', '.join(dict.fromkeys(scaled))})"] if scaled else []
    parts += [f"{', '.join(dict.fromkeys(inlined))} read as {'its rule' if len(set(inlined)) == 1 else 'their rules'}"
              f" ÷{rules_factor:g}"] if inlined else []
    parts += [f"cut to the {math.floor(since_s)} s since the phase began ({', '.join(dict.fromkeys(cut))})"] if cut else []
    return Window(text, "; ".join(parts) or f"its windows within the {math.floor(since_s)} s since the phase began")


def _ranges(expr: str) -> list[str]:
    found: list[str] = []
    _outside_strings(expr, lambda part: found.extend(m[1] for m in _RANGE.finditer(part)) or part)
    return found


def _cut(text: str, since_s: float, cut: list[str]) -> str:
    whole = max(1, math.floor(since_s))

    def one(match: re.Match) -> str:
        if duration_seconds(match[1]) <= whole:
            return match[0]
        cut.append(f"[{match[1]}] → [{whole}s]")
        return f"[{whole}s{match[2] or ''}]"

    return _outside_strings(text, lambda part: _RANGE.sub(one, part))


def _inline(expr: str, records: Records, factor: float, inlined: list[str]) -> str:
    """Each recorded series read without matchers or range, named once in the rules: its expression instead,
    scaled by `factor` as the rule runs on the target (the names inlined appended to `inlined`)."""
    for _ in range(4):  # a rule that reads another rule
        before = expr
        for name, text in records.inline.items():
            body = scale_expr(text, factor)
            pattern = re.compile(r"(?<![\w:])" + re.escape(name) + r"(?![\w:])(?!\s*[{\[])")

            def swap(_, name=name, body=body) -> str:
                inlined.append(name)
                return f"({body})"

            expr = _outside_strings(expr, lambda part, p=pattern, f=swap: p.sub(f, part))
        if expr == before:
            break
    return expr


def _outside_strings(text: str, fn) -> str:
    out, last = [], 0
    for literal in _STRING.finditer(text):
        out += [fn(text[last:literal.start()]), literal[0]]
        last = literal.end()
    out.append(fn(text[last:]))
    return "".join(out)


def _seconds(value) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else 0.0


def _reach(node, records: Records, factor: float, at_bounds: tuple[float, float] | None) -> tuple[float, str]:
    """How far back from the evaluation time the query reads (seconds), or a reason it is not the phase's."""
    if isinstance(node, pp.MatrixSelector):
        inner, why = _reach(node.vector_selector, records, factor, at_bounds)
        return inner + _seconds(node.range), why
    if isinstance(node, pp.SubqueryExpr):
        inner, why = _reach(node.expr, records, factor, at_bounds)
        return _shifted(inner + _seconds(node.range), node, at_bounds, why)
    if isinstance(node, pp.VectorSelector):
        reach = records.reach_s.get(node.name or "", 0.0) / factor
        return _shifted(reach, node, at_bounds, "")
    children = [getattr(node, a) for a in ("lhs", "rhs", "expr") if getattr(node, a, None) is not None]
    children += list(getattr(node, "args", None) or ())
    reach, why = 0.0, ""
    for child in children:
        r, w = _reach(child, records, factor, at_bounds)
        reach, why = max(reach, r), why or w
    return reach, why


def _shifted(reach: float, node, at_bounds: tuple[float, float] | None, why: str) -> tuple[float, str]:
    """A selector's or subquery's reach moved by its `offset`, and its `@` judged."""
    reach += _seconds(getattr(node, "offset", None))
    at = getattr(node, "at", None)
    if at is None or why or str(at).strip() in ("@ start()", "@ end()"):
        return reach, why
    pinned = float(str(at).split("@", 1)[1])
    if at_bounds is None or pinned > at_bounds[1] or pinned - reach < at_bounds[0] - SLACK_S:
        return reach, f"is pinned with {str(at).strip()}, outside the phase's window"
    return max(0.0, reach - (at_bounds[1] - pinned)), why


def _longest_text(expr: str) -> float:
    """The longest range or subquery range in a rule's text, in seconds."""
    found = [duration_seconds(m[1]) for m in _RANGE.finditer(expr)]
    offsets = [duration_seconds(m) for m in re.findall(r"\boffset\s+(" + DURATION.pattern + r")", expr)]
    return max(found, default=0.0) + max(offsets, default=0.0)


def _reads(expr: str, name: str) -> bool:
    return re.search(r"(?<![\w:])" + re.escape(name) + r"(?![\w:])", expr) is not None



def rule_records(catalog) -> Records:
    """The recorded series of the rules the catalog generates."""
    from moneypath.generate.rules import recording_rules

    return Records.of([recording_rules(catalog)])
