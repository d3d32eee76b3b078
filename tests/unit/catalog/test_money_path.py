"""The catalog's `money_path:` section: the reference's map is valid as shipped, and every wrong reference is one
line naming the file, the line and the key."""

from __future__ import annotations

import pytest

from moneypath.catalog import CatalogError, load_catalog, parse_catalog
from tests.conftest import FOREIGN_PATH, ROOT

SECTION = """
money_path:
  nodes:
    buyer: {kind: funding}
    shop: {kind: service, pci: [transmit]}
    stripe_like: {kind: provider, provider: %s}
  edges:
    - {from: buyer, to: shop, movement: authorize, signals: {rate: %s}}
    - {from: shop, to: %s, movement: capture}
"""


def _shop_without_map() -> str:
    """The ticket shop's catalog without its own money path (tests/foreign/moneypath.yaml has one)."""
    text = FOREIGN_PATH.read_text()
    return text[:text.index("\n# Where the shop's money moves")] + "\n"


def _problems(provider="PROVIDER", signal="authorizations_total", target="stripe_like") -> str:
    shop = _shop_without_map()
    if provider == "PROVIDER":
        provider = next(iter(parse_catalog(shop, "shop.yaml").providers))
    try:
        parse_catalog(shop + SECTION % (provider, signal, target), "shop.yaml")
    except CatalogError as e:
        return "\n".join(e.problems)
    return ""


def _line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def test_the_reference_section_and_the_foreign_ones_are_valid(catalog):
    assert catalog.money_path is not None and len(catalog.money_path.edges) >= 8
    assert _problems() == ""
    for path in (FOREIGN_PATH, ROOT / "tests/foreign/djangoshop/ops/moneypath.yaml",
                 ROOT / "tests/foreign/joined/moneypath.yaml"):
        assert load_catalog(path).money_path is not None, path


@pytest.mark.parametrize("kwargs, message", [
    ({"provider": "strpe"}, "money_path.nodes.stripe_like.provider: 'strpe' is not a catalog provider"),
    ({"signal": "authorisations_total"}, "money_path.edges.0.signals.rate: 'authorisations_total' is not a "
                                         "catalog signal; did you mean authorizations_total?"),
    ({"signal": "'authorizations_total{outcome=\"aproved\"}'"}, "'aproved' is not a declared value of outcome; "
                                                               "did you mean approved?"),
    ({"signal": "authorization_duration_seconds"}, "rate reads a counter; authorization_duration_seconds is a "
                                                   "histogram"),
    ({"target": "nowhere"}, "money_path.edges.1.to: 'nowhere' is not a node of the money path"),
    ({"target": "bad/Ref"}, "money_path.edges.1.to"),
])
def test_a_wrong_reference_is_one_line_with_file_line_and_key(kwargs, message):
    problems = _problems(**kwargs)
    assert message in problems, problems
    line = next(p for p in problems.splitlines() if message in p)
    assert line.startswith("shop.yaml:") and line.split(":")[1].isdigit(), line


# The bad input the issue names, each the exact line: file, line, key, what is wrong.
def _exact(replace: tuple[str, str], path: str = "moneypath.yaml") -> list[str]:
    text = (ROOT / "moneypath.yaml").read_text()
    assert replace[0] in text
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text.replace(replace[0], replace[1], 1), path)
    return caught.value.problems


def test_an_unknown_provider_is_the_exact_line():
    text = (ROOT / "moneypath.yaml").read_text()
    problems = _exact(("acme: {kind: provider, provider: acme,", "acme: {kind: provider, provider: acmee,"))
    assert problems == [f"moneypath.yaml:{_line_of(text, '    acme: {kind: provider')}: money_path.nodes.acme.provider: "
                        "'acmee' is not a catalog provider; did you mean acme?"]


def test_an_unknown_signal_is_the_exact_line():
    text = (ROOT / "moneypath.yaml").read_text()
    problems = _exact(("signals: {depth: queue_depth,", "signals: {depth: queue_deph,"))
    assert problems == [f"moneypath.yaml:{_line_of(text, 'signals: {depth: queue_depth,')}: "
                        "money_path.edges.4.signals.depth: 'queue_deph' is not a catalog signal; did you mean "
                        "queue_depth?"]


def test_an_edge_to_nowhere_is_the_exact_line():
    text = (ROOT / "moneypath.yaml").read_text()
    problems = _exact(("      to: merchant_bank\n", "      to: merchant_bnk\n"))
    assert f"moneypath.yaml:{_line_of(text, '      to: merchant_bank')}: money_path.edges.8.to: 'merchant_bnk' is " \
           "not a node of the money path; did you mean merchant_bank?" in problems
    # the bank it no longer reaches is then on no edge at all: said too, on its own line
    assert problems[-1] == f"moneypath.yaml:{_line_of(text, '    merchant_bank: {kind: bank')}: " \
                           "money_path.nodes.merchant_bank: no edge reaches or leaves it"


def test_a_node_that_sends_money_and_receives_none_must_be_a_source():
    text = (ROOT / "moneypath.yaml").read_text()
    problems = _exact(("customer: {kind: funding,", "customer: {kind: bank,"))
    assert problems == [f"moneypath.yaml:{_line_of(text, '    customer: {kind: funding')}: money_path.nodes.customer: "
                        "sends money but receives none: declare it a source (source: true) or add the edge that "
                        "funds it"]
    text = text.replace("customer: {kind: funding,", "customer: {kind: bank, source: true,", 1)
    assert parse_catalog(text, "moneypath.yaml").money_path.nodes["customer"].is_source  # declared: valid
