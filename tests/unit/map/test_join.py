"""Several services, one map: the payouts service's catalog (tests/foreign/joined) starts its money path at the ticket
shop's ledger; joined, the edge crosses from one service to the other; a reference to an unknown service or node,
or two catalogs of one service, is one line naming the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from moneypath.catalog import CatalogError, load_catalog, parse_catalog
from moneypath.check.map_lint import map_problems
from moneypath.map.graph import build_map
from tests.conftest import FOREIGN_PATH, ROOT

JOINED_PATH = ROOT / "tests" / "foreign" / "joined" / "moneypath.yaml"
CROSSING = "    - from: tickets/ledger\n"


def _line(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def _payouts(tmp_path: Path, reference: str = "tickets/ledger"):
    text = JOINED_PATH.read_text().replace(CROSSING, f"    - from: {reference}\n")
    path = tmp_path / "payouts.yaml"
    path.write_text(text)
    return load_catalog(path), _line(text, f"    - from: {reference}\n")


def test_the_joined_map_draws_the_money_crossing_from_the_ticket_shop_to_payouts():
    tickets, payouts = load_catalog(FOREIGN_PATH), load_catalog(JOINED_PATH)
    assert map_problems(payouts) == [] and map_problems(tickets) == []
    graph = build_map([tickets, payouts])
    assert graph.services == ("tickets", "payouts")
    assert not [n for n in graph.nodes.values() if n.external]
    crossing = [e for e in graph.edges if e.source.split("/")[0] != e.target.split("/")[0]]
    assert [(e.id, e.source, e.target, e.movement) for e in crossing] == [
        ("payouts#0", "tickets/ledger", "payouts/payouts", "transfer")]
    assert [s.promql for s in crossing[0].signals] == ["payouts_balances_received_total",
                                                       'payouts_balances_received_total{outcome="rejected"}']
    assert graph.nodes["tickets/ledger"].kind == "ledger" and graph.nodes["payouts/float"].source
    assert graph.nodes["payouts/organisers"].kyc and graph.nodes["payouts/float"].jurisdiction
    assert [e.id for e in graph.edges_touching_provider("zengin")] == ["payouts#2", "payouts#3", "payouts#4"]


def test_alone_the_other_services_node_is_a_stub():
    graph = build_map([load_catalog(JOINED_PATH)])
    stub = graph.nodes["tickets/ledger"]
    assert stub.external and stub.service == "tickets" and stub.label == "tickets/ledger"
    assert graph.edges[0].source == "tickets/ledger"


@pytest.mark.parametrize("reference, why", [
    ("ticket/ledger", "'ticket' is not the service of any catalog joined (tickets, payouts)"),
    ("tickets/ledgr", "'ledgr' is not a node of tickets's money path"),
])
def test_an_unknown_service_or_node_in_a_reference_is_one_line_with_file_line_and_key(tmp_path, reference, why):
    payouts, line = _payouts(tmp_path, reference)
    with pytest.raises(CatalogError) as caught:
        build_map([load_catalog(FOREIGN_PATH), payouts])
    assert caught.value.problems == [f"{tmp_path / 'payouts.yaml'}:{line}: money_path.edges.0.from: {why}"]


def test_a_service_given_twice_is_one_line_naming_both_files(tmp_path):
    copy = tmp_path / "tickets.yaml"
    copy.write_text(FOREIGN_PATH.read_text())
    with pytest.raises(CatalogError) as caught:
        build_map([load_catalog(FOREIGN_PATH), load_catalog(copy)])
    line = _line(copy.read_text(), "\nservice: tickets") + 1
    assert caught.value.problems == [f"{copy}:{line}: service: 'tickets' is also the service of {FOREIGN_PATH}; join "
                                     "one catalog per service"]


def test_a_catalog_without_a_map_in_the_join_is_one_line(tmp_path):
    text = FOREIGN_PATH.read_text()
    bare = parse_catalog(text[:text.index("\n# Where the shop's money moves")] + "\n", "tickets.yaml")
    with pytest.raises(CatalogError) as caught:
        build_map([bare, load_catalog(JOINED_PATH)])
    assert caught.value.problems == ["tickets.yaml:4: money_path: this catalog declares no money path (`moneypath init "
                                     "--money-path` scaffolds one from its providers and features)"]


def test_the_catalog_page_shows_the_sections_as_they_are():
    text = JOINED_PATH.read_text()
    assert "```yaml\n" + text[text.index("money_path:\n"):] + "```\n" in (ROOT / "docs/catalog.md").read_text()
    shop = FOREIGN_PATH.read_text()
    nodes = shop[shop.index("money_path:\n"):shop.index("  edges:\n", shop.index("money_path:\n"))]
    assert "```yaml\n" + nodes + "```\n" in (ROOT / "docs/catalog.md").read_text()
