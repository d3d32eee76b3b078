"""The backtest's arithmetic (for:, gaps, merged series, pages a week) and its recording-rule inlining, on
the shipped catalog's and the ticket shop's generated rules."""

from __future__ import annotations

import re

import pytest

from moneypath.check.backtest import AlertResult, Backtest, firing_intervals, merge
from moneypath.check.inline import Inliner
from moneypath.cli import main
from moneypath.generate.rules import alert_rules, recording_rules


def test_for_is_honoured_and_a_gap_restarts_the_clock():
    step = 60.0
    points = [0, 60, 120, 180, 300, 360, 420, 480, 540]  # 240 is missing: two runs
    assert firing_intervals(points, step, 0) == [(0, 240), (300, 600)]
    assert firing_intervals(points, step, 120) == [(120, 240), (420, 600)]
    assert firing_intervals(points, step, 200) == [(500, 600)]  # the first run (180 s) never reached 200 s
    assert firing_intervals([], step, 0) == []


def test_series_of_one_alert_merge_into_one_firing():
    assert merge([(0, 100), (50, 200), (300, 400), (400, 500)]) == [(0, 200), (300, 500)]


def test_pages_per_week_and_the_budget_leave_the_heartbeat_out():
    week = 7 * 86400
    burn = AlertResult("Burn", "page", fired=[(0, 60), (1000, 1060), (5000, 5600)], paged=[(0, 60), (1000, 1060)])
    heartbeat = AlertResult("Watchdog", "none", fired=[(0, week)])
    result = Backtest(0, 2 * week, 60, [burn, heartbeat], set(), 1.0)
    assert burn.pages_per_week(result.range_s) == 1.0 and burn.firing_s == 720
    assert result.over_budget(0.5) == [burn] and result.over_budget(1) == []


@pytest.mark.parametrize("fixture", ["catalog", "foreign"])
def test_every_recording_rule_reference_is_inlined(fixture, request):
    c = request.getfixturevalue(fixture)
    records = [r for g in recording_rules(c)["groups"] for r in g["rules"]]
    names = {r["record"] for r in records}
    inliner = Inliner.from_rules(records)
    for group in alert_rules(c)["groups"]:
        for rule in group["rules"]:
            expr = inliner.expand(rule["expr"], "1m")
            left = [name for name in names if re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", expr)]
            assert left == [], (rule["alert"], left)
            assert expr.count("(") == expr.count(")")
    assert inliner.kept == set()


def test_inlining_selects_by_static_labels_and_turns_ranges_into_subqueries():
    rules = [{"record": "slo:err:rate5m", "expr": "sum(rate(bad[5m]))", "labels": {"slo": "a"}},
             {"record": "slo:err:rate5m", "expr": "sum(rate(worse[5m]))", "labels": {"slo": "b"}},
             {"record": ":cost:rate15m", "expr": "sum(rate(cost[15m]))"},
             {"record": "provider:err:ratio", "expr": "sum by (provider) (rate(err[5m]))"}]
    inliner = Inliner.from_rules(rules)
    assert inliner.expand('slo:err:rate5m{slo="b"} > 0.1', "1m") == \
        'label_replace((sum(rate(worse[5m]))), "slo", "b", "", "") > 0.1'
    both = inliner.expand("slo:err:rate5m > 0", "1m")
    assert both.startswith("(label_replace((sum(rate(bad[5m]))), ") and " or " in both
    assert inliner.expand("avg_over_time(:cost:rate15m[1h])", "1m") == "avg_over_time((sum(rate(cost[15m])))[1h:1m])"
    # a 7-day range is sampled 200 times at most: every 50 minutes and 24 seconds
    assert inliner.expand("avg_over_time(:cost:rate15m[7d])", "1m").endswith("[7d:3024s])")
    # a matcher on a label the record does not set statically: left to the server's history
    assert inliner.expand('provider:err:ratio{provider="acme"}', "1m") == 'provider:err:ratio{provider="acme"}'
    assert inliner.kept == {"provider:err:ratio"}
    assert inliner.expand('label_replace(up, "x", "slo:err:rate5m", "", "")', "1m").count("label_replace") == 1


@pytest.mark.parametrize("args, message", [
    (["--range", "soon"], "not a Prometheus duration: 'soon'"),
    (["--step", "0s"], "--step must be at least 1s"),
    (["--end", "tomorrow"], "--end: 'tomorrow' is not now, Unix seconds or RFC 3339"),
    (["--max-pages-per-week", "-1"], "--max-pages-per-week must be 0 or more"),
    (["--rules", "/nonexistent.yaml"], "/nonexistent.yaml: file is missing"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, message, capsys):
    code = main(["alerts", "backtest", "--prometheus", "http://127.0.0.1:1", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert "Traceback" not in err
