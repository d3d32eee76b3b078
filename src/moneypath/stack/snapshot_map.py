"""The snapshot's money-path map: the catalog's `money_path:` section drawn (moneypath.map.render) with the live
colours read from the same Prometheus (moneypath.map.live_health), as an SVG beside the panels' PNGs. What the
dashboard's Node Graph shows, for whoever has no Grafana; no section when the catalog declares no money path."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from moneypath._common.atomic import write_text
from moneypath._common.report import Cell, Image, Para, Section
from moneypath.catalog import Catalog
from moneypath.map.graph import build_map
from moneypath.map.marks import MapHealth, State

MAP_FILE = "money-path.svg"
TITLE = "Money path"


def _read_live(graph, prometheus_url: str) -> MapHealth:
    from moneypath.map.live_health import (
        read_health,  # the live map's reader: the same rules as `moneypath map --prometheus`
    )

    return read_health(graph, prometheus_url)


def map_section(c: Catalog, prometheus_url: str, out_dir: Path, progress=print,
                read: Callable[..., MapHealth] | None = None) -> Section | None:
    """The map drawn into `out_dir`/money-path.svg with its live colours, as a page section; None without a money
    path. When the map cannot be drawn (Graphviz missing) the section says why instead of failing the snapshot."""
    if c.money_path is None:
        return None
    from moneypath.map.layout import LayoutError
    from moneypath.map.render import render_svg

    graph = build_map([c])
    health = (read or _read_live)(graph, prometheus_url)
    try:
        svg = render_svg(graph, health)
    except LayoutError as exc:
        progress(f"map        not drawn: {exc}")
        return Section(TITLE, [Para(f"The money-path map is not drawn: {exc}", "bad")])
    write_text(out_dir / MAP_FILE, svg)
    counts = {s: sum(1 for m in health.edges.values() if m.state is s) for s in State}
    at = time.strftime("%H:%M:%S UTC", time.gmtime(health.at)) if health.at else "now"
    caption = [Cell(f"Each movement of the catalog's money_path section, coloured from {health.source or prometheus_url} "
                    f"at {at}: {counts[State.RED]} red, {counts[State.AMBER]} amber, {counts[State.GREEN]} green, "
                    f"{counts[State.GREY]} not measured — the rules of the dashboard's Node Graph "),
               Cell(f"{c.namespace}-map", "code"), Cell(".")]
    progress(f"map        {len(graph.nodes)} nodes, {len(graph.edges)} edges → {MAP_FILE}")
    return Section(TITLE, [Image(TITLE, MAP_FILE, caption, wide=True)])
