"""Catalog `business_services:` and `dora:` (moneypath.catalog.business_services): the regulations' defaults when
absent, and one line per mistake naming the file, the line and the key."""

from __future__ import annotations

import pytest

from moneypath.catalog import CatalogError
from moneypath.catalog.business_services import ONE_MONTH
from tests.support.shop_catalog import foreign_data, load

SERVICE = {"description": "Customers buy tickets.", "transactions": "authorizations_total",
           "affected": 'authorizations_total{outcome=~"error|timeout"}',
           "tolerance": {"disruption": "30m", "value_held_up": {"JPY": 500000}}}


def with_service(**changes) -> dict:
    data = foreign_data()
    data["business_services"] = {"ticket-sales": {**SERVICE, **changes}}
    return data


def problems(data: dict) -> list[str]:
    with pytest.raises(CatalogError) as exc:
        load(data)
    return exc.value.problems


def test_absent_sections_have_the_regulations_figures(foreign):
    assert foreign.business_services == {}
    t, clocks = foreign.dora.thresholds, foreign.dora.clocks
    assert (t.clients_share, t.clients, t.transactions_share, t.value_share, t.downtime, t.duration) == (
        0.10, 100_000, 0.10, 0.10, "2h", "24h")
    assert (clocks.initial_after_classification, clocks.initial_after_awareness, clocks.intermediate_after_initial,
            clocks.final_after_intermediate) == ("4h", "24h", "72h", ONE_MONTH)
    assert foreign.dora.clients_signal is None and foreign.dora.daily_average_over == "7d"


def test_a_service_on_a_foreign_catalog_loads():
    c = load(with_service())
    svc = c.business_services["ticket-sales"]
    assert svc.critical and svc.disruption_s == 1800 and svc.tolerance.value_held_up == {"JPY": 500000}


@pytest.mark.parametrize("changes, expected", [
    ({"transactions": "ticket_sales_total"}, r"business_services.ticket-sales.transactions: 'ticket_sales_total' is "
                                             "not a counter signal"),
    ({"affected": 'authorizations_total{state="x"}'}, r"affected: authorizations_total has no label 'state'"),
    ({"affected": 'provider_requests_total{outcome="error"}'}, r"affected: must select the same signal as transactions"),
    ({"transactions": "ledger_imbalance_minor"}, r"transactions: 'ledger_imbalance_minor' is not a counter signal"),
    ({"value": "duplicate_charged_minor_total"}, r"value: give value and affected_value together, or neither"),
    ({"tolerance": {"disruption": "half an hour"}}, r"tolerance.disruption: Value error, 'half an hour' is not a "
                                                    "duration"),
    ({"tolerance": {"disruption": "30m", "value_held_up": {"EUR": 100}}},
     r"tolerance.value_held_up.EUR: 'EUR' is not one of the catalog's currencies \(JPY, KWD\)"),
    ({"tolerance": {"disruption": "30m", "value_held_up": {"JPY": 0}}}, r"value_held_up: Value error, amounts are "
                                                                        "above 0"),
    ({"critical": "sometimes"}, r"critical: Input should be a valid boolean"),
    ({"colour": "red"}, r"ticket-sales.colour: Extra inputs are not permitted"),
])
def test_a_bad_service_is_one_line_with_file_line_and_key(changes, expected):
    found = problems(with_service(**changes))
    assert len(found) == 1, found
    assert found[0].startswith("team/moneypath.yaml:"), found
    import re
    assert re.search(expected, found[0]), found[0]
    assert re.match(r"team/moneypath\.yaml:\d+: business_services\.ticket-sales", found[0]), found[0]


@pytest.mark.parametrize("dora, expected", [
    ({"clients_signal": "authorization_duration_seconds"}, r"dora.clients_signal: 'authorization_duration_seconds' "
                                                           r"is not a counter signal \(a count of clients affected"),
    ({"thresholds": {"clients_share": 1.5}}, r"dora.thresholds.clients_share: Input should be less than or equal to 1"),
    ({"thresholds": {"downtime": "two hours"}}, r"dora.thresholds.downtime: Value error, 'two hours' is not a duration"),
    ({"clocks": {"final_after_intermediate": "a month"}}, r"dora.clocks.final_after_intermediate: Value error"),
    ({"daily_average_over": 7}, r"dora.daily_average_over: Input should be a valid string"),
])
def test_a_bad_dora_section_is_one_line_with_its_key(dora, expected):
    import re

    data = foreign_data()
    data["dora"] = dora
    found = problems(data)
    assert len(found) == 1 and re.search(expected, found[0]), found
    assert re.match(r"team/moneypath\.yaml:\d+: dora", found[0]), found


def test_dora_clocks_and_thresholds_can_be_set():
    data = with_service()
    data["dora"] = {"clients_signal": "duplicate_charges_total", "clients_total": 5000,
                    "thresholds": {"transactions_share": 0.05}, "clocks": {"final_after_intermediate": "30d"}}
    c = load(data)
    assert c.dora.thresholds.transactions_share == 0.05 and c.dora.thresholds.value_share == 0.10
    assert c.dora.clocks.final_after_intermediate == "30d" and c.dora.clients_total == 5000
