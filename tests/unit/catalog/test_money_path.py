"""The catalog's `money_path:` section: the reference's map is valid as shipped, and every wrong reference is one
line naming the file, the line and the key."""

from __future__ import annotations

import pytest

from moneypath.catalog import CatalogError, parse_catalog
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


def _problems(provider="PROVIDER", signal="authorizations_total", target="stripe_like") -> str:
    shop = FOREIGN_PATH.read_text()
    if provider == "PROVIDER":
        provider = next(iter(parse_catalog(shop, "shop.yaml").providers))
    try:
        parse_catalog(shop + SECTION % (provider, signal, target), "shop.yaml")
    except CatalogError as e:
        return "\n".join(e.problems)
    return ""


def test_the_reference_section_and_a_foreign_one_are_valid(catalog):
    assert catalog.money_path is not None and len(catalog.money_path.edges) >= 8
    assert _problems() == ""


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


def test_a_node_that_sends_money_and_receives_none_must_be_a_source():
    text = (ROOT / "moneypath.yaml").read_text().replace("customer: {kind: funding,", "customer: {kind: bank,")
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "moneypath.yaml")
    assert any("money_path.nodes.customer: sends money but receives none" in p for p in caught.value.problems)
