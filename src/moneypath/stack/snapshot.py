"""`moneypath snapshot`: the overview dashboard rendered from Prometheus into PNGs and one HTML page.

For whoever has no Grafana at hand (a drill report, a post-incident review): the same
panels, queries, units and threshold colors as the generated overview dashboard, from the
Prometheus HTTP API (query_range for graphs and stats, instant queries for tables). The page is
a moneypath._common.report document: a section per dashboard row, a figure per panel.

Each series reads as Grafana shows it, field overrides included: money, queried in its currency's own
unit with a per-currency override (unit `prefix:KWD `, decimals 3), reads "JPY 6,235" and "KWD 6.235"
(through the catalog's Catalog.money), with the override's thresholds.

On a compressed stack (`moneypath up --time-factor N`, moneypath.generate.compress) the panels' own windows
are divided by N as its rules' are: a production `[5m]` on a 60x stack spans five hours of its time, and
a fix made minutes ago would not show.

A catalog with a `money_path:` section gets its map drawn at the top with live colours (snapshot_map), what the
map dashboard's Node Graph shows.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

from moneypath._common.atomic import write_text
from moneypath._common.plots import Series, draw_lines, finish, fmt_value, pyplot, save
from moneypath._common.prometheus import Prometheus, PrometheusError, QueryRange
from moneypath._common.report import Cell, Document, Image, Para, Section, Table
from moneypath.catalog import Catalog, duration_seconds
from moneypath.generate.compress import RANGE_FLOOR_S, scale_expr
from moneypath.generate.dashboards import dashboard_uid, dashboards, expand
from moneypath.stack.snapshot_map import map_section

COLORS = {"green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "yellow": "#FADE2A", "dark-red": "#C4162A",
          "blue": "#5794F2"}


class SnapshotError(Exception):
    pass


def _legend(fmt: str, labels: dict[str, str]) -> str:
    if not fmt or fmt == "__auto":
        inner = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")
        return labels.get("__name__", "") + ("{" + inner + "}" if inner else "") or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def field(panel: dict, name: str | None = None) -> dict:
    """The field config of the series called `name`: the panel's defaults with its byName overrides applied."""
    config = panel.get("fieldConfig", {})
    out = dict(config.get("defaults", {}))
    for override in config.get("overrides", []) if name is not None else []:
        matcher = override.get("matcher", {})
        if matcher.get("id") == "byName" and matcher.get("options") == name:
            out.update({p["id"]: p.get("value") for p in override.get("properties", []) if "id" in p})
    return out


def value_text(c: Catalog, config: dict, v: float | None) -> str:
    """v as the field shows it: money ("JPY 6,235", "KWD 6.235") when its unit is a catalog currency's prefix."""
    unit = str(config.get("unit") or "short")
    if unit.startswith("prefix:") and v is not None and math.isfinite(v):
        prefix = unit.removeprefix("prefix:")
        currency = prefix.strip()
        if currency in c.currencies:  # the query divided by 10^exponent: back to minor units, then read as money
            return c.money(round(v * 10 ** c.exponent(currency)), currency)
        decimals = config.get("decimals")
        return f"{prefix}{v:,.{decimals}f}" if isinstance(decimals, int) else f"{prefix}{v:.4g}"
    return fmt_value(v, unit)


def threshold_color(panel: dict, v: float | None, name: str | None = None) -> str:
    """The color Grafana would give v from the thresholds and value mappings (series `name`'s, overrides too)."""
    defaults = field(panel, name)
    for mapping in defaults.get("mappings", []):
        hit = mapping.get("options", {}).get(str(int(v)) if v is not None and float(v).is_integer() else "")
        if hit and hit.get("color"):
            return COLORS.get(hit["color"], hit["color"])
    color = "green"
    for step in defaults.get("thresholds", {}).get("steps", []):
        if step.get("value") is None or (v is not None and v >= step["value"]):
            color = step["color"]
    return COLORS.get(color, color)


def _series(result: list[dict], legend: str) -> list[Series]:
    out = []
    for item in result:
        points = item.get("values") or ([item["value"]] if "value" in item else [])
        out.append(Series(_legend(legend, item["metric"]), [float(t) for t, _ in points],
                          [float(v) for _, v in points]))
    return sorted(out, key=lambda s: s.name)


def _plot(c: Catalog, panel: dict, series: list[Series], path: Path) -> None:
    plt = pyplot()
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    kind = panel["type"]
    if kind in ("stat", "gauge"):
        fig, axes = plt.subplots(1, max(len(series), 1), figsize=(2.4 * max(len(series), 1), 1.8), squeeze=False)
        for ax, s in zip(axes[0], series or [Series("no data", [], [])]):
            last = s.values[-1] if s.values else None
            ax.set_facecolor(threshold_color(panel, last, s.name))
            text = value_text(c, field(panel, s.name), last)
            ax.text(0.5, 0.55, text, ha="center", va="center", fontsize=17 if len(text) <= 9 else 13,
                    color="white", weight="bold", transform=ax.transAxes)
            mapped = _mapped_text(panel, last)
            ax.text(0.5, 0.18, mapped or s.name, ha="center", va="center", fontsize=8, color="white",
                    transform=ax.transAxes)
            if len(s.values) > 1:
                ax2 = ax.twinx()
                ax2.fill_between(range(len(s.values)), s.values, color="white", alpha=0.25)
                ax2.set_axis_off()
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(panel["title"], fontsize=10)
    else:
        fig, ax = plt.subplots(figsize=(7.5, 3.2))
        if kind == "bargauge":
            names = [s.name for s in series]
            values = [s.values[-1] if s.values else 0 for s in series]
            ax.barh(names, values, color=[threshold_color(panel, v, n) for v, n in zip(values, names)])
            for i, (v, n) in enumerate(zip(values, names)):
                ax.text(v, i, " " + value_text(c, field(panel, n), v), va="center", fontsize=8)
        else:
            draw_lines(ax, series)
            for step in panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])[1:]:
                if step.get("value") is not None and panel["fieldConfig"]["defaults"].get("custom", {}).get(
                        "thresholdsStyle", {}).get("mode", "off") != "off":
                    ax.axhline(step["value"], color=COLORS.get(step["color"], step["color"]), linestyle="--",
                               linewidth=0.8)
        finish(ax, panel["title"], unit, empty=not series)
        if kind == "bargauge":  # one bar per series, named as Grafana names it; values along x in the unit
            ax.set_yticks(range(len(names)), names, fontsize=8)
            ax.xaxis.set_major_formatter(lambda v, _: fmt_value(v, unit))
        else:
            _axis_units(c, panel, series, ax)
    save(fig, path)


def _axis_units(c: Catalog, panel: dict, series: list[Series], ax) -> None:
    """A graph whose series have their own units (overrides: money per currency): ticks in that unit when
    all share one ("KWD 6.000"), else plain numbers and a label saying each series has its own."""
    units = {str(field(panel, s.name).get("unit") or "short") for s in series}
    default = str(panel.get("fieldConfig", {}).get("defaults", {}).get("unit") or "short")
    if units <= {default}:
        return
    if len(units) == 1:
        config = field(panel, series[0].name)
        ax.yaxis.set_major_formatter(lambda v, _: value_text(c, config, v))
    else:
        ax.yaxis.set_major_formatter(lambda v, _: fmt_value(v, "short"))
        ax.set_ylabel("each series in its own unit", fontsize=7)


def _mapped_text(panel: dict, v: float | None) -> str:
    if v is None or not float(v).is_integer():
        return ""
    for mapping in panel.get("fieldConfig", {}).get("defaults", {}).get("mappings", []):
        hit = mapping.get("options", {}).get(str(int(v)))
        if hit and hit.get("text"):
            return hit["text"]
    return ""


def _table(panel: dict, rows: list[dict]) -> Table | Para:
    excluded = set()
    for t in panel.get("transformations", []):
        if t.get("id") == "organize":
            excluded |= {k for k, v in t["options"].get("excludeByName", {}).items() if v}
    if not rows:
        return Para(panel.get("fieldConfig", {}).get("defaults", {}).get("noValue", "no data"), "ok")
    cols = sorted({k for r in rows for k in r["metric"]} - excluded - {"__name__"})
    show_value = "Value" not in excluded
    body = []
    for r in sorted(rows, key=lambda r: (-float(r["value"][1]), sorted(r["metric"].items()))):
        cells = []
        for c in cols:
            v = r["metric"].get(c, "")
            cells.append(Cell("runbook", "link", v) if c == "runbook_url" and v else Cell(v))
        if show_value:
            v = float(r["value"][1])
            cells.append(Cell(_mapped_text(panel, v) or fmt_value(v, "short"), color=threshold_color(panel, v)))
        body.append(cells)
    return Table(cols + (["state"] if show_value else []), body)


def _description(panel: dict) -> list[Cell]:
    links = [run for link in panel.get("links", []) for run in (Cell(" "), Cell(link["title"], "link", link["url"]))]
    return [Cell(panel.get("description", "")), *links]


@dataclass(frozen=True)
class SnapshotSpan:
    """The time a snapshot shows: the last `range_` (a duration: "15m") ending `now` (None: when it runs)."""

    range_: str = "15m"
    now: float | None = None


def snapshot(c: Catalog, prometheus_url: str, out_dir: Path, shown: SnapshotSpan = SnapshotSpan(), progress=print,
             time_factor: float = 1.0, board: str = "overview") -> Path:
    """Render every panel of a generated dashboard (`board`: overview, readiness, …), its windows divided by
    `time_factor` (the stack's compression); returns the HTML page."""
    range_, now = shown.range_, shown.now
    span = duration_seconds(range_)
    if span <= 0:
        raise SnapshotError(f"--range must be positive, got {range_!r}")
    if not (math.isfinite(time_factor) and time_factor >= 1):
        raise SnapshotError(f"--time-factor must be at least 1, got {time_factor:g}")
    end = now or time.time()
    start = end - span
    step = max(span / 240, 1.0)
    boards = dashboards(c)
    doc = boards.get(dashboard_uid(c, board))
    if doc is None:
        names = sorted(uid.removeprefix(f"{c.namespace}-") for uid in boards if uid != c.links.overview_dashboard)
        raise SnapshotError(f"no dashboard {board!r} for this catalog (known: overview, {', '.join(names)})")
    prom = Prometheus(prometheus_url)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        sections = _panels(c, doc, prom, out_dir, QueryRange(start, end, step), progress, time_factor)
    except PrometheusError as exc:
        raise SnapshotError(str(exc)) from None
    finally:
        prom.close()
    drawn = map_section(c, prometheus_url, out_dir, progress)  # the money-path map, when the catalog has one
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(end))
    intro = Section("", [Para([
        Cell(f"Snapshot of the last {range_} ending {stamp}, from Prometheus {prom.url}. Same panels, queries and "
             "thresholds as the Grafana dashboard "), Cell(doc["uid"], "code"),
        Cell(f"; its windows divided by {time_factor:g}, the stack's time compression (a [5m] reads "
             f"[{scale_expr('[5m]', time_factor)[1:-1]}])." if time_factor != 1 else ".")])])
    page = out_dir / "index.html"
    write_text(page, Document(doc["title"], [intro, *([drawn] if drawn else []), *sections],
                              page_title=f"{doc['title']} — snapshot {stamp}", escape="table").to_html())
    return page


def _panels(c: Catalog, doc: dict, prom: Prometheus, out_dir: Path, window: QueryRange, progress,
            time_factor: float = 1.0) -> list[Section]:
    """A section per dashboard row: the row's tables, and its other panels as PNG figures."""
    start, end, step = window.start, window.end, window.step
    # $__rate_interval as Grafana's: 4 steps, at least a minute of production time (on a compressed stack less)
    rate = f"{max(int(step * 4), math.ceil(max(60 / time_factor, RANGE_FLOOR_S)))}s"

    def query(expr: str) -> str:  # the panel's own windows compressed as the stack's rules are
        return expand(scale_expr(expr, time_factor), rate)

    sections = [Section("")]
    for panel in doc["panels"]:
        if panel["type"] == "row":
            sections.append(Section(panel["title"]))
            continue
        if panel["type"] == "nodeGraph":  # the money-path map: drawn above as an SVG (snapshot_map)
            progress(f"{panel['type']:<10} {panel['title']}: drawn as the money-path map")
            continue
        if panel["type"] == "table":
            rows = [r for t in panel["targets"] for r in prom.instant(query(t["expr"]), end)]
            # a table alone in a row of the same name: no second heading saying the same
            title = "" if panel["title"] == sections[-1].title else panel["title"]
            sections[-1].blocks.append(Section(title, [Para(_description(panel), "note"), _table(panel, rows)]))
            progress(f"table {panel['title']}: {len(rows)} rows")
            continue
        series = [s for t in panel["targets"]
                  for s in _series(prom.range(query(t["expr"]), start, end, step), t.get("legendFormat", ""))]
        name = f"panel-{panel['id']:02d}-{re.sub(r'[^a-z0-9]+', '-', panel['title'].lower()).strip('-')}.png"
        _plot(c, panel, series, out_dir / name)
        sections[-1].blocks.append(Image(panel["title"], name, _description(panel)))
        progress(f"{panel['type']:<10} {panel['title']}: {len(series)} series → {name}")
    return [s for s in sections if s.title or s.blocks]
