"""The lint's map rules (moneypath.check.map_lint): an edge with no signal, a provider on no node, a node of the team's
own in PCI scope without the card-number guard; each the exact line. The shipped and foreign maps are clean, and a
catalog without the section is not measured for these rules."""

from __future__ import annotations

import pytest

from moneypath.catalog import parse_catalog
from moneypath.check.lint import lint
from moneypath.check.map_lint import map_problems, not_declared
from tests.conftest import FOREIGN_PATH, ROOT
from tests.support.lint import RETENTION, _rules_only, make_root  # noqa: F401 - autouse fixture

REFERENCE = (ROOT / "moneypath.yaml").read_text()
SHOP = FOREIGN_PATH.read_text()


def _line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def _catalog(text: str, old: str = "", new: str = ""):
    assert old in text
    return parse_catalog(text.replace(old, new, 1), "moneypath.yaml")


@pytest.mark.parametrize("path", ["moneypath.yaml", "tests/foreign/moneypath.yaml",
                                  "tests/foreign/djangoshop/ops/moneypath.yaml", "tests/foreign/joined/moneypath.yaml"])
def test_the_shipped_and_foreign_maps_are_clean(path):
    c = parse_catalog((ROOT / path).read_text(), path)
    assert map_problems(c) == [] and not_declared(c) is None


def test_an_edge_with_no_signal_is_the_exact_line():
    c = _catalog(REFERENCE, "      signals: {depth: queue_depth, errors: dead_letters_total}\n")
    line = _line_of(REFERENCE, "      to: outbox\n") - 1  # the edge's `- from:` line
    assert map_problems(c) == [f"moneypath.yaml:{line}: money_path.edges.4: the edge from payments to outbox has no "
                               "signal: name one that shows its health under signals: (rate, errors, latency, lag, "
                               "depth)"]


def test_a_provider_on_no_node_is_the_exact_line():
    text = REFERENCE.replace("  globex:\n    display_name: Globex Pay\n",
                             "  globex:\n    display_name: Globex Pay\n  initech:\n    display_name: Initech\n", 1)
    c = _catalog(text)
    nodes = _line_of(text, "money_path:\n  nodes:") + 1  # the section's `nodes:` line
    assert map_problems(c) == [f"moneypath.yaml:{nodes}: money_path.nodes: provider 'initech' of the catalog is on "
                               "no node of the map: add one, e.g. initech: {kind: provider, provider: initech}"]


@pytest.mark.parametrize("node, kind", [("tickets", "service"), ("ledger", "ledger")])
def test_a_node_of_the_teams_own_in_pci_scope_needs_the_card_number_guard(node, kind):
    old = f"    {node}: {{kind: {kind}, label: "
    c = _catalog(SHOP, old, f"    {node}: {{kind: {kind}, pci: [store, transmit], label: ")
    assert map_problems(c) == [f"moneypath.yaml:{_line_of(SHOP, old)}: money_path.nodes.{node}.pci: in PCI scope (store, "
                               "transmit) but the catalog has no card-number guard signal: declare card_numbers_total "
                               "(counter; labels source, action) and count the card numbers found in input"]


def test_third_parties_carry_their_own_pci_scope_and_the_guard_satisfies_the_rule():
    # the ticket shop declares no card_numbers_total: its providers in scope are drawn, not linted
    shop = parse_catalog(SHOP, "moneypath.yaml")
    assert "card_numbers_total" not in shop.signals and shop.money_path.nodes["komoju"].pci
    assert map_problems(shop) == []
    # the reference declares it: its service in scope is clean; switched to an unguarded catalog it is not
    assert parse_catalog(REFERENCE, "moneypath.yaml").money_path.nodes["payments"].pci == ["process", "transmit"]
    start = REFERENCE.index("  card_numbers_total:\n")
    end = REFERENCE.index("\n  ", REFERENCE.index("labels:", start)) + 1
    unguarded = parse_catalog(REFERENCE[:start] + REFERENCE[end:], "moneypath.yaml")
    assert [p.split(": ")[1] for p in map_problems(unguarded)] == ["money_path.nodes.payments.pci"]


def test_a_catalog_without_the_section_is_not_measured_for_the_map_rules():
    bare = parse_catalog(SHOP[:SHOP.index("\n# Where the shop's money moves")] + "\n", "moneypath.yaml")
    assert map_problems(bare) == []
    assert not_declared(bare).startswith("not measured: the catalog declares no money_path: section")


def test_the_lint_reports_the_map_problems_with_the_rules(tmp_path):
    c = _catalog(REFERENCE, "      signals: {depth: queue_depth, errors: dead_letters_total}\n")
    problems = lint(c, make_root(tmp_path), RETENTION)
    assert problems == map_problems(c) and len(problems) == 1
