"""`moneypath snapshot`: the overview dashboard rendered from Prometheus into PNGs and one HTML page.

For whoever has no Grafana at hand (a drill report, a post-incident review): the same
panels, queries, units and threshold colors as the generated overview dashboard, from the
Prometheus HTTP API (query_range for graphs and stats, instant queries for tables).
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import httpx

from moneypath._common.plots import Series, draw_lines, finish, fmt_value, pyplot, save
from moneypath.catalog import Catalog, duration_seconds
from moneypath.generate.dashboards import dashboard_uid, dashboards, expand

COLORS = {"green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "yellow": "#FADE2A", "dark-red": "#C4162A",
          "blue": "#5794F2"}


class SnapshotError(Exception):
    pass


def _legend(fmt: str, labels: dict[str, str]) -> str:
    if not fmt or fmt == "__auto":
        inner = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")
        return labels.get("__name__", "") + ("{" + inner + "}" if inner else "") or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def threshold_color(panel: dict, v: float | None) -> str:
    """The color Grafana would give v from the panel's thresholds and value mappings."""
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    for mapping in defaults.get("mappings", []):
        hit = mapping.get("options", {}).get(str(int(v)) if v is not None and float(v).is_integer() else "")
        if hit and hit.get("color"):
            return COLORS.get(hit["color"], hit["color"])
    color = "green"
    for step in defaults.get("thresholds", {}).get("steps", []):
        if step.get("value") is None or (v is not None and v >= step["value"]):
            color = step["color"]
    return COLORS.get(color, color)


class Prometheus:
    def __init__(self, url: str, timeout_s: float = 15.0):
        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=timeout_s)

    def _get(self, path: str, params: dict) -> list[dict]:
        try:
            r = self.client.get(f"{self.url}{path}", params=params)
        except httpx.TransportError as exc:
            raise SnapshotError(f"cannot reach Prometheus at {self.url}: {type(exc).__name__}") from exc
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        if r.status_code != 200 or body.get("status") != "success":
            raise SnapshotError(f"Prometheus at {self.url} refused {params['query']!r}: "
                                f"{body.get('error', r.text[:200])}")
        return body["data"]["result"]

    def range(self, query: str, start: float, end: float, step: float) -> list[dict]:
        return self._get("/api/v1/query_range", {"query": query, "start": start, "end": end, "step": step})

    def instant(self, query: str, at: float) -> list[dict]:
        return self._get("/api/v1/query", {"query": query, "time": at})


def _series(result: list[dict], legend: str) -> list[Series]:
    out = []
    for item in result:
        points = item.get("values") or ([item["value"]] if "value" in item else [])
        out.append(Series(_legend(legend, item["metric"]), [float(t) for t, _ in points],
                          [float(v) for _, v in points]))
    return sorted(out, key=lambda s: s.name)


def _plot(panel: dict, series: list[Series], path: Path) -> None:
    plt = pyplot()
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    kind = panel["type"]
    if kind in ("stat", "gauge"):
        fig, axes = plt.subplots(1, max(len(series), 1), figsize=(2.4 * max(len(series), 1), 1.8), squeeze=False)
        for ax, s in zip(axes[0], series or [Series("no data", [], [])]):
            last = s.values[-1] if s.values else None
            ax.set_facecolor(threshold_color(panel, last))
            ax.text(0.5, 0.55, fmt_value(last, unit),
                    ha="center", va="center", fontsize=17, color="white", weight="bold", transform=ax.transAxes)
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
            ax.barh(names, values, color=[threshold_color(panel, v) for v in values])
            for i, v in enumerate(values):
                ax.text(v, i, " " + fmt_value(v, unit), va="center", fontsize=8)
        else:
            draw_lines(ax, series)
            for step in panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])[1:]:
                if step.get("value") is not None and panel["fieldConfig"]["defaults"].get("custom", {}).get(
                        "thresholdsStyle", {}).get("mode", "off") != "off":
                    ax.axhline(step["value"], color=COLORS.get(step["color"], step["color"]), linestyle="--",
                               linewidth=0.8)
        finish(ax, panel["title"], unit, empty=not series)
    save(fig, path)


def _mapped_text(panel: dict, v: float | None) -> str:
    if v is None or not float(v).is_integer():
        return ""
    for mapping in panel.get("fieldConfig", {}).get("defaults", {}).get("mappings", []):
        hit = mapping.get("options", {}).get(str(int(v)))
        if hit and hit.get("text"):
            return hit["text"]
    return ""


def _table_html(panel: dict, rows: list[dict]) -> str:
    excluded = set()
    for t in panel.get("transformations", []):
        if t.get("id") == "organize":
            excluded |= {k for k, v in t["options"].get("excludeByName", {}).items() if v}
    if not rows:
        empty = panel.get("fieldConfig", {}).get("defaults", {}).get("noValue", "no data")
        return f"<p class=empty>{html.escape(empty)}</p>"
    cols = sorted({k for r in rows for k in r["metric"]} - excluded - {"__name__"})
    show_value = "Value" not in excluded
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols) + ("<th>state</th>" if show_value else "")
    body = []
    for r in sorted(rows, key=lambda r: (-float(r["value"][1]), sorted(r["metric"].items()))):
        cells = []
        for c in cols:
            v = r["metric"].get(c, "")
            cells.append(f'<td><a href="{html.escape(v)}">runbook</a></td>' if c == "runbook_url" and v
                         else f"<td>{html.escape(v)}</td>")
        if show_value:
            v = float(r["value"][1])
            cells.append(f'<td style="background:{threshold_color(panel, v)}">'
                         f"{html.escape(_mapped_text(panel, v) or fmt_value(v, 'short'))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def snapshot(c: Catalog, prometheus_url: str, out_dir: Path, range_: str = "15m", progress=print,
             now: float | None = None) -> Path:
    """Render every panel of the overview dashboard; returns the HTML page."""
    span = duration_seconds(range_)
    if span <= 0:
        raise SnapshotError(f"--range must be positive, got {range_!r}")
    end = now or time.time()
    start = end - span
    step = max(span / 240, 1.0)
    rate = f"{max(int(step * 4), 60)}s"
    doc = dashboards(c)[dashboard_uid(c, "overview")]
    prom = Prometheus(prometheus_url)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections: list[str] = []
    for panel in doc["panels"]:
        if panel["type"] == "row":
            sections.append(f"<h2>{html.escape(panel['title'])}</h2>")
            continue
        links = "".join(f' <a href="{html.escape(link["url"])}">{html.escape(link["title"])}</a>'
                        for link in panel.get("links", []))
        desc = f"<p class=desc>{html.escape(panel.get('description', ''))}{links}</p>"
        if panel["type"] == "table":
            rows = [r for t in panel["targets"] for r in prom.instant(expand(t["expr"], rate), end)]
            sections.append(f"<div class='panel wide'><h3>{html.escape(panel['title'])}</h3>{desc}"
                            f"{_table_html(panel, rows)}</div>")
            progress(f"table {panel['title']}: {len(rows)} rows")
            continue
        series = [s for t in panel["targets"]
                  for s in _series(prom.range(expand(t["expr"], rate), start, end, step), t.get("legendFormat", ""))]
        name = f"panel-{panel['id']:02d}-{re.sub(r'[^a-z0-9]+', '-', panel['title'].lower()).strip('-')}.png"
        _plot(panel, series, out_dir / name)
        wide = " wide" if panel["type"] in ("timeseries", "bargauge") or len(series) > 1 else ""
        sections.append(f"<div class='panel{wide}'><img src='{name}' alt='{html.escape(panel['title'])}'>{desc}</div>")
        progress(f"{panel['type']:<10} {panel['title']}: {len(series)} series → {name}")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(end))
    page = out_dir / "index.html"
    page.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(doc['title'])} — snapshot {stamp}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; background: #fafafa; color: #222; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.panel {{ background: white; border: 1px solid #ddd; padding: 8px; max-width: 420px; }}
.panel.wide {{ max-width: 720px; }}
.panel img {{ max-width: 100%; }}
.desc {{ font-size: 12px; color: #555; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ccc; padding: 3px 6px; }}
.empty {{ color: #2a7; }} h2 {{ flex-basis: 100%; margin: 0.4em 0 0; }}
</style></head><body>
<h1>{html.escape(doc['title'])}</h1>
<p>Snapshot of the last {html.escape(range_)} ending {stamp}, from Prometheus {html.escape(prom.url)}.
Same panels, queries and thresholds as the Grafana dashboard <code>{html.escape(doc['uid'])}</code>.</p>
<div class="grid">
{chr(10).join(sections)}
</div></body></html>
""", encoding="utf-8")
    return page
