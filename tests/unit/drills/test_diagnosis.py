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
