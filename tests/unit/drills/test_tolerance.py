"""A drill's scenario against its business service's impact tolerances (moneypath.drills.tolerance) on the ticket
shop (JPY, KWD): within, beyond, not measured; in real time (drill time × the target's factor); the classification
the scenario would have had; the report's section."""

from __future__ import annotations

from dataclasses import replace

from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.drills.report.impact_section import impact_section
from moneypath.drills.report.reading import JournalReading
from moneypath.drills.tolerance import DrillTraffic, impact
from tests.support.shop_catalog import foreign_data, load


def shop(value_held_up=None, critical=True):
    data = foreign_data()
    data["business_services"] = {"ticket-sales": {
        "description": "Customers buy tickets.", "transactions": "authorizations_total",
        "affected": 'authorizations_total{outcome=~"error|timeout"}', "critical": critical,
        "tolerance": {"disruption": "30m", "value_held_up": value_held_up or {"JPY": 50000}}}}
    return load(data)


def payments(failed_from: float, failed_to: float, currency="JPY", amount=5000, n=100) -> list[PaymentOutcome]:
    """n payments one a second from t=0; those started within [failed_from, failed_to] failed."""
    return [PaymentOutcome(t=float(i), provider="komoju", currency=currency, amount_minor=amount, correlation_id=f"c{i}",
                           error="502" if failed_from <= i <= failed_to else None, finished=i + 0.5) for i in range(n)]


def test_a_short_scenario_is_within_tolerance():
    part = impact(shop(), "ticket-sales", DrillTraffic(payments(10, 14), 100.0, 60.0), 10.0, 20.0)
    by = {t.name: t for t in part.tolerances}
    # 5 payments affected from t=10 to t=14.5: 4.5 s of drill time × 60 = 4m 30s of real time
    assert by["disruption"].measured == "4 min 30 s" and by["disruption"].status == "pass"
    assert by["value_held_up"].status == "pass" and "JPY 25,000 of JPY 50,000" in by["value_held_up"].measured
    assert part.within_tolerance == "pass" and part.real_time_factor == 60.0


def test_a_long_or_costly_scenario_is_beyond_tolerance():
    part = impact(shop(), "ticket-sales", DrillTraffic(payments(10, 50), 100.0, 60.0), 10.0, 60.0)
    by = {t.name: t for t in part.tolerances}
    assert by["disruption"].status == "fail"  # 40.5 s × 60 = 40m30s > 30m
    assert by["value_held_up"].status == "fail"  # 41 × JPY 5,000 > JPY 50,000
    assert part.within_tolerance == "fail" and "disruption, value held up" in part.reason


def test_a_currency_without_a_tolerance_is_not_measured_in_its_own_exponent():
    part = impact(shop({"JPY": 50000}), "ticket-sales",
                  DrillTraffic(payments(10, 11, currency="KWD", amount=1500), 100.0, 1.0), 10.0, 20.0)
    held = next(t for t in part.tolerances if t.name == "value_held_up")
    assert held.status == "not measured" and "KWD 3.000 (no tolerance in KWD" in held.measured
    assert part.within_tolerance == "not measured"


def test_no_fault_or_no_service_is_not_measured():
    assert impact(shop(), "ticket-sales", DrillTraffic(payments(0, -1), 100.0, 60.0), None,
                  None).within_tolerance == "not measured"
    none = impact(shop(), None, DrillTraffic(payments(0, -1), 100.0, 60.0), 10.0, 20.0)
    assert none.within_tolerance == "not measured" and "names no business_service" in none.reason
    assert impact(shop(), "box-office", DrillTraffic([], 3.0, 1.0), 1.0, 2.0).within_tolerance == "not measured"


def test_the_scenario_is_classified_from_a_day_of_its_own_traffic():
    # 100 payments in 100 s at factor 60 stand for 100 payments in 6000 real seconds: 1440 a day; 41 affected = 2.8 %
    part = impact(shop(), "ticket-sales", DrillTraffic(payments(10, 50), 100.0, 60.0), 10.0, 60.0)
    cls = part.classification
    crit = {c["name"]: c for c in cls["criteria"]}
    assert crit["transactions_share"]["status"] == "not met" and "2.847 %" in crit["transactions_share"]["figures"]
    assert crit["clients"]["status"] == "not measured"
    assert cls["result"] == "not measured"  # what a drill cannot see could still make it major: never "not major"
    assert impact(shop(critical=False), "ticket-sales", DrillTraffic(payments(10, 50), 100.0, 60.0), 10.0,
                  60.0).classification["result"] == "not major"


def test_the_report_section_shows_tolerances_and_criteria():
    part = impact(shop(), "ticket-sales", DrillTraffic(payments(10, 50), 100.0, 60.0), 10.0, 60.0).to_dict()
    section = impact_section(JournalReading({"drill": "d", "schema": 1, "impact": part}))
    assert section.title == "Impact tolerance and DORA classification"
    texts = [str(cell.text) for block in section.blocks if hasattr(block, "rows") for row in block.rows for cell in row]
    assert "disruption" in texts and "30m" in texts and "40 min 30 s" in texts
    assert "RTS 2024/1772 Art. 9(1)(d)" in texts
    assert impact_section(JournalReading({"drill": "d", "schema": 1})) is None  # a journal from before the part


def test_the_runner_writes_the_impact_part_into_the_journal(live):
    from types import SimpleNamespace

    from moneypath.drills.baseline_load import LoadStats

    live.faults.inject()
    assert live.finish()["impact"]["within_tolerance"] == "not measured"  # duplicate-charge names no service
    live.drill.business_service = "card-payments"
    nothing = live.finish()["impact"]  # no payment sent: 0 affected is no evidence, and nothing is classified
    assert nothing["within_tolerance"] == "not measured" and nothing["classification"] is None
    assert "the drill sent no payment" in nothing["reason"]
    sent = [replace(o, t=o.t + live.now.t - 10, currency="EUR") for o in payments(10, 12, n=20)]
    live.load = SimpleNamespace(snapshot=lambda: sent, stats=LoadStats(), stop=lambda: None)
    part = live.finish()["impact"]
    assert part["service"] == "card-payments" and [t["name"] for t in part["tolerances"]] == ["disruption",
                                                                                          "value_held_up"]
    assert part["real_time_factor"] == 60 and part["classification"]["service"] == "card-payments"


def test_a_drill_naming_an_unknown_business_service_is_refused(catalog):
    from moneypath.check.drill_files import check_drill, load_drill
    from tests.conftest import ROOT

    drill = load_drill(ROOT / "runbooks/drills/provider-partial-outage.yaml", catalog, ROOT)
    assert drill.business_service == "card-payments"
    drill.business_service = "card-payment"
    [problem] = check_drill(drill, catalog, ROOT)
    assert problem.startswith("business_service: 'card-payment' is not in the catalog's business_services "
                              "(card-payments); did you mean"), problem
