"""Time compression of the generated rules for the local drill stack (moneypath.generate.compress)."""

from __future__ import annotations

import pytest

from moneypath.generate.compress import compress_rules, format_duration, scale_duration, scale_expr
from moneypath.generate.rules import alert_rules


@pytest.mark.parametrize("seconds, text", [(5, "5s"), (60, "1m"), (90, "90s"), (7200, "2h"), (86400, "1d"),
                                           (0.2, "1s"), (10080, "168m")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_scale_duration_divides_and_floors():
    assert scale_duration("5m", 60) == "5s"
    assert scale_duration("1d", 60) == "24m"
    assert scale_duration("2m", 60, floor_s=10) == "10s"
    assert scale_duration("10s", 1 / 30) == "5m"  # a factor below 1 stretches


def test_scale_expr_ranges_subqueries_offsets_but_not_strings():
    expr = 'sum(rate(x{route="[5m]"}[5m])) / sum(rate(x[1h] offset 1d)) + max_over_time(y[30m:1m])'
    assert scale_expr(expr, 60) == ('sum(rate(x{route="[5m]"}[5s])) / sum(rate(x[1m] offset 24m))'
                                    ' + max_over_time(y[30s:1s])')
    assert scale_expr(expr, 1) == expr


def test_compress_rules_keeps_names_and_thresholds(catalog):
    original = alert_rules(catalog)
    fast = compress_rules(original, 60)
    before = [r for g in original["groups"] for r in g["rules"]]
    after = [r for g in fast["groups"] for r in g["rules"]]
    assert [r["alert"] for r in before] == [r["alert"] for r in after]
    assert original == alert_rules(catalog), "the input is not modified"
    by_name = {r["alert"]: r for r in after if "for" in r}
    # for: 2m / 60 = 2 s is floored at 10 s; 15m / 60 = 15 s
    assert by_name[catalog.alert_name("ProviderPartialOutage")]["for"] == "10s"
    assert by_name[catalog.alert_name("CostPerTransactionRegression")]["for"] == "15s"
    fraud = next(r for r in after if r["alert"] == catalog.alert_name("FraudSpike"))
    assert "[15s]" in fraud["expr"] and "[24m]" in fraud["expr"] and "> 3 *" in fraud["expr"]
    assert all("for" not in r for r in after if r["alert"] == catalog.alert_name("DuplicateChargeDetected"))
