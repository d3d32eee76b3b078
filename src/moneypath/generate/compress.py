"""Time compression for the local drill stack: the same rules, run N times faster.

The catalog's alerts wait 2-15 minutes (`for:`) and look back 5 minutes to a day (range
selectors), so on production rules a drill takes longer than a coffee break, and an alert
comparing 15 minutes against a day (FraudSpike) cannot fire at all on a Prometheus with a
few minutes of history. `up` with `StackSpec(time_factor=60)` writes compressed copies of the
generated rules into its state directory (the committed ones in alerts/ and collector/ stay
as they are): every range, subquery step and offset is divided by the factor, and so is
every `for:`, with floors so that a 1 s scrape still yields enough samples. What is not
scaled: thresholds in the value domain (e.g. "oldest unreconciled capture > 900 s" is a
gauge value, not a window) and Alertmanager's pacing (the fast stack already uses 1 s).

`scale_expr` is also how a drill written for the compressed stack is run against a target
on production rules: its own PromQL windows are stretched by the inverse factor.
"""

from __future__ import annotations

import copy
import math
import re

from moneypath.catalog import DURATION
from moneypath.catalog import duration_seconds as parse_duration

FOR_FLOOR_S = 10.0  # a compressed non-zero `for:` never drops below ten 1 s evaluations
RANGE_FLOOR_S = 5.0  # nor a range below five 1 s scrapes

_RANGE = re.compile(r"\[\s*(" + DURATION.pattern + r")\s*(?::\s*(" + DURATION.pattern + r")?\s*)?\]")
_OFFSET = re.compile(r"\boffset\s+(-?)(" + DURATION.pattern + r")")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


def format_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration, in the largest unit that divides it (whole seconds at least)."""
    whole = max(1, math.ceil(seconds - 1e-9))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def scale_duration(text: str, factor: float, floor_s: float = 0.0) -> str:
    """`text` divided by `factor` (factor < 1 stretches), never below floor_s."""
    return format_duration(max(parse_duration(text) / factor, floor_s))


def scale_expr(expr: str, factor: float, range_floor_s: float = RANGE_FLOOR_S) -> str:
    """Every range, subquery step and offset in a PromQL expression divided by `factor`.

    String literals are left alone (a label value may look like "[5m]")."""
    if factor == 1:
        return expr

    def ranges(match: re.Match) -> str:
        window = scale_duration(match[1], factor, range_floor_s)
        if ":" not in match[0]:
            return f"[{window}]"
        step = scale_duration(match[2], factor, 1.0) if match[2] else ""
        return f"[{window}:{step}]"

    def offsets(match: re.Match) -> str:
        return f"offset {match[1]}{scale_duration(match[2], factor, 1.0)}"

    out, last = [], 0
    for literal in _STRING.finditer(expr):
        out.append(_OFFSET.sub(offsets, _RANGE.sub(ranges, expr[last:literal.start()])))
        out.append(literal[0])
        last = literal.end()
    out.append(_OFFSET.sub(offsets, _RANGE.sub(ranges, expr[last:])))
    return "".join(out)


def compress_rules(doc: dict, factor: float, for_floor_s: float = FOR_FLOOR_S,
                   range_floor_s: float = RANGE_FLOOR_S) -> dict:
    """A copy of a Prometheus rule file (dict) with every expression and `for:` compressed by `factor`."""
    if factor <= 0:
        raise ValueError("the time factor must be positive")
    out = copy.deepcopy(doc)
    if factor == 1:
        return out
    for group in out.get("groups", []):
        for rule in group.get("rules", []):
            rule["expr"] = scale_expr(str(rule["expr"]), factor, range_floor_s)
            if rule.get("for") and parse_duration(rule["for"]) > 0:
                rule["for"] = scale_duration(rule["for"], factor, for_floor_s)
    return out
