"""`moneypath snapshot` draws the money-path map with its live colours beside the panels; no map without a
`money_path:` section. The unit tier starts no process: a row of boxes stands in for Graphviz dot, and marks made
here for the live reader (the real ones: tests/integration/generate/test_dashboards_live.py)."""

from __future__ import annotations

import re

import pytest

from moneypath._common.plots import pyplot
from moneypath.map import render
from moneypath.map.graph import build_map
from moneypath.map.layout import Box, EdgePath, Layout, LayoutError
from moneypath.map.marks import MapHealth, Mark, State
from moneypath.map.shapes import COLOURS
from moneypath.stack import snapshot, snapshot_map

NOW = 1_773_478_800.0


class EmptyPrometheus:
    """Answers every panel query with nothing: the panels read "no data"; the map's colours come from `read`."""

    url = "http://prometheus.test:9090"

    def __init__(self, *args, **kwargs):
        self.queries: list[str] = []

    def range(self, query, start, end, step):
        self.queries.append(query)
        return []

    def instant(self, query, at=None):
        self.queries.append(query)
        return []

    def close(self):
        pass


def globex_down(graph, prometheus_url):
    """The live reader's answer during a globex outage: its edge red, every other measured and green."""
    edge = next(e.id for e in graph.edges if e.target.endswith("/globex"))
    marks = {e.id: Mark(State.RED, ("2.0/s", "errors 100 %"), "page alert ProviderPartialOutage fires",
                        ("MoneyPathProviderPartialOutage",)) if e.id == edge else Mark(State.GREEN, ("1.0/s",), "ok")
             for e in graph.edges}
    return MapHealth(nodes={n: Mark(State.GREEN) for n in graph.nodes}, edges=marks, at=NOW, source=prometheus_url)


def edge_group(svg: str, edge_id: str) -> str:
    m = re.search(rf'<g class="edge[^"]*" data-edge="{re.escape(edge_id)}".*?</g>', svg, re.S)
    assert m, edge_id
    return m.group()


def row_layout(boxes, edges, **_) -> Layout:
    """Every box in one row, every edge a straight line: what the renderer draws, not how dot places it."""
    placed, x = {}, 0.0
    for b in boxes:
        placed[b.id] = Box(x, 0.0, b.width, b.height)
        x += b.width + 60
    paths = {}
    for e in edges:
        s, t = placed[e.source], placed[e.target]
        a, z = (s.x + s.width / 2, s.cy), (t.x + t.width / 2, t.cy)
        paths[e.id] = EdgePath(points=(a, a, z, z), head=z, label=((a[0] + z[0]) / 2, a[1] + 20))
    return Layout(width=x, height=max(b.height for b in boxes) + 60, boxes=placed, edges=paths)


@pytest.fixture
def quiet(monkeypatch):
    monkeypatch.setattr(render, "layout", row_layout)
    monkeypatch.setattr(snapshot, "save", lambda fig, path: (path.write_bytes(b""), pyplot().close(fig)))
    monkeypatch.setattr(snapshot, "Prometheus", EmptyPrometheus)
    monkeypatch.setattr(snapshot_map, "_read_live", globex_down)


def test_the_snapshot_draws_the_map_with_its_live_colours_above_the_panels(catalog, quiet, tmp_path):
    page = snapshot.snapshot(catalog, EmptyPrometheus.url, tmp_path, snapshot.SnapshotSpan("15m", NOW),
                             progress=lambda *_: None)
    html = page.read_text()
    svg = (tmp_path / snapshot_map.MAP_FILE).read_text()
    graph = build_map([catalog])
    for node in graph.nodes:
        assert f'data-node="{node}"' in svg, node
    globex = next(e for e in graph.edges if e.target.endswith("/globex"))
    assert COLOURS[State.RED][0] in edge_group(svg, globex.id)
    assert COLOURS[State.RED][0] not in edge_group(svg, graph.edges[0].id)
    assert f'src="{snapshot_map.MAP_FILE}"' in html and "1 red, 0 amber, 8 green, 0 not measured" in html
    assert html.index(snapshot_map.MAP_FILE) < html.index(".png")  # the map first, then the overview's panels


def test_the_map_dashboards_snapshot_draws_its_node_graph_as_the_map_and_tables_its_movements(catalog, quiet, tmp_path):
    lines: list[str] = []
    page = snapshot.snapshot(catalog, EmptyPrometheus.url, tmp_path, snapshot.SnapshotSpan("15m", NOW),
                             progress=lines.append, board="map")
    html = page.read_text()
    assert html.count(f'src="{snapshot_map.MAP_FILE}"') == 1 and not list(tmp_path.glob("*.png"))
    assert "Money movements now" in html
    assert any("nodeGraph" in line and "drawn as the money-path map" in line for line in lines)


def test_no_money_path_no_map(catalog, quiet, tmp_path):
    plain = catalog.model_copy(deep=True)
    plain.money_path = None
    assert snapshot_map.map_section(plain, EmptyPrometheus.url, tmp_path) is None
    page = snapshot.snapshot(plain, EmptyPrometheus.url, tmp_path, snapshot.SnapshotSpan("15m", NOW),
                             progress=lambda *_: None)
    assert snapshot_map.MAP_FILE not in page.read_text() and not (tmp_path / snapshot_map.MAP_FILE).exists()


def test_a_map_dot_cannot_lay_out_is_said_on_the_page_not_a_failed_snapshot(catalog, quiet, monkeypatch, tmp_path):
    def missing(*args, **kwargs):
        raise LayoutError("Graphviz dot is not installed")

    monkeypatch.setattr(render, "render_svg", missing)
    page = snapshot.snapshot(catalog, EmptyPrometheus.url, tmp_path, snapshot.SnapshotSpan("15m", NOW),
                             progress=lambda *_: None)
    assert "The money-path map is not drawn: Graphviz dot is not installed" in page.read_text()
    assert not (tmp_path / snapshot_map.MAP_FILE).exists()
