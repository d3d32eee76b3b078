"""DORA's classification (moneypath.check.classification): each criterion met, not met or not measured from its
figures; Art. 8(1) over them, never "not major" while a threshold that could make it major is unmeasured; and
the figures read from Prometheus (a fake answering the queries measure() sends)."""

from __future__ import annotations

import pytest

from moneypath.catalog.business_services import Thresholds
from moneypath.check.classification import (
    ASSESSED,
    MAJOR,
    MET,
    NOT_MAJOR,
    NOT_MET,
    Measures,
    classify,
    criteria,
    measure,
)
from tests.support.shop_catalog import foreign_data, load

T = Thresholds()
NONE_ELSE = {name: False for name in ASSESSED}  # a person assessed everything moneypath cannot see: not met


def figures(**changes) -> Measures:
    """A critical service, 1 h long, 1 % of a day's transactions and value affected, 10 min down."""
    base = dict(service="card", critical=True, duration_s=3600.0, affected=100.0, transactions=1000.0,
                daily_transactions=10_000.0, affected_value={"EUR": 1000.0}, daily_value={"EUR": 100_000.0},
                downtime_s=600.0)
    return Measures(**(base | changes))


def status(m: Measures, name: str) -> str:
    return next(c.status for c in criteria(m, T) if c.name == name)


@pytest.mark.parametrize("changes, name, expected", [
    ({}, "transactions_share", NOT_MET),
    ({"affected": 1001.0}, "transactions_share", MET),  # 10.01 % of the daily average
    ({"affected": 1000.0}, "transactions_share", NOT_MET),  # exactly 10 %: the threshold is "higher than"
    ({"daily_transactions": None}, "transactions_share", "not measured"),
    ({"daily_transactions": 0.0}, "transactions_share", "not measured"),  # no average to compare with, never a share
    ({"affected_value": {"EUR": 10_001.0}}, "value_share", MET),
    ({"affected_value": None}, "value_share", "not measured"),
    ({"affected_value": {"EUR": 5.0, "JPY": 900.0}}, "value_share", "not measured"),  # no JPY daily average
    ({"affected_value": {"EUR": 5.0, "JPY": 900.0}, "daily_value": {"EUR": 100.0, "JPY": 1000.0}}, "value_share", MET),
    ({}, "clients", "not measured"),  # no counter of clients declared
    ({"clients_affected": 100_001.0}, "clients", MET),
    ({"clients_affected": 50.0}, "clients", NOT_MET),
    ({"clients_affected": 50.0}, "clients_share", "not measured"),  # no total of clients in the catalog
    ({"clients_affected": 501.0, "clients_total": 5000}, "clients_share", MET),
    ({}, "downtime", NOT_MET),
    ({"downtime_s": 7201.0}, "downtime", MET),
    ({"downtime_s": None}, "downtime", "not measured"),
    ({"downtime_s": 9000.0, "critical": False}, "downtime", NOT_MET),  # Art. 9(3)(b) is for critical functions
    ({}, "duration", NOT_MET),
    ({"duration_s": 24 * 3600 + 1.0}, "duration", MET),
    ({}, "critical_service", MET),
    ({"affected": 0.0}, "critical_service", NOT_MET),
    ({"critical": False}, "critical_service", NOT_MET),
    ({"affected": None}, "critical_service", "not measured"),
    ({}, "reputational", "not measured"),
    ({"assessed": {"reputational": True}}, "reputational", MET),
])
def test_each_criterion_is_met_not_met_or_not_measured(changes, name, expected):
    assert status(figures(**changes), name) == expected


def test_two_thresholds_met_on_a_critical_service_is_major():
    c = classify(figures(affected=2000.0, downtime_s=3 * 3600.0), T)
    assert c.result == MAJOR
    assert c.thresholds["9(1)"] == MET and c.thresholds["9(3)"] == MET
    assert "Art. 9(1), 9(3)" in c.reason


def test_one_threshold_met_and_the_rest_unmeasured_is_not_measured_never_not_major():
    c = classify(figures(affected=2000.0), T)
    assert c.result == "not measured"
    assert "Art. 9(2)" in c.reason and "could still make it major" in c.reason


def test_nothing_met_but_unassessed_criteria_is_still_not_measured():
    # every figure moneypath reads is below its threshold; reputational, geographical... could still make two
    assert classify(figures(), T).result == "not measured"


def test_not_major_only_once_nothing_left_unmeasured_could_make_two():
    m = figures(clients_affected=10.0, clients_total=5000, assessed=dict(NONE_ELSE))
    c = classify(m, T)
    assert c.result == NOT_MAJOR, c.reason
    # one threshold met and every other not met: still fewer than two
    assert classify(figures(affected=2000.0, assessed=dict(NONE_ELSE)), T).result == NOT_MAJOR
    # ... and with Art. 9(1) met, clients unmeasured cannot make a second threshold (they are in 9(1) too) ...
    assert classify(figures(affected=2000.0, assessed=dict(NONE_ELSE)), T).thresholds["9(1)"] == MET
    # ... but downtime unmeasured could (Art. 9(3)): not measured
    assert classify(figures(affected=2000.0, downtime_s=None, assessed=dict(NONE_ELSE)), T).result == "not measured"
    # nothing measured of 9(1) (nor whether the service was hit), every other threshold not met: 9(1) alone
    # cannot make two, so what is unmeasured could not make it major
    assert classify(figures(affected=None, downtime_s=1.0, assessed=dict(NONE_ELSE)), T).result == NOT_MAJOR


def test_a_service_of_no_critical_function_is_not_major_whatever_else():
    c = classify(figures(critical=False, affected=5000.0, downtime_s=9999.0), T)
    assert c.result == NOT_MAJOR and "no critical service affected" in c.reason


def test_malicious_access_alone_makes_it_major():
    c = classify(figures(assessed={"malicious_access": True}), T)
    assert c.result == MAJOR and "9(5)(b)" in c.reason


def test_an_unmeasured_critical_service_is_not_measured():
    assert classify(figures(affected=None, downtime_s=3 * 3600.0), T).result == "not measured"


def test_thresholds_come_from_the_catalog():
    lower = Thresholds(transactions_share=0.005)
    assert next(c.status for c in criteria(figures(), lower) if c.name == "transactions_share") == MET


# ---------------------------------------------------------------- from Prometheus


class FakeProm:
    """Answers measure()'s queries by what they contain; records them."""

    def __init__(self, instant: dict[str, list], ranges: dict[str, list], held_from: float):
        self.instant_answers, self.range_answers, self.held_from, self.asked = instant, ranges, held_from, []

    def instant(self, query, at=None):
        self.asked.append(query)
        return next((v for k, v in self.instant_answers.items() if k in query), [])

    def range(self, query, start, end, step):
        self.asked.append(query)
        if query.startswith("sum(shop_authorizations_total"):  # coverage of the daily average window
            return [{"metric": {}, "values": [[t, "1"] for t in range(int(max(start, self.held_from)), int(end), 60)]}]
        return next((v for k, v in self.range_answers.items() if k in query), [])


def shop_with_service(**dora):
    data = foreign_data()
    data["signals"]["charged_minor_total"] = {"type": "counter", "unit": "minor", "help": "Charged amounts.",
                                              "labels": {"currency": ["@currencies"], "outcome": ["ok", "failed"]}}
    data["business_services"] = {"ticket-sales": {
        "description": "Customers buy tickets.", "transactions": "authorizations_total",
        "affected": 'authorizations_total{outcome=~"error|timeout"}', "value": "charged_minor_total",
        "affected_value": 'charged_minor_total{outcome="failed"}', "tolerance": {"disruption": "30m"}}}
    data["dora"] = dora
    return load(data)


def sample(v, **labels):
    return {"metric": labels, "value": [0, str(v)]}


def test_measure_reads_the_foreign_catalogs_series_and_judges_them():
    c = shop_with_service(daily_average_over="1d")
    end, start = 200_000.0, 200_000.0 - 3 * 3600
    prom = FakeProm({"increase(shop_authorizations_total{outcome": [sample(500)],
                     "increase(shop_authorizations_total[1d])": [sample(4000)],
                     "increase(shop_authorizations_total[": [sample(600)],
                     'increase(shop_charged_minor_total{outcome="failed"}': [sample(90_000, currency="JPY")],
                     "increase(shop_charged_minor_total[1d])": [sample(1_000_000, currency="JPY"),
                                                                 sample(5_000, currency="KWD")]},
                    {"/ sum(rate(": [{"metric": {}, "values": [[start + i * 60, "0.9" if i < 150 else "0"]
                                                               for i in range(180)]}]}, held_from=0)
    m = measure(prom, c, "ticket-sales", start, end)
    assert (m.affected, m.daily_transactions) == (500, 4000)
    assert m.affected_value == {"JPY": 90_000} and m.daily_value == {"JPY": 1_000_000, "KWD": 5_000}
    assert m.downtime_s == 150 * 60  # the minutes with more than 5 % affected
    cls = classify(m, c.dora.thresholds)
    assert cls.thresholds["9(1)"] == MET and cls.thresholds["9(3)"] == MET and cls.result == MAJOR
    assert "shop_authorizations_total" in cls.criteria[0].query
    assert "clients affected: not measured: the catalog declares no counter" in \
        next(x.figures for x in cls.criteria if x.name == "clients")


def test_a_baseline_prometheus_does_not_hold_is_not_measured():
    c = shop_with_service()  # the daily average over the 7 days before the incident
    end, start = 1_000_000.0, 1_000_000.0 - 600
    prom = FakeProm({"increase(shop_authorizations_total{outcome": [sample(5)],
                     "increase(shop_authorizations_total[": [sample(50)]}, {}, held_from=start - 86400)
    m = measure(prom, c, "ticket-sales", start, end)
    assert m.daily_transactions is None
    assert "Prometheus holds 24 h of the 168 h before the incident" in m.why["daily_transactions"]
    assert status(m, "transactions_share") == "not measured"
    assert m.downtime_s is None and classify(m, c.dora.thresholds).result == "not measured"


def test_no_series_is_not_measured_never_zero():
    c = shop_with_service(daily_average_over="1h")
    m = measure(FakeProm({}, {}, held_from=0), c, "ticket-sales", 50_000.0, 53_600.0)
    assert m.affected is None and "no series" in m.why["affected"]
    cls = classify(m, c.dora.thresholds)
    assert cls.result == "not measured" and cls.criteria[0].status == "not measured"
