"""The map's SVG and page (moneypath.map.render, .page), laid out by a stand-in for dot (tests/map_support.py; the
real dot and Chromium: tests/integration/map/test_map_in_browser.py): every node and edge drawn with its data
attributes and label, the legend, PCI scope, stubs dashed, a joined map's frames and crossing edge, health colours
and figures, highlight, and a page that fetches nothing."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from moneypath.catalog import load_catalog
from moneypath.map import render
from moneypath.map.graph import build_map
from moneypath.map.layout import BoxSpec, EdgeSpec, LayoutError, dot_source, layout
from moneypath.map.marks import MapHealth, Mark, State
from moneypath.map.page import render_page
from moneypath.map.render import render_svg
from moneypath.map.shapes import COLOURS, HIGHLIGHT, PCI, STUB_DASH
from tests.conftest import CATALOG_PATH
from tests.map_support import CROSSING_EDGE, grid_layout, tickets_catalog

NS = {"s": "http://www.w3.org/2000/svg"}


@pytest.fixture(autouse=True)
def _no_dot(monkeypatch):
    monkeypatch.setattr(render, "layout", grid_layout)


@pytest.fixture(scope="module")
def reference():
    return build_map([load_catalog(CATALOG_PATH)])


@pytest.fixture
def tickets(tmp_path):
    return load_catalog(tickets_catalog(tmp_path))


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def groups(root: ET.Element, cls: str) -> dict[str, ET.Element]:
    attr = {"node": "data-node", "edge": "data-edge"}[cls]
    return {g.get(attr): g for g in root.iterfind(f".//s:g[@class='{cls}']", NS)}


def texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iterfind(".//s:text", NS)]


def test_every_node_and_edge_is_drawn_with_its_id_and_label(reference):
    root = parse(render_svg(reference))
    nodes, edges = groups(root, "node"), groups(root, "edge")
    assert set(nodes) == set(reference.nodes) and len(nodes) == 8
    assert set(edges) == {e.id for e in reference.edges} and len(edges) == 9
    for node_id, node in reference.nodes.items():
        assert node.label in texts(nodes[node_id]), node_id
        assert nodes[node_id].get("data-kind") == node.kind
        assert nodes[node_id].find("s:title", NS) is not None
    for edge in reference.edges:
        g = edges[edge.id]
        assert edge.label in texts(g)
        assert (g.get("data-source"), g.get("data-target")) == (edge.source, edge.target)
        assert g.find("s:path[@class='line']", NS) is not None and g.find("s:polygon[@class='arrow']", NS) is not None
        title = g.find("s:title", NS).text
        assert all(s.promql in title for s in edge.signals)  # the tooltip names what the edge is judged by


def test_the_legend_explains_each_kind_drawn_pci_notes_and_not_live(reference):
    root = parse(render_svg(reference))
    legend = root.find(".//s:g[@class='legend']", NS)
    assert legend is not None
    marks = {e.get("data-mark") for e in legend.iterfind(".//s:g[@class='legend-entry']", NS)}
    assert {f"kind:{n.kind}" for n in reference.nodes.values()} <= marks
    assert {"pci", "notes", "edge", "not-live"} <= marks
    assert not {m for m in marks if m.startswith("state:")} and "highlight" not in marks and "external" not in marks
    assert any("not live" in t for t in texts(legend))


def test_without_health_nothing_is_green(reference):
    svg = render_svg(reference)
    assert not any(colour in svg for colour in COLOURS[State.GREEN])
    assert "data-state" not in svg


def test_pci_scope_and_compliance_notes_are_on_their_nodes(reference):
    nodes = groups(parse(render_svg(reference)), "node")
    acme, ledger, bank = nodes["payments/acme"], nodes["payments/ledger"], nodes["payments/merchant_bank"]
    assert acme.get("data-pci") == "store process transmit"
    assert acme.find("s:rect[@class='pci']", NS).get("stroke") == PCI
    assert "PCI store · process · transmit" in texts(acme) and "licence: EU acquirer" in texts(acme)
    assert ledger.get("data-pci") is None and ledger.find("s:rect[@class='pci']", NS) is None
    assert "region: eu-west-1" in texts(ledger)
    assert " ".join(texts(bank)).count("KYC: payouts go to verified") == 1


def test_health_colours_each_element_and_draws_its_figures_and_why(reference):
    red_edge, green_edge = "payments#1", "payments#0"
    health = MapHealth(
        nodes={"payments/acme": Mark(State.RED, why="MoneypathProviderDown firing")},
        edges={red_edge: Mark(State.RED, ("2.1/s", "errors 41 %"), "provider errors paging", ("ProviderErrors",)),
               green_edge: Mark(State.GREEN, ("40.0/s", "errors 0.1 %"), "within objective"),
               "payments#4": Mark(State.AMBER, ("depth 120",), "queue depth ticket")},
        at=1_780_000_000.0, source="http://127.0.0.1:9090")
    root = parse(render_svg(reference, health=health))
    nodes, edges = groups(root, "node"), groups(root, "edge")
    assert edges[red_edge].get("data-state") == "red"
    assert edges[red_edge].find("s:path[@class='line']", NS).get("stroke") == COLOURS[State.RED][0]
    assert "2.1/s  errors 41 %" in texts(edges[red_edge])
    assert "provider errors paging" in edges[red_edge].find("s:title", NS).text
    assert "ProviderErrors" in edges[red_edge].find("s:title", NS).text
    assert edges[green_edge].find("s:path[@class='line']", NS).get("stroke") == COLOURS[State.GREEN][0]
    assert edges["payments#4"].get("data-state") == "amber"
    # an element without a mark is not measured: grey, never green
    assert edges["payments#8"].get("data-state") is None
    assert edges["payments#8"].find("s:path[@class='line']", NS).get("stroke") == COLOURS[State.GREY][0]
    assert nodes["payments/acme"].get("data-state") == "red"
    assert nodes["payments/acme"].find(".//*[@class='box']", NS).get("stroke") == COLOURS[State.RED][0]
    legend = root.find(".//s:g[@class='legend']", NS)
    marks = {e.get("data-mark") for e in legend.iterfind(".//s:g[@class='legend-entry']", NS)}
    assert {"state:red", "state:amber", "state:green", "state:grey"} <= marks and "not-live" not in marks


def test_highlight_marks_where_the_fault_hit_and_nothing_else(reference):
    root = parse(render_svg(reference, highlight=["payments#2", "payments/globex"]))
    nodes, edges = groups(root, "node"), groups(root, "edge")
    hit = {k for k, g in {**nodes, **edges}.items() if g.get("data-highlight") == "true"}
    assert hit == {"payments#2", "payments/globex"}
    assert edges["payments#2"].find("s:path[@class='highlight']", NS).get("stroke") == HIGHLIGHT
    assert nodes["payments/globex"].find("s:rect[@class='highlight']", NS).get("stroke") == HIGHLIGHT
    assert edges["payments#1"].find("s:path[@class='highlight']", NS) is None
    legend = root.find(".//s:g[@class='legend']", NS)
    assert legend.find(".//s:g[@data-mark='highlight']", NS) is not None


def test_a_joined_map_frames_each_service_and_draws_the_crossing_edge(reference, tickets):
    graph = build_map([load_catalog(CATALOG_PATH), tickets])
    root = parse(render_svg(graph))
    frames = {g.get("data-service") for g in root.iterfind(".//s:g[@class='cluster']", NS)}
    assert frames == {"payments", "tickets"}
    edges = groups(root, "edge")
    assert (edges[CROSSING_EDGE].get("data-source"), edges[CROSSING_EDGE].get("data-target")) == \
        ("tickets/tickets", "payments/payments")
    assert "platform fee" in texts(edges[CROSSING_EDGE])
    assert set(groups(root, "node")) == set(reference.nodes) | {"tickets/buyer", "tickets/tickets", "tickets/komoju"}
    assert not any(g.get("data-external") for g in groups(root, "node").values())


def test_another_services_node_alone_is_a_dashed_stub(tickets):
    root = parse(render_svg(build_map([tickets])))
    stub = groups(root, "node")["payments/payments"]
    assert stub.get("data-external") == "true"
    assert stub.find(".//*[@class='box']", NS).get("stroke-dasharray") == STUB_DASH
    assert groups(root, "node")["tickets/tickets"].find(".//*[@class='box']", NS).get("stroke-dasharray") is None
    assert root.find(".//s:g[@class='cluster']", NS) is None  # one service: no frame
    assert root.find(".//s:g[@data-mark='external']", NS) is not None


def test_labels_are_escaped(tmp_path):
    path = tmp_path / "moneypath.yaml"
    path.write_text(tickets_catalog(tmp_path).read_text().replace("label: ticket buyer", "label: 'R&D <buyer>'"))
    root = parse(render_svg(build_map([load_catalog(path)]), title="A & B"))
    assert "R&D <buyer>" in texts(groups(root, "node")["tickets/buyer"])
    assert root.find("s:title", NS).text == "A & B"


def test_the_page_is_self_contained_and_sized_for_a_screen_and_a4(reference):
    health = MapHealth(edges={"payments#0": Mark(State.GREEN)}, at=1_780_000_000.0, source="http://127.0.0.1:9090")
    page = render_page(reference, health=health, title="Payments")
    assert page.count("<svg") == 1 and "<title>Payments</title>" in page and "<h1>Payments</h1>" in page
    assert "moneypath.yaml" in page and "health read 2026-05-28 20:26:40 UTC from http://127.0.0.1:9090" in page
    assert "@page { size: A4 landscape" in page and "viewBox=" in page
    assert not re.search(r"<script|<link|<img|@import|url\(", page)
    assert set(re.findall(r"https?://[^\s\"'<)]+", page)) <= {"http://www.w3.org/2000/svg", "http://127.0.0.1:9090"}
    assert "not live" in render_page(reference)


def test_dot_source_quotes_ids_and_fixes_sizes():
    text = dot_source([BoxSpec('a/"x"', 144, 36, cluster="svc \\ 1"), BoxSpec("b/y", 72, 72)],
                      [EdgeSpec('a#"0"', 'a/"x"', "b/y", label_width=50, label_height=12)])
    assert 'b0 [width=2.0000, height=0.5000];' in text and 'b1 [width=1.0000, height=1.0000];' in text
    assert 'id="svc \\\\ 1"' in text and 'b0 -> b1 [id="a#\\"0\\""' in text
    assert 'WIDTH="50" HEIGHT="12"' in text


def test_without_dot_the_layout_says_install_graphviz(monkeypatch):
    monkeypatch.setattr("moneypath.map.layout.DOT", "dot-not-installed-here")
    with pytest.raises(LayoutError, match="install the Debian package graphviz"):
        layout([BoxSpec("a/b", 72, 36)], [])
