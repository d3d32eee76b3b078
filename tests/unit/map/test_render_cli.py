"""`moneypath map`: the files it writes, its one-line errors (exit 2, nothing written) and, with --prometheus, its
judgement of the marks read (exit 0 all green, 1 red or amber, 3 something not measured). The live read is a
stand-in here (its own tests: tests/unit/map/test_live*.py); dot is a stand-in too (the unit tier starts no
process)."""

from __future__ import annotations

import json
import sys
import types
import xml.etree.ElementTree as ET

import pytest

from moneypath.map import render
from moneypath.map.marks import MapHealth, Mark, State
from tests.conftest import CATALOG_PATH, run_cli
from tests.map_support import tickets_catalog

SVG, HTML = "money-path.svg", "money-path.html"


@pytest.fixture(autouse=True)
def _no_dot(monkeypatch):
    from tests.map_support import grid_layout

    monkeypatch.setattr(render, "layout", grid_layout)


def live_reads(monkeypatch, marks: dict[str, Mark], nodes: dict[str, Mark] | None = None, error: str | None = None,
               unplaced: tuple[str, ...] = ()):
    """moneypath.map.live_health standing in: read_health returns these marks (or raises PrometheusError)."""
    from moneypath._common.prometheus import PrometheusError

    asked = []

    def read_health(graph, prometheus_url, *, timeout_s=5.0, not_data=None):
        asked.append(prometheus_url)
        assert callable(not_data)  # the counter-reset check, from the layer above the map
        if error:
            raise PrometheusError(error, url=prometheus_url, path="/api/v1/query")
        return MapHealth(nodes=nodes or {}, edges=marks, at=1_780_000_000.0, source=prometheus_url, answered=True,
                         unplaced=unplaced)

    from moneypath.map.live_health import health_to_dict

    monkeypatch.setitem(sys.modules, "moneypath.map.live_health",
                        types.SimpleNamespace(read_health=read_health, health_to_dict=health_to_dict))
    return asked


def test_writes_the_svg_and_the_page_of_the_projects_catalog(tmp_path):
    result = run_cli("map", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {tmp_path / 'out' / SVG} and {tmp_path / 'out' / HTML}: 8 nodes, 9 edges " \
                            "(payments)\n"
    svg = (tmp_path / "out" / SVG).read_text()
    assert ET.fromstring(svg).get("class") == "money-path-map"
    assert svg in (tmp_path / "out" / HTML).read_text()
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left behind


def test_joins_the_catalogs_given_with_a_title(tmp_path):
    other = tickets_catalog(tmp_path)
    result = run_cli("map", str(CATALOG_PATH), str(other), "--out", str(tmp_path), "--title", "Platform")
    assert result.returncode == 0, result.stderr
    assert "11 nodes, 12 edges (payments, tickets)" in result.stdout
    svg = (tmp_path / SVG).read_text()
    assert 'data-edge="tickets#2"' in svg and "<title>Platform</title>" in svg


@pytest.mark.parametrize("case", ["missing file", "no section", "unknown node", "invalid section"])
def test_bad_input_is_one_line_per_problem_exit_2_and_nothing_written(tmp_path, case):
    other = tickets_catalog(tmp_path)
    text = other.read_text()
    if case == "missing file":
        args, expected = [str(tmp_path / "nope.yaml")], [f"{tmp_path / 'nope.yaml'}: file not found"]
    elif case == "no section":
        other.write_text(text[:text.index("money_path:")])
        args, expected = [str(other)], [f"{other}:4: money_path: this catalog declares no money path"]
    elif case == "unknown node":
        other.write_text(text.replace("to: payments/payments", "to: payments/nowhere"))
        line = other.read_text().splitlines().index("      to: payments/nowhere") + 1
        args = [str(CATALOG_PATH), str(other)]
        expected = [f"{other}:{line}: money_path.edges.2.to: 'nowhere' is not a node of payments's money path"]
    else:
        other.write_text(text.replace("movement: transfer", "movement: teleport"))
        line = other.read_text().splitlines().index("      movement: teleport") + 1
        args, expected = [str(other)], [f"{other}:{line}: money_path.edges.2.movement: Input should be"]
    out = tmp_path / "out"
    result = run_cli("map", *args, "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == len(expected) and all(got.startswith(want) for got, want in zip(lines, expected))
    assert "Traceback" not in result.stderr and not out.exists()


def test_without_dot_one_line_says_install_graphviz_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "layout", __import__("moneypath.map.layout", fromlist=["layout"]).layout)
    monkeypatch.setattr("moneypath.map.layout.DOT", "dot-not-installed-here")
    result = run_cli("map", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr == "moneypath map: Graphviz `dot` is not installed: install the Debian package graphviz " \
                            "(apt-get install graphviz)\n"
    assert not (tmp_path / "out").exists()


def test_live_all_green_exits_0(tmp_path, monkeypatch):
    from moneypath.catalog import load_catalog
    from moneypath.map.graph import build_map

    edges = {e.id: Mark(State.GREEN, ("1.0/s",)) for e in build_map([load_catalog(CATALOG_PATH)]).edges}
    asked = live_reads(monkeypatch, edges)
    result = run_cli("map", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path))
    assert asked == ["http://127.0.0.1:9"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "0 red or amber, 9 green, 0 idle, 0 no objective, 0 not measured"
    assert 'data-state="green"' in (tmp_path / SVG).read_text()
    assert "health read 2026-05-28 20:26:40 UTC from http://127.0.0.1:9" in (tmp_path / HTML).read_text()


def test_live_red_or_amber_exits_1_with_a_line_each(tmp_path, monkeypatch):
    live_reads(monkeypatch, {"payments#1": Mark(State.RED, ("errors 41 %",), "ProviderErrors firing"),
                             "payments#4": Mark(State.AMBER, (), "QueueDepth ticket")},
               nodes={"payments/acme": Mark(State.GREEN)})
    result = run_cli("map", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "red: edge payments#1 payments/payments → payments/acme (authorize): ProviderErrors firing " \
           "(errors 41 %)" in lines
    assert "amber: edge payments#4 payments/payments → payments/outbox (enqueue): QueueDepth ticket" in lines
    assert "2 red or amber, 1 green, 0 idle, 0 no objective, 7 not measured" in lines
    assert lines[-1].startswith("not measured: no mark read: edge payments#0 "), lines


def test_live_with_nothing_red_but_something_unmeasured_exits_3(tmp_path, monkeypatch):
    live_reads(monkeypatch, {"payments#0": Mark(State.GREEN), "payments#1": Mark(State.GREY, why="no data")})
    result = run_cli("map", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path))
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    assert "0 red or amber, 1 green, 0 idle, 0 no objective, 8 not measured" in lines
    assert "not measured: no data: edge payments#1 payments/payments → payments/acme (authorize)" in lines, lines
    assert (tmp_path / SVG).exists()


def test_an_unreachable_prometheus_is_said_on_the_page_and_in_the_lines_exit_3(tmp_path, monkeypatch):
    live_reads(monkeypatch, {}, error="cannot reach Prometheus at http://127.0.0.1:9: ConnectError")
    result = run_cli("map", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path / "out"))
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    assert lines[1] == "Prometheus did not answer: cannot reach Prometheus at http://127.0.0.1:9: ConnectError"
    assert lines[-1].startswith("not measured: cannot reach Prometheus at http://127.0.0.1:9: ConnectError: edge ")
    page = (tmp_path / "out" / HTML).read_text()
    assert ('<p class="health unanswered">not measured: Prometheus http://127.0.0.1:9 did not answer at ' in page
            and "ConnectError" in page)
    svg = ET.fromstring((tmp_path / "out" / SVG).read_text())
    notice = " ".join(t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")
                      if t.get("data-notice") == "prometheus")
    assert notice.startswith("Prometheus did not answer (cannot reach Prometheus at http://127.0.0.1:9")
    result = run_cli("map", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path / "out"), "--json")
    data = json.loads(result.stdout)
    assert (data["answered"], data["verdict"], result.returncode) == (False, "not measured", 3)
    assert data["problem"] == "cannot reach Prometheus at http://127.0.0.1:9: ConnectError"


@pytest.mark.parametrize("url", ["nope", "127.0.0.1:9090", "ftp://127.0.0.1:9090", "http://"])
def test_a_prometheus_that_is_not_an_http_url_is_bad_usage_exit_2(tmp_path, monkeypatch, url):
    asked = live_reads(monkeypatch, {})
    result = run_cli("map", "--prometheus", url, "--out", str(tmp_path / "out"))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"moneypath map: --prometheus: {url!r} is not an http(s):// URL\n"
    assert asked == [] and not (tmp_path / "out").exists()


def test_idle_and_unjudged_edges_have_a_line_each_and_an_alert_on_no_edge_fails(tmp_path, monkeypatch):
    live_reads(monkeypatch, {"payments#0": Mark(State.IDLE, ("0/s",), "idle: no traffic in the last 1m (0/s), its "
                                                                      "target up"),
                             "payments#8": Mark(State.NO_OBJECTIVE, ("2/s",), "no objective: 2/s, nothing bounds it")},
               unplaced=("MoneyPathLedgerImbalance{currency=EUR}",))
    result = run_cli("map", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "firing, on no edge: alert MoneyPathLedgerImbalance{currency=EUR}: a page alert fires, on no edge of the " \
           "map" in lines
    assert "idle: edge payments#0 payments/customer → payments/payments (authorize): no traffic in the last 1m " \
           "(0/s), its target up (0/s)" in lines
    assert "no objective: edge payments#8 payments/payments → payments/merchant_bank (pay_out): 2/s, nothing bounds " \
           "it (2/s)" in lines
    assert "0 red or amber, 0 green, 1 idle, 1 no objective, 7 not measured" in lines
    svg = (tmp_path / SVG).read_text()
    assert 'data-notice="unplaced"' in svg and "firing, on no edge: MoneyPathLedgerImbalance{currency=EUR}" in svg
    assert 'data-edge="payments#0" ' in svg and 'data-state="idle"' in svg and 'data-state="no objective"' in svg


def test_json_prints_each_state_with_its_why_figures_and_result(tmp_path, monkeypatch):
    live_reads(monkeypatch, {"payments#0": Mark(State.IDLE, ("0/s",), "idle: no traffic")})
    result = run_cli("map", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path), "--json")
    assert result.returncode == 3 and result.stderr.startswith("wrote ")
    data = json.loads(result.stdout)
    assert data["edges"]["payments#0"] == {"from": "payments/customer", "to": "payments/payments",
                                           "movement": "authorize", "state": "idle", "figures": ["0/s"],
                                           "why": "idle: no traffic", "alerts": [], "outcome": "not measured"}
    assert (data["verdict"], data["exit_code"], data["answered"], data["unplaced"]) == ("not measured", 3, True, [])
    assert data["source"] == "http://127.0.0.1:9" and data["worst"] == "idle"
    assert (tmp_path / SVG).exists()
    refused = run_cli("map", "--out", str(tmp_path / "x"), "--json")
    assert refused.returncode == 2 and refused.stderr == ("moneypath map: --json: give --prometheus URL (the JSON is "
                                                          "the live health)\n")
    assert not (tmp_path / "x").exists()


def test_help_explains_the_map_the_files_and_the_colours():
    result = run_cli("map", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for words in ("money-path.svg and money-path.html", "1920x1080", "A4 landscape", "PCI", "red while a paging alert",
                  "grey when not measured", "never green", "exit 1", "exit 2", "graphviz", "idle", "no objective",
                  "two scrape intervals", "--json"):
        assert words in text, words
