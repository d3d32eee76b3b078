"""The money-path dashboard (while the catalog declares `money_path:`): the map as a Grafana Node Graph, each node
and edge coloured from its signals and the alerts reading them (map_queries), and a table of the money movements
with why each has its colour. Node and edge ids are the map's (`moneypath.map.graph.build_map`)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import nodegraph, table
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm

from moneypath.catalog import Catalog
from moneypath.generate.dashboards.map_queries import (
    COLORS,
    SLI_WINDOW,
    WORDS,
    alerts_on_map,
    edges_query,
    nodes_query,
)
from moneypath.generate.dashboards.panels import DS, NO_DATA, AlertRef, Board, neutral, q, with_no_data
from moneypath.map.graph import build_map
from moneypath.map.marks import State

NODES_REF, EDGES_REF = "A", "B"


def _organize(exclude: list[str], rename: dict[str, str]) -> dm.DataTransformerConfig:
    return dm.DataTransformerConfig(id_val="organize", options={
        "excludeByName": {name: True for name in exclude}, "renameByName": rename})


def legend() -> str:
    return ", ".join(f"{WORDS[s]} ({COLORS[s]})" for s in (State.RED, State.AMBER, State.GREEN, State.GREY))


def money_map(c: Catalog, refs: dict[str, AlertRef]) -> Board | None:
    if c.money_path is None:
        return None
    graph = build_map([c])
    rules = (f"Red while a paging alert reading one of an edge's signals fires; amber while such a ticket alert fires "
             f"or an SLO made of its signals is beyond its objective ({SLI_WINDOW}); green while its signals have data; "
             "grey when not measured. A node takes its worst edge's colour.")
    # Prometheus' table frames: labels as fields, the value as "Value #<ref>" (two queries); the Node Graph reads
    # nodes (id, title, subtitle, mainstat, secondarystat, color, detail__*) and edges (id, source, target, ...).
    graph_panel = (nodegraph.Panel().title("Money path").description(
        f"Where money moves (the catalog's money_path section) and what is red now. {rules} Edge main stat: its rate "
        "signal per second; secondary: why it has its colour.")
        .datasource(DS).unit("reqps").mappings(with_no_data()).no_value(NO_DATA)
        .targets([q(nodes_query(c, graph), "", NODES_REF, instant=True, fmt="table"),
                  q(edges_query(c, graph), "", EDGES_REF, instant=True, fmt="table")])
        .with_transformation(_organize(["Time", f"Value #{NODES_REF}"], {"state": "mainstat",
                                                                        f"Value #{EDGES_REF}": "mainstat"}))
        .nodes(nodegraph.NodeOptions()).edges(nodegraph.EdgeOptions().main_stat_unit("/s"))
        .span(24).height(18))
    movements = (table.Panel().title("Money movements now")
                 .description(f"Each edge of the map: its state, why, and its rate signal per second. {legend()}.")
                 .unit("reqps").datasource(DS).align(common.FieldTextAlignment.AUTO).inspect(False)
                 .targets([q(edges_query(c, graph, ("color", "state", "secondarystat")), "", instant=True, fmt="table")])
                 .with_transformation(_organize(["Time", "color", "detail__label"], {
                     "id": "edge", "source": "from", "target": "to", "detail__movement": "movement",
                     "secondarystat": "why", "Value": "per second"}))
                 .mappings(with_no_data()).no_value(NO_DATA).thresholds(neutral())
                 .span(24).height(min(4 + len(graph.edges), 16)))
    alerts = [refs[name] for name in alerts_on_map(c, graph) if name in refs]
    return Board("map", "Money path: map", "The money-path map (Node Graph) coloured live from its signals and alerts, "
                 "and its money movements.", alerts, rows=[("Map", [graph_panel]), ("Movements", [movements])])
