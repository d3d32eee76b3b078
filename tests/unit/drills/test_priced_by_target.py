"""`load.amounts` is optional when the target prices the payment itself (a checkout of catalog items): the
template then names no amount placeholder, a template that does needs amounts (one line with file, line and key),
and the value the drill does not know is not measured, never 0."""

from __future__ import annotations

import re

import pytest
import yaml

from moneypath.check.drill_files import load_drill
from moneypath.drills import tolerance
from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.formats.drill import DrillError
from tests.conftest import ROOT

DJANGO = ROOT / "tests" / "foreign" / "djangoshop" / "ops"
DRILL = DJANGO / "runbooks" / "drills" / "shopproviderpartialoutage.yaml"


def _shop_drill(tmp_path, unit_price: str | None):
    """The shop's outage drill without load.amounts; its checkout's line priced by `unit_price` (None: the
    shop's own price, no unitPrice sent)."""
    doc = yaml.safe_load(DRILL.read_text())
    del doc["load"]["amounts"]
    requests = yaml.safe_load((DRILL.parent / "requests" / "checkout.yaml").read_text())
    line = requests["flow"][0]["json"]["variables"]["lines"][0]
    if unit_price is None:
        del line["unitPrice"]
    else:
        line["unitPrice"] = unit_price
    doc["load"]["requests"] = requests
    path = tmp_path / "runbooks" / "drills" / "x.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def shop():
    from moneypath.catalog import load_catalog

    return load_catalog(DJANGO / "moneypath.yaml")


def test_a_target_that_prices_the_payment_needs_no_amounts(shop, tmp_path):
    drill = load_drill(_shop_drill(tmp_path, None), shop, DJANGO)
    assert drill.load.amounts is None and drill.load.amount_range == (0, 0)
    assert drill.load.amount_placeholders() == []


@pytest.mark.parametrize("price", ["{amount_major}", "{amount_minor}"])
def test_a_template_sending_an_amount_still_needs_amounts(shop, tmp_path, price):
    path = _shop_drill(tmp_path, price)
    with pytest.raises(DrillError) as err:
        load_drill(path, shop, DJANGO)
    [line] = err.value.problems
    m = re.fullmatch(r"(\S+):(\d+): load\.amounts: required: the request template sends \{(\w+)\}.*", line)
    assert m and m[3] == price.strip("{}"), line
    assert path.read_text().splitlines()[int(m[2]) - 1].startswith("load:")


def test_the_value_held_up_is_not_measured_when_the_drill_does_not_know_the_amounts():
    from moneypath.catalog import load_catalog

    catalog = load_catalog(ROOT / "moneypath.yaml")
    service = next(iter(catalog.business_services))
    hit = [PaymentOutcome(t=1001.0, provider="acme", currency="EUR", amount_minor=0, correlation_id="c", error="503",
                          finished=1002.0)]
    result = tolerance.impact(catalog, service, tolerance.DrillTraffic(hit, 20.0, 60, amounts_known=False), 1000.0,
                              1010.0)
    held = next(t for t in result.tolerances if t.name == "value_held_up")
    assert held.status == "not measured" and "prices its payments" in held.reason
    assert result.within_tolerance != "pass"
    value = next(c for c in result.classification["criteria"] if c["name"] == "value_share")
    assert value["status"] == "not measured", value
