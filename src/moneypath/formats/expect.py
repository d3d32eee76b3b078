"""Machine-checkable expectations on query results, shared by steady-state checks, halt
conditions, recovery checks and runbook evidence.

A result is a list of items: for PromQL one item per series ``(labels, value)``, for SQL one
per row (a dict of column → value). An expectation is a small mapping; every condition it
names must hold:

- ``labels: {provider: globex}`` first keeps only the series (rows: columns) with these values;
- ``nonempty: true|false`` — something (nothing) is left;
- ``rows_min: n`` / ``rows_max: n`` — at least / at most n series or rows are left;
- ``min: x`` / ``above: x`` — some value is >= x / > x;
- ``max: x`` / ``below: x`` — every value is <= x / < x;
- ``column: name`` — for SQL, which column min/max/above/below read.

A value condition on nothing (an empty answer, no series matching the labels) is not measured: it neither
holds nor fails, and never reads an absent series as 0. Only ``nonempty`` and ``rows_*`` judge emptiness.
NaN never satisfies a numeric condition. `Expect` is the pydantic model drill files use;
`check(expect, items)` returns (True, False or None for not measured, reason).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import model_validator

from moneypath._common.strict import StrictModel
from moneypath._common.verdict import not_measured, register

Item = tuple[dict[str, str], float] | dict[str, Any]


class Expect(StrictModel):
    labels: dict[str, str] | None = None
    nonempty: bool | None = None
    rows_min: int | None = None
    rows_max: int | None = None
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None
    column: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _labels_as_text(cls, data):
        # YAML reads `{labels: {code: 503}}` as an int; label and column values compare as text.
        if isinstance(data, dict) and isinstance(data.get("labels"), dict):
            data = {**data, "labels": {str(k): _text(v) for k, v in data["labels"].items()}}
        return data

    @model_validator(mode="after")
    def _something(self):
        conditions = (self.nonempty, self.rows_min, self.rows_max, self.min, self.max, self.above, self.below)
        if all(c is None for c in conditions):
            raise ValueError("give at least one of nonempty, rows_min, rows_max, min, max, above, below")
        for name in ("rows_min", "rows_max"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")
        return self

    @property
    def numeric(self) -> bool:
        return any(v is not None for v in (self.min, self.max, self.above, self.below))

    def describe(self) -> str:
        parts = []
        if self.labels:
            parts.append("where " + ", ".join(f"{k}={v}" for k, v in self.labels.items()))
        if self.nonempty is not None:
            parts.append("non-empty" if self.nonempty else "empty")
        if self.rows_min is not None:
            parts.append(f">= {self.rows_min} rows")
        if self.rows_max is not None:
            parts.append(f"<= {self.rows_max} rows")
        what = f"{self.column} " if self.column else ""
        if self.min is not None:
            parts.append(f"some {what}value >= {_num(self.min)}")
        if self.above is not None:
            parts.append(f"some {what}value > {_num(self.above)}")
        if self.max is not None:
            parts.append(f"every {what}value <= {_num(self.max)}")
        if self.below is not None:
            parts.append(f"every {what}value < {_num(self.below)}")
        return ", ".join(parts)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _num(x: float) -> str:
    return format(x, "g")


def _labels_of(item: Item) -> dict[str, Any]:
    return item[0] if isinstance(item, tuple) else item


def _value_of(item: Item, column: str | None) -> float | None:
    if isinstance(item, tuple):
        return item[1]
    if column is None:
        return None
    raw = item.get(column)
    try:
        return float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def check(expect: Expect, items: list[Item]) -> tuple[bool | None, str]:
    """Does the result meet the expectation? (True, False, or None: not measured; one-line reason)."""
    kept = [i for i in items
            if all(_text(_labels_of(i).get(k)) == v for k, v in (expect.labels or {}).items())]
    where = f" matching {', '.join(f'{k}={v}' for k, v in expect.labels.items())}" if expect.labels else ""
    n = len(kept)
    if expect.nonempty is True and n == 0:
        return False, f"nothing{where} came back"
    if expect.nonempty is False and n > 0:
        return False, f"{n} result(s){where}, expected none"
    if expect.rows_min is not None and n < expect.rows_min:
        return False, f"{n} result(s){where}, expected at least {expect.rows_min}"
    if expect.rows_max is not None and n > expect.rows_max:
        return False, f"{n} result(s){where}, expected at most {expect.rows_max}"
    if expect.numeric:
        if n == 0:
            return None, not_measured(f"nothing{where} came back for {expect.describe()}")
        values = [_value_of(i, expect.column) for i in kept]
        if any(v is None for v in values):
            return False, f"no numeric value{' in column ' + expect.column if expect.column else ''}"
        numbers = [v for v in values if v is not None]
        best = max((v for v in numbers if not math.isnan(v)), default=None)
        for bound, test, word in ((expect.min, lambda v, b: v >= b, ">="), (expect.above, lambda v, b: v > b, ">")):
            if bound is not None and not any(not math.isnan(v) and test(v, bound) for v in numbers):
                got = "nothing" if best is None else f"the largest is {_num(best)}"
                return False, f"no value{where} {word} {_num(bound)}: {got}"
        for bound, test, word in ((expect.max, lambda v, b: v <= b, "<="), (expect.below, lambda v, b: v < b, "<")):
            if bound is not None:
                bad = [v for v in numbers if math.isnan(v) or not test(v, bound)]
                if bad:
                    return False, f"{len(bad)} value(s){where} not {word} {_num(bound)} (e.g. {_num(bad[0])})"
    return True, f"{n} result(s){where}: {expect.describe()}"


def check_all(expects: list[Expect], items: list[Item]) -> tuple[bool | None, str]:
    """Every expectation holds: False with the first failure's reason; else None (not measured) with the first
    not-measured reason, or when there is no expectation at all (nothing was checked); else True with all the
    passes joined."""
    if not expects:
        return None, not_measured("no expectation to check the answer against")
    reasons, unmeasured = [], None
    for e in expects:
        ok, reason = check(e, items)
        if ok is False:
            return False, reason
        if ok is None and unmeasured is None:
            unmeasured = reason
        reasons.append(reason)
    if unmeasured is not None:
        return None, unmeasured
    return True, "; ".join(reasons)


register("formats.expect", check_all)


def describe_all(expects: list[Expect]) -> str:
    return "; ".join(e.describe() for e in expects)
