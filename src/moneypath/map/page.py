"""The map as one self-contained HTML page: the SVG inline, scaled to fit the window (1920×1080 without scrolling)
and to print on one A4 landscape page; a header naming the catalogs and when the health was read."""

from __future__ import annotations

import time
from collections.abc import Collection
from html import escape

from moneypath.map.graph import MoneyPathMap
from moneypath.map.marks import MapHealth
from moneypath.map.render import default_title, render_svg

# The SVG fills what the header leaves: its viewBox keeps the aspect, so it scales down and never scrolls.
STYLE = """
html, body { margin: 0; padding: 0; height: 100%; background: #ffffff; color: #263238;
  font-family: DejaVu Sans, Verdana, Arial, Helvetica, sans-serif; }
body { display: flex; flex-direction: column; box-sizing: border-box; padding: 8px 12px; }
header { flex: 0 0 auto; display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
header p { font-size: 12px; margin: 0; color: #5f6368; }
header p.unanswered { color: #b71c1c; font-weight: bold; }
main { flex: 1 1 auto; min-height: 0; display: flex; justify-content: center; align-items: center; }
main svg .title, main svg .subtitle { display: none; }  /* the header says it */
main svg { width: 100%; height: 100%; max-width: 100%; max-height: 100%; display: block; }
@page { size: A4 landscape; margin: 8mm; }
@media print {
  html, body { height: auto; overflow: visible; }
  body { display: block; padding: 0; width: 281mm; }
  main { display: block; height: 180mm; width: 281mm; }
  main svg { width: 281mm; height: 180mm; }
  header { height: 10mm; }
}
"""


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at)) if at is not None else ""


def render_page(graph: MoneyPathMap, health: MapHealth | None = None, highlight: Collection[str] = (),
                title: str | None = None) -> str:
    """A self-contained HTML page with the map: no script, font or image fetched from anywhere."""
    title = title or default_title(graph)
    return page_of(render_svg(graph, health=health, highlight=highlight, title=title), graph, health, title)


def page_of(svg: str, graph: MoneyPathMap, health: MapHealth | None, title: str) -> str:
    """The page around an SVG render_svg drew (so a command writing both lays the map out once)."""
    catalogs = ", ".join(c.path for c in graph.catalogs.values())
    if health is None:
        state = "not live: no health read (moneypath map --prometheus URL colours it)"
    elif health.answered is False:
        state = (f"not measured: Prometheus {health.source} did not answer at {_when(health.at)}: "
                 f"{health.problem.removeprefix('not measured: ')}")
    else:
        state = f"health read {_when(health.at)}" + (f" from {health.source}" if health.source else "")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1><p class=\"catalogs\">catalog: {escape(catalogs)}</p>"
        f"<p class=\"health{' unanswered' if health is not None and health.answered is False else ''}\">"
        f"{escape(state)}</p></header>\n"
        f"<main>\n{svg}</main>\n</body>\n</html>\n"
    )
