"""The money-path dashboard: a Node Graph whose two frames (nodes, edges) come from instant table queries built
from `build_map`'s graph, coloured by the alerts reading each edge's signals; absent without `money_path:`.
(Run against a real Prometheus: tests/integration/generate/test_dashboards_live.py.)"""

from __future__ import annotations

import re

import promql_parser
import pytest

from moneypath.generate import dashboards as d
from moneypath.generate.dashboards import map_queries as mq
from moneypath.map.graph import MapEdge, build_map
from moneypath.map.marks import State


@pytest.fixture(scope="module")
def board(catalog):
    return d.dashboards(catalog)[d.dashboard_uid(catalog, "map")]


def node_graph(board) -> dict:
    [panel] = [p for p in board["panels"] if p["type"] == "nodeGraph"]
    return panel


def test_the_map_is_a_node_graph_of_a_nodes_frame_and_an_edges_frame(board):
    panel = node_graph(board)
    nodes, edges = panel["targets"]
    assert (nodes["refId"], edges["refId"]) == ("A", "B")
    for target in (nodes, edges):  # one table frame each: labels become fields, one row per series
        assert target["instant"] is True and target["format"] == "table" and not target.get("range")
    [organize] = panel["transformations"]
    assert organize["id"] == "organize"
    # the Node Graph finds its fields by name: the nodes' state word and the edges' value become `mainstat`
    assert organize["options"]["renameByName"] == {"state": "mainstat", "Value #B": "mainstat"}
    assert organize["options"]["excludeByName"] == {"Time": True, "Value #A": True}
    assert panel["options"]["edges"]["mainStatUnit"] == "/s"
    for label in ("id", "title", "subtitle", "color", "state", "secondarystat"):
        assert f'"{label}"' in nodes["expr"], label
    for label in ("id", "source", "target", "color", "secondarystat", "detail__movement"):
        assert f'"{label}"' in edges["expr"], label
    assert "group_left (color, secondarystat)" in edges["expr"]  # not `state`: it would be a second mainstat


def test_every_query_is_valid_promql_once_grafana_substitutes_its_variables(board):
    for _, target in d.panel_queries(board):
        promql_parser.parse(d.expand(target["expr"], "1m"))
    # label_replace's `$1` (the alert's name in the why) is no Grafana variable: it reaches Prometheus as written
    assert d.expand('label_replace(x, "why", "$1 firing", "alertname", "(.+)")', "1m").count('"$1 firing"') == 1


def _set(expr: str, label: str) -> list[str]:
    return re.findall(rf'"{label}", "((?:[^"\\]|\\.)*)", "", ""\)', expr)


def test_node_and_edge_ids_come_from_the_graph(catalog, board):
    graph = build_map([catalog])
    nodes, edges = (t["expr"] for t in node_graph(board)["targets"])
    assert _set(nodes, "id") == list(graph.nodes)
    assert _set(nodes, "title") == [n.label for n in graph.nodes.values()]
    assert _set(edges, "id") == [e.id for e in graph.edges]
    assert list(zip(_set(edges, "source"), _set(edges, "target"))) == [(e.source, e.target) for e in graph.edges]
    # the catalog changes, the board follows
    changed = catalog.model_copy(deep=True)
    changed.money_path.nodes["ledger"].label = "books"
    renamed = d.dashboards(changed)[d.dashboard_uid(catalog, "map")]
    assert "books" in _set(node_graph(renamed)["targets"][0]["expr"], "title")


def test_a_catalog_without_a_money_path_gets_no_map_board(catalog):
    plain = catalog.model_copy(deep=True)
    plain.money_path = None
    boards = d.dashboards(plain)
    assert d.dashboard_uid(plain, "map") not in boards and len(boards) == len(d.dashboards(catalog)) - 1


def _edge(graph, source: str, target: str) -> MapEdge:
    return next(e for e in graph.edges if (e.source, e.target) == (f"payments/{source}", f"payments/{target}"))


def test_an_edge_is_red_or_amber_from_the_alerts_reading_its_signals_and_only_for_its_own_provider(catalog):
    graph = build_map([catalog])
    outage = catalog.alert_name("ProviderPartialOutage")
    acme = mq.edge_state(catalog, _edge(graph, "payments", "acme"))
    assert re.search(rf'ALERTS\{{alertstate="firing", severity="page", alertname=~"[^"]*{outage}[^"]*", '
                     r'provider=~"acme\|"', acme), acme
    assert "globex" not in acme
    ledger = mq.edge_state(catalog, _edge(graph, "payments", "ledger"))
    assert catalog.alert_name("LedgerWriteFailures") in ledger and "severity=\"page\"" in ledger
    outbox = mq.edge_state(catalog, _edge(graph, "payments", "outbox"))
    assert re.search(rf'severity="ticket", alertname=~"{catalog.alert_name("DeadLettersGrowing")}"', outbox)
    assert 'severity="page"' not in outbox  # no paging alert reads queue depth or dead letters
    # the authorizations' SLOs: amber beyond their objective, read over the shortest recorded window
    customer = mq.edge_state(catalog, _edge(graph, "customer", "payments"))
    assert f'slo:sli_error:ratio_rate{mq.SLI_WINDOW}{{slo=~"authorization-availability|authorization-latency"}}' \
        in customer and "> on (slo) slo:error_budget:ratio" in customer
    for state in mq.WORDS:  # every branch the board draws carries its colour, word and why; grey is the last resort
        assert mq.COLORS[state] in customer and f'"state", "{mq.WORDS[state]}"' in customer
    assert customer.index(mq.COLORS[State.RED]) < customer.index(mq.COLORS[State.GREEN]) \
        < customer.rindex(mq.COLORS[State.GREY])
    assert customer.count("or on ()") == 4  # precedence: the first branch with a series wins


def test_an_edge_without_signals_is_grey_and_a_provider_node_reads_its_own_alerts(catalog):
    bare = MapEdge(id="payments#99", service="payments", index=99, source="payments/payments",
                   target="payments/ledger", movement="record", label="record")
    state = mq.edge_state(catalog, bare)
    assert "ALERTS" not in state and "count(" not in state and "not measured: the edge names no signal" in state
    nodes = mq.nodes_query(catalog, build_map([catalog]))
    assert 'provider="globex"}' in nodes and "firing for its provider" in nodes


def test_the_board_lists_the_alerts_that_colour_its_edges(catalog, board):
    listed = {n for _, t in d.panel_queries(board) for n in re.findall(r'ALERTS\{alertname="(\w+)"', t["expr"])}
    assert listed == set(mq.alerts_on_map(catalog, build_map([catalog])))
    assert catalog.alert_name("ProviderPartialOutage") in listed and catalog.alert_name("Watchdog") not in listed


def test_labels_are_quoted_for_promql_and_label_replace():
    assert mq.text('say "hi" \\ there') == '"say \\"hi\\" \\\\ there"'
    assert mq.with_label("up", "title", "$1 a") == 'label_replace(up, "title", "$$1 a", "", "")'
    promql_parser.parse(mq.with_label("up", "title", 'a "quoted" $name'))
