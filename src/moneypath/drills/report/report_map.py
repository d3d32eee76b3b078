"""The report's "Money-path map" section: the drill's catalog's map as at the drill's end, the edges its fault hit
drawn as hit (moneypath.drills.map_hits), and the edges the alerts that paged read marked with those alerts: red for
a page, amber for a ticket. Every other edge is grey: a report's map is not a live read, so nothing is green.

HTML carries the SVG inline (the page stays one self-contained file); markdown links map.svg, written beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from moneypath._common.report import Cell, Markup, Para, Section, Table
from moneypath.catalog import CatalogError
from moneypath.drills.map_hits import AlertReads, Fault, hit_edges
from moneypath.drills.report.formatting import fmt_utc
from moneypath.drills.report.reading import JournalReading
from moneypath.map.graph import MoneyPathMap, build_map
from moneypath.map.layout import LayoutError
from moneypath.map.marks import MapHealth, Mark, State

if TYPE_CHECKING:
    from moneypath.catalog import Catalog

MAP_FILE = "map.svg"
TITLE = "Money-path map"
GREY_WHY = "as at the drill's end: no alert reading its signals paged (a report's map is not a live read)"


@dataclass
class MapDrawing:
    section: Section
    svg: str | None = None  # written as MAP_FILE beside the report
    hits: dict[str, str] | None = None  # edge id → why the fault hit it
    health: MapHealth | None = None


def _note(text: str) -> MapDrawing:
    return MapDrawing(Section(TITLE, [Para(text, "note")]))


def drill_health(jn: JournalReading, graph: MoneyPathMap, reads: AlertReads) -> MapHealth:
    """Each edge an alert that paged reads: red (a page) or amber (a ticket) naming the alerts; every other edge
    grey. Nodes carry no mark: the report judges the money's movements, not its places."""
    rows = [a for a in jn.alerts if a.get("paged_at") is not None and a.get("alert")]
    health = MapHealth(at=jn.finished_at,
                       source=f"not live: as at the drill's end ({fmt_utc(jn.finished_at)}), the alerts that paged")
    for edge in graph.edges:
        alerts, roles, state = [], [], State.GREY
        for row in rows:
            read = reads.reads(edge, str(row["alert"]), row.get("labels") or None)
            if not read:
                continue
            name = reads.name(str(row["alert"])) or str(row["alert"])
            alerts.append(name)
            roles += [r for r in read if r not in roles]
            level = State.RED if reads.severity.get(name) == "page" else State.AMBER
            state = max(state, level, key=lambda s: s.rank)
        if alerts:
            alerts = list(dict.fromkeys(alerts))
            health.edges[edge.id] = Mark(state, why=f"paged: {', '.join(alerts)} (reads its {', '.join(roles)} signal)",
                                         alerts=tuple(alerts))
        else:
            health.edges[edge.id] = Mark(State.GREY, why=GREY_WHY)
    return health


def map_section(jn: JournalReading, catalog: Catalog | None) -> MapDrawing:
    """The section, and the SVG to write beside the report (None: no map to draw, the section says why)."""
    if catalog is None:
        return _note("The money-path map is not drawn: the report was rendered without the drill's catalog "
                     "(`moneypath drill report JOURNAL --catalog FILE`).")
    if catalog.money_path is None:
        return _note(f"The money-path map is not declared in {catalog.path} (no money_path: section).")
    try:
        graph = build_map([catalog])
    except CatalogError as exc:
        return _note(f"The money-path map is not drawn: {exc}")
    from moneypath.map.render import render_svg  # the layout engine: loaded when a map is drawn

    reads = AlertReads(catalog)
    fault = Fault(jn.fault.get("where"), jn.fault.get("name"), jn.fault.get("target"))
    expected = [(str(a["alert"]), a.get("labels") or None) for a in jn.alerts
                if a.get("expectation") == "expected" and a.get("alert")]
    hits = hit_edges(graph, reads, fault, expected) if jn.injected_at is not None else {}
    health = drill_health(jn, graph, reads)
    try:
        svg = render_svg(graph, health, highlight=tuple(hits), title=f"{jn.drill}: as at the drill's end")
    except LayoutError as exc:  # no Graphviz here: the report says so, and is written all the same
        return _note(f"The money-path map is not drawn: {exc}")
    edges = {e.id: e for e in graph.edges}

    def name(edge_id: str) -> str:
        e = edges[edge_id]
        return f"{graph.nodes[e.source].label} → {graph.nodes[e.target].label}: {e.label}"

    shown = [e.id for e in graph.edges if e.id in hits or health.edges[e.id].state is not State.GREY]
    rows = [[Cell(name(i)), Cell(hits[i]) if i in hits else Cell("—"),
             Cell(health.edges[i].state.value, "bad" if health.edges[i].state is State.RED else "text"),
             Cell(", ".join(health.edges[i].alerts) or "none paged", "text" if health.edges[i].alerts else "na")]
            for i in shown]
    if fault.where is None:
        hit_text = "The drill injects no fault: no edge is drawn as hit."
    elif jn.injected_at is None:
        hit_text = "The fault was never injected: no edge is drawn as hit."
    else:
        hit_text = (f"The fault ({fault.name}) hit {len(hits)} edge(s), drawn as hit." if hits else
                    f"The fault ({fault.name}) reaches no edge of the map: its target and its expected alerts read "
                    "none of the edges' signals.")
    blocks = [
        Para(f"As at the drill's end ({fmt_utc(jn.finished_at)}), not a live read. {hit_text} Red: an alert that "
             "paged reads the edge's signals; amber: a ticket that did; grey: no alert reading it paged.", "note"),
        Markup(svg, [Cell("The map: "), Cell(MAP_FILE, "link", MAP_FILE), Cell(".")]),
        Table(["edge", "hit by the fault", "state", "alerts that paged"], rows,
              "no edge was hit and no alert reading an edge paged"),
    ]
    return MapDrawing(Section(TITLE, blocks), svg, hits, health)
