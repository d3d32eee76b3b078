"""The diagnosis' evidence (moneypath.drills.diagnosis): money in its currency."""

from __future__ import annotations

from moneypath.drills import money


def test_runbook_evidence_reads_money_in_its_currency(foreign):
    from moneypath.drills.diagnosis import _render_rows, _render_series

    assert money.reads_money(foreign, "sum by (currency) (increase(shop_duplicate_charged_minor_total[1m]))")
    assert not money.reads_money(foreign, "sum(increase(shop_duplicate_charges_total[1m]))")
    series = [({"currency": "JPY"}, 6235.0), ({"currency": "KWD"}, 6235.0)]
    assert _render_series(series, foreign.money) == '{currency="JPY"} 6235 (JPY 6,235); {currency="KWD"} 6235 (KWD 6.235)'
    assert _render_series(series) == '{currency="JPY"} 6235; {currency="KWD"} 6235'  # not a money query
    rows = [{"payment_id": "p1", "amount_minor": 6235, "currency": "KWD"}]
    assert _render_rows(rows, foreign.money) == "1 row(s): payment_id=p1, amount_minor=6235 (KWD 6.235), currency=KWD"


def test_a_step_reading_rates_that_are_not_the_runs_is_not_measured_with_the_line(catalog):
    """The conservation of counts (or counters gone backwards) said the target's rates are not data: a runbook
    query that reads rates is no evidence; one that does not is still run."""
    from types import SimpleNamespace

    from moneypath.drills.diagnosis import Diagnosis
    from tests.support.drill_fakes import FakeProm

    line = "the metrics counted 1 of 4 authorizations sent to 127.0.0.1:8000 (0.25; 4 acknowledged): ..."
    steps = {"rates": {"promql": "sum(rate(moneypath_authorizations_total[5m]))"}, "gauge": {"promql": "up"}}
    ctx = SimpleNamespace(drill=SimpleNamespace(runbook_steps=steps), prom=FakeProm(), catalog=catalog, db=None,
                          clock=lambda: 1000.0, counters_not_data=lambda: line)
    ctx.prom.answer = lambda expr: [({"job": "svc"}, 1.0)]
    rates, gauge = (Diagnosis(ctx).run_step(name, []) for name in ("rates", "gauge"))
    assert (rates.ok, rates.result) == (None, f"not measured: {line}")
    assert gauge.result == '{job="svc"} 1'
