"""The one rewrite that holds a drill's queries to its own window (moneypath.generate.windows): ranges scaled
and cut to the phase, subqueries, offsets and `@` judged from the parse tree, recorded series inlined or refused."""

from __future__ import annotations

import pytest

from moneypath.generate.rules import recording_rules
from moneypath.generate.windows import Records, own_window, rule_records

pytest.importorskip("promql_parser")


def test_a_runbook_range_is_scaled_to_the_target_and_left_when_it_fits():
    w = own_window("sum by (provider) (rate(moneypath_provider_requests_total[5m]))", 60, 40)
    assert w.expr == "sum by (provider) (rate(moneypath_provider_requests_total[5s]))"
    assert w.why == "ranges ÷60 ([5m] → [5s])"


def test_a_range_longer_than_the_phase_is_cut_to_it():
    w = own_window('sum(increase(moneypath_dead_letters_total{queue="x"}[1h]))', 60, 42.7)
    assert w.expr == 'sum(increase(moneypath_dead_letters_total{queue="x"}[42s]))'
    assert w.why == "ranges ÷60 ([1h] → [1m]); cut to the 42 s since the phase began ([1m] → [42s])"


def test_an_unscaled_query_is_only_cut_and_a_label_value_that_looks_like_a_range_is_kept():
    w = own_window('rate(x{window="[5m]"}[30s])', 1, 12)
    assert w.expr == 'rate(x{window="[5m]"}[12s])'


def test_a_subquery_range_is_cut_and_its_step_kept():
    w = own_window("max_over_time(up[30s:2s])", 1, 10)
    assert w.expr == "max_over_time(up[10s:2s])"


def test_a_range_nested_in_a_subquery_that_still_reaches_before_the_phase_is_refused():
    w = own_window("max_over_time(rate(x[5m])[1h:1m])", 60, 30)
    assert w.expr is None
    assert w.why.startswith("looks back 35s, further than the 30 s since the phase began")


def test_an_offset_that_reaches_before_the_phase_is_not_evidence():
    w = own_window("sum(rate(moneypath_cost_usd_total[1h] offset 1d))", 60, 120)
    assert not w.confined
    assert w.why == ("looks back 25m, further than the 120 s since the phase began: it may hold an earlier "
                     "incident")
    assert own_window("rate(x[5s] offset 5s)", 1, 30).expr == "rate(x[5s] offset 5s)"


def test_at_pinned_outside_the_phase_is_refused_inside_it_allowed():
    assert not own_window("rate(x[5s] @ 1000)", 1, 60).confined  # no bounds: an absolute time is not the phase's
    assert not own_window("rate(x[5s] @ 900)", 1, 60, at_bounds=(950.0, 1010.0)).confined
    assert own_window("rate(x[5s] @ 1000)", 1, 60, at_bounds=(950.0, 1010.0)).confined
    assert own_window("x @ end()", 1, 60).confined


def test_recorded_series_named_once_are_inlined_and_scaled_families_judged_by_their_reach(catalog):
    records = rule_records(catalog)
    long = "provider_method:moneypath_authorizations:approval_ratio_rate1d"
    assert long in records.inline
    w = own_window(long, 60, 100, records)
    assert w.confined and "[1d]" not in w.expr and "[100s]" in w.expr
    assert w.why == f"{long} read as its rule ÷60; cut to the 100 s since the phase began ([24m] → [100s])"
    # a label-split family stays recorded: short enough is fine, a 30-day budget never is
    assert own_window('slo:sli_error:ratio_rate5m{slo="authorization-availability"}', 60, 30, records).confined
    w = own_window('slo:error_budget_remaining:ratio{slo="authorization-availability"}', 60, 300, records)
    assert not w.confined and w.why.startswith("looks back 12h")


def test_a_recorded_series_with_a_range_on_it_counts_the_rule_and_the_range():
    records = Records.of([{"groups": [{"rules": [{"record": "a:b:rate5m", "expr": "sum(rate(x[5m]))"}]}]}])
    assert own_window("a:b:rate5m", 60, 30, records).expr == "(sum(rate(x[5s])))"
    w = own_window("avg_over_time(a:b:rate5m[1h])", 60, 30, records)
    assert not w.confined and w.why.startswith("looks back 35s")  # [1h] → [1m], cut to 30 s, + the rule's 5 s


def test_rules_factor_converts_recorded_windows_of_a_drill_file_query():
    records = Records.of([{"groups": [{"rules": [{"record": "r:x", "expr": "rate(x[5m])"},
                                                  {"record": "r:x", "expr": "rate(y[5m])"}]}]}])
    assert not own_window("r:x", 1, 20, records, rules_factor=1).confined  # production rules: 5 min back
    assert own_window("r:x", 1, 20, records, rules_factor=60).confined  # the 60x stack's: 5 s


def test_an_expression_that_does_not_parse_says_so():
    assert own_window("rate(x[5m]", 1, 30).why.startswith("does not parse")


def test_the_shipped_rules_are_read(catalog):
    doc = recording_rules(catalog)
    assert Records.of([doc]).reach_s["slo:sli_error:ratio_rate30d"] == 30 * 86400


def test_a_drill_file_query_on_production_rules_is_stretched_then_cut():
    w = own_window("sum(rate(x_total[10s]))", 1 / 60, 100)
    assert w.expr == "sum(rate(x_total[100s]))"
    assert w.why == "ranges ×60 ([10s] → [10m]); cut to the 100 s since the phase began ([10m] → [100s])"
