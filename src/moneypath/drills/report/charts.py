"""The drill report's PNG plots: each signal's series over the drill's timeline, money per currency."""

from __future__ import annotations

import math
import re
from pathlib import Path

from moneypath._common.plots import Series, draw_lines, finish, pyplot, save, utc
from moneypath._common.report import Cell, Image
from moneypath.drills.report.formatting import currency_of, fmt_duration, num
from moneypath.drills.report.reading import JournalReading

MINOR = "minor"  # a plot's unit for money in minor units, one series per currency (a `currency` label)


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:60] or "signal"


def _money_series(jn: JournalReading, series: list[Series]) -> set[str | None]:
    """A money plot (unit "minor") in each currency's major unit: JPY 6235 stays 6,235, KWD 6235 becomes 6.235.
    Returns the series' currencies (None: a series without one, left in minor units)."""
    currencies: set[str | None] = set()
    for s in series:
        cur = currency_of(s.name)
        currencies.add(cur)
        if cur is None:
            s.name += " (minor units)"
            continue
        per_unit = 10 ** jn.exponent(cur)
        s.name = cur if s.name in (cur, f"currency={cur}") else s.name
        s.values = [v / per_unit for v in s.values]
    return currencies


def _money_axis(jn: JournalReading, ax, currencies: set[str | None]) -> None:
    """Ticks in the currency when every series on the axis is in that one ("JPY 6,000", "KWD 6.235")."""
    if len(currencies) == 1 and None not in currencies:
        cur = next(iter(currencies))
        exp = jn.exponent(cur)
        ax.yaxis.set_major_formatter(lambda v, _: f"{cur} {v:,.{exp}f}")


def _plot_signal(jn: JournalReading, title: str, entry: dict, path: Path) -> None:
    """One plot of a journal series; money in several currencies gets an axis per currency (JPY 6,235 and
    KWD 6.235 on one scale would flatten the KWD line)."""
    unit = str(entry.get("unit") or "short")
    series = []
    for legend, points in sorted((entry.get("points") or {}).items()):
        pts = [(t, v) for p in points or [] if isinstance(p, list | tuple) and len(p) == 2
               if (t := num(p[0])) is not None for v in [num(p[1])]]
        series.append(Series(str(legend), [t for t, _ in pts], [math.nan if v is None else v for _, v in pts]))
    groups: list[tuple[str, list[Series], set[str | None]]] = [(title, series, set())]
    if unit == MINOR:
        currencies = _money_series(jn, series)
        if len(currencies) > 1:
            groups = [(f"{title}: {cur or 'no currency'}", [s for s in series if currency_of(s.name) == cur], {cur})
                      for cur in sorted(currencies, key=lambda c: c or "~")]
        else:
            groups = [(title, series, currencies)]
    plt = pyplot()
    fig, axes = plt.subplots(len(groups), 1, figsize=(8.5, 3.2 if len(groups) == 1 else 2.6 * len(groups)),
                             squeeze=False)
    for ax, (name, group, currencies) in zip(axes[:, 0], groups):
        _draw_signal(jn, ax, name, unit, group)
        if unit == MINOR:
            _money_axis(jn, ax, currencies)
    save(fig, path)


def _draw_signal(jn: JournalReading, ax, title: str, unit: str, series: list[Series]) -> None:
    drawn = [s for s in series if s.times]
    known = [t for t in (jn.started_at, jn.finished_at, jn.injected_at, jn.first_page, jn.resolved) if t is not None]
    known += [t for s in drawn for t in (min(s.times), max(s.times))]
    draw_lines(ax, drawn, (min(known), max(max(known), min(known) + 1)) if known else None)
    if drawn:  # legend beside the plot, so it hides neither the lines nor the marks
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    values = [v for s in drawn for v in s.values if not math.isnan(v)]
    if values:  # from 0 for non-negative signals, and headroom at the top for the mark labels
        lo, hi = min(min(values), 0.0), max(values)
        ax.set_ylim(lo, hi + max(hi - lo, 1e-9) * 0.45)
    marks = []
    if jn.injected_at is not None:
        end = jn.cleared_at or jn.finished_at or max((t for s in drawn for t in s.times), default=jn.injected_at)
        ax.axvspan(utc(jn.injected_at), utc(max(end, jn.injected_at)), color="#F2495C", alpha=0.12, linewidth=0,
                   label="fault window")
        marks.append((jn.injected_at, "fault injected", "#C4162A"))
    if jn.first_page is not None:
        marks.append((jn.first_page, "first page", "#FF9830"))
    if jn.resolved is not None:
        marks.append((jn.resolved, "resolved", "#37872D"))
    for row, (t, label, color) in enumerate(marks):
        ax.axvline(utc(t), color=color, linestyle="--", linewidth=1)
        if jn.zero is not None and t != jn.zero:
            label += f" T+{fmt_duration(t - jn.zero)}"
        ax.text(utc(t), 0.97 - 0.09 * row, f" {label}", transform=ax.get_xaxis_transform(), va="top", ha="left",
                fontsize=7, color=color, bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0, "pad": 1})
    finish(ax, title, unit, empty=not drawn)


def render_plots(jn: JournalReading, out: Path) -> list[Image]:
    images = []
    series = jn.j.get("series") or {}
    for i, (title, entry) in enumerate(series.items() if isinstance(series, dict) else [], start=1):
        entry = entry if isinstance(entry, dict) else {}
        name = f"plot-{i:02d}-{_slug(str(title))}.png"
        _plot_signal(jn, str(title), entry, out / name)
        query = str(entry.get("query") or "")
        caption = [Cell("Query: "), Cell(query, "code")] if query else []
        if entry.get("not_data"):  # the conservation of counts or counters gone backwards: not the run's rates
            caption += [Cell(f" Not measured: {entry['not_data']}", "bad")]
        images.append(Image(str(title), name, caption or ""))
    return images
