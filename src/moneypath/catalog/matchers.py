"""Whether a PromQL label matcher can match what the catalog declares: a typo in a value is found here.

Shared by the catalog's own SLO selectors (validate.py) and every PromQL the tools check (rules, alerts,
dashboards, runbook pages, drills: moneypath.check.promql). A label only ever carries a declared value or
"other", so a matcher value outside that set is a typo whatever its operator: `outcome="declned"` selects
nothing, `outcome!="declned"` excludes nothing. A regex is split into its top-level alternatives
(`approved|declned`, `^(error|timout)$`, `card.*|bank`) and each must match (anchored, as PromQL's
`=~` does) at least one value; a regex too complex to split is judged whole.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

from moneypath.catalog.terms import OTHER

_GROUP_OPEN = re.compile(r"\((?:\?:)?")
VALUE_CUTOFF = 0.6


def did_you_mean(word: str, known: Iterable[str], cutoff: float = 0.85) -> str:
    """'; did you mean X?' for the closest of `known`, or ''. Long metric names share most of their letters, so
    their cutoff is high; a label value is a short word (`dupe` for `duplicate`): VALUE_CUTOFF."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=cutoff)
    return f"; did you mean {close[0]}?" if close else ""


def matcher_problem(label: str, op: str, value: str, declared: Sequence[str]) -> str | None:
    """What is wrong with `label<op>"value"` against the label's declared values, or None. "" (the label is
    absent) and "other" (the overflow value) are always possible."""
    possible = (*declared, OTHER, "")
    if op in ("=", "!="):
        if value in possible:
            return None
        hint = did_you_mean(value, declared, VALUE_CUTOFF)
        return f'{label}{op}"{value}": {value!r} is not a declared value of {label}{hint}'
    try:
        alternatives = _alternatives(value)
    except re.error:
        return None  # RE2 syntax Python does not read: promtool judges the expression
    for alternative, compiled in alternatives:
        if not any(compiled.fullmatch(v) for v in possible):
            literal = _literal(alternative)
            hint = did_you_mean(literal, declared, VALUE_CUTOFF) if literal is not None else ""
            what = (f"{literal!r} is not a declared value of {label}" if literal is not None
                    else f"{alternative!r} matches no declared value of {label} ({', '.join(declared)})")
            return f'{label}{op}"{value}": {what}{hint}'
    return None


def _alternatives(regex: str) -> list[tuple[str, re.Pattern]]:
    """The top-level alternatives of a regex (outer anchors and one enclosing group removed), each compiled;
    the whole regex as one alternative when it is not a plain alternation."""
    body = regex.removeprefix("^")
    if body.endswith("$") and not body.endswith("\\$"):
        body = body[:-1]
    group = _GROUP_OPEN.match(body)
    if group and body.endswith(")") and _closing(body, group.end()) == len(body) - 1:
        body = body[group.end():-1]
    parts = _split_top_level(body)
    if parts is None:
        return [(regex, re.compile(regex))]
    return [(part, re.compile(part)) for part in parts if part]


def _closing(text: str, start: int) -> int | None:
    """Index of the ")" closing the group opened just before `start`."""
    depth, i = 1, start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            end = text.find("]", i + 2)
            if end < 0:
                return None
            i = end + 1
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return i
        i += 1
    return None


def _split_top_level(body: str) -> list[str] | None:
    """`body` split at "|" outside groups and classes; None when a group or class does not close."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            end = body.find("]", i + 2)
            if end < 0:
                return None
            i = end + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
        elif ch == "|" and depth == 0:
            parts.append(body[start:i])
            start = i + 1
        i += 1
    if depth:
        return None
    return parts + [body[start:]]


def _literal(alternative: str) -> str | None:
    """The plain string an alternative matches (escapes resolved), or None when it is a pattern."""
    out, i = [], 0
    while i < len(alternative):
        ch = alternative[i]
        if ch == "\\" and i + 1 < len(alternative) and not alternative[i + 1].isalnum():
            out.append(alternative[i + 1])
            i += 2
            continue
        if ch in ".^$*+?{}[]()|\\":
            return None
        out.append(ch)
        i += 1
    return "".join(out)
