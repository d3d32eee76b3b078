"""How the drill report writes values: times, durations, money, pass/fail and not-checked cells."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from moneypath._common.plots import utc
from moneypath._common.report import Cell
from moneypath._common.verdict import NOT_MEASURED, IfNotMeasured
from moneypath.drills.journal import Objective

if TYPE_CHECKING:
    from moneypath.drills.money import Money


def ok_cell(value: bool | None, yes: str = "pass", no: str = "fail", none: str = "—") -> Cell:
    if value is None:
        return Cell(none, "na")
    return Cell(yes, "ok") if value else Cell(no, "fail")


def status_cell(objective: dict) -> Cell:
    """An objective's result: pass, fail, or not measured (skipped when it says `if_not_measured: pass`)."""
    o = Objective.read(objective)
    if o.status is NOT_MEASURED:
        return Cell("not measured" + (" (skipped)" if o.if_not_measured is IfNotMeasured.PASS else ""), "na")
    return ok_cell(o.ok)


def verdict_cell(verdict: str) -> Cell:
    return Cell("NOT MEASURED", "na") if verdict == "not measured" else ok_cell(verdict == "pass", "PASS", "FAIL")


def num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def fmt_utc(t, with_date: bool = True) -> str:
    t = num(t)
    if t is None:
        return "—"
    return utc(t).strftime("%Y-%m-%d %H:%M:%S UTC" if with_date else "%H:%M:%S")


def fmt_duration(s) -> str:
    s = num(s)
    if s is None:
        return "—"
    sign, s = ("-" if s < 0 else ""), abs(s)
    if s < 60:
        return f"{sign}{s:.0f} s" if s >= 10 or s == int(s) else f"{sign}{s:.1f} s"
    if s < 3600:
        return f"{sign}{int(s // 60)} min {int(s % 60):02d} s"
    return f"{sign}{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def relative(t, zero) -> str:
    t, zero = num(t), num(zero)
    if t is None:
        return "—"
    if zero is None:
        return fmt_utc(t, with_date=False)
    d = t - zero
    return f"T{'+' if d >= 0 else '−'}{fmt_duration(abs(d))} ({fmt_utc(t, with_date=False)})"


def not_checked(why: str | None) -> Cell:
    """A money measure that could not be taken: never a number, never a loss."""
    return Cell(f"not checked: {why}", "na") if why else Cell("—")


def money_text(amounts, money: Money) -> str:
    """Per-currency minor units from the journal in each currency's own exponent: "JPY 6,235, KWD 6.235"."""
    if amounts is None:
        return "— (not measured)"
    if not amounts:
        return "0"
    if not isinstance(amounts, dict):
        return str(amounts)
    return ", ".join(money(v, str(cur)) if (v := num(raw)) is not None else f"{cur} {raw}"
                     for cur, raw in sorted(amounts.items()))


_CURRENCY = re.compile(r"(?:^|, )currency=([A-Za-z]{3})(?:,|$)")


def currency_of(legend: str) -> str | None:
    """The currency a series is in, from its legend (`currency=JPY`, as the runner writes it), or None."""
    m = _CURRENCY.search(legend) or re.fullmatch(r"([A-Z]{3})", legend)
    return m.group(1).upper() if m else None
