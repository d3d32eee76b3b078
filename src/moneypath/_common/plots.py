"""Prometheus series as PNG line plots (matplotlib, Agg backend, UTC clock on x, units on y).

Shared by `moneypath snapshot` (dashboard panels) and the drill report (key signals with the
fault window, page and resolve marked). Callers draw on an Axes, then `finish` and `save`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PALETTE = ("#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9", "#705DA0")


@dataclass
class Series:
    name: str
    times: list[float]
    values: list[float]


def fmt_value(v: float | None, unit: str) -> str:
    if v is None or math.isnan(v):
        return "no data"
    if math.isinf(v):
        return "∞"
    if unit == "percentunit":
        return f"{v * 100:.3g}%"
    if unit == "s":
        return f"{v * 1000:.3g} ms" if abs(v) < 1 else f"{v:.3g} s"
    if unit == "ms":
        return f"{v:.3g} ms"
    if unit == "currencyUSD":
        return f"${v:.4f}" if abs(v) < 1 else f"${v:,.2f}"
    if unit == "reqps":
        return f"{v:.3g} req/s"
    if unit == "ops":
        return f"{v:.3g} ops/s"
    if unit.startswith("suffix:"):
        return f"{v:.3g}{unit.removeprefix('suffix:')}"
    return f"{v:.4g}"


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def draw_lines(ax, series: list[Series], span: tuple[float, float] | None = None) -> None:
    """One line per series against UTC clock time (seconds shown on ranges under an hour), with a legend.

    span (epoch seconds) fixes the x range, e.g. to a drill's start and end when a series is missing.
    """
    import matplotlib.dates as mdates

    for i, s in enumerate(series):
        ax.plot([utc(t) for t in s.times], s.values, label=s.name, color=PALETTE[i % len(PALETTE)], linewidth=1.2)
    times = [t for s in series for t in s.times]
    if span is not None:
        ax.set_xlim(utc(span[0]), utc(span[1]))
        times = list(span)
    short = bool(times) and max(times) - min(times) < 3600
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S" if short else "%H:%M", tz=UTC))
    ax.set_xlabel("UTC", fontsize=7)
    if series:
        ax.legend(fontsize=7, loc="upper left", ncol=2)


def finish(ax, title: str, unit: str, empty: bool) -> None:
    """Values on y in the panel's unit, the title, a light grid, and "no data" over an empty plot."""
    ax.yaxis.set_major_formatter(lambda v, _: fmt_value(v, unit))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if empty:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")


def save(fig, path: Path, dpi: int = 90) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
