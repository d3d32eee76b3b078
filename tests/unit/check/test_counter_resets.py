"""Counters that go backwards (moneypath.check.counter_resets): which answers name a target and which do not (a
restart, multiprocess mode); which drill expressions read rates; `up`'s probe; and the drill's checks and page
objectives not measured with the reason (no stack: Prometheus' answers are given)."""

from __future__ import annotations

import pytest

from moneypath.check import counter_resets as cr
from moneypath.formats.drill import CheckSpec
from moneypath.stack import counter_check
from tests.support.drill_fakes import duplicate_charge_run

SHOP = {"job": "service", "instance": "127.0.0.1:8000"}


def answers(counter_resets=None, start_time_resets=None, restarts=None, labels=SHOP):
    """A Prometheus answering the three queries (None: the series is absent, as without a process collector)."""
    def query(expr):
        what = (restarts if "changes(process_start" in expr else start_time_resets if "resets(process_start" in expr
                else counter_resets)
        return [] if what is None else [(dict(labels), float(what))]
    return query


@pytest.mark.parametrize("counters, start_resets, restarts, named", [
    (7, 3, 6, True),  # workers forked at different times: the start time goes back and forth
    (7, 0, 0, True),  # forked in one clock tick: one start time, the counters still go back
    (7, None, None, True),  # no process collector (the library's own registry): the counters say it
    (1, 0, 1, False),  # one real restart
    (2, 0, 2, False),  # two real restarts, each moving the start time forward
    (1, None, None, False),  # multiprocess mode restarted once
    (0, None, None, False),  # multiprocess mode: summed counters never go back
])
def test_which_answers_name_a_target(counters, start_resets, restarts, named):
    found = cr.find(answers(counters, start_resets, restarts), ["moneypath_x_total"], "2m")
    assert bool(found) is named
    if named:
        reason = found[0].reason()
        assert reason.startswith("target 127.0.0.1:8000 (job service): ") and "in 2m" in reason
        assert "several processes answer its scrapes in turn" in reason and "not data" in reason
        assert ("start time went backwards" in reason) is bool(start_resets)


def test_an_answer_without_an_instance_is_no_target():
    assert cr.find(answers(9, 9, 0, labels={}), ["x_total"], "2m") == []


def test_the_queries_read_the_catalog_counters_and_the_process_start_time(catalog):
    names = cr.counter_names(catalog)
    assert catalog.metric("authorizations_total") in names and cr.CPU_SECONDS in names
    assert f"{catalog.metric('authorization_duration_seconds')}_count" in names
    q = cr.queries(["a_total", "b_count"], "5m", ["127.0.0.1:8000"])
    at = "{instance=~`127\\.0\\.0\\.1:8000`}"
    assert q["start_time_resets"] == f"max by (job, instance) (resets(process_start_time_seconds{at}[5m]))"
    assert q["restarts"] == f"max by (job, instance) (changes(process_start_time_seconds{at}[5m]))"
    # resets() drops the name: each counter labelled with its own, or two of them would collide
    assert q["counter_resets"] == (f'max by (job, instance) (label_replace(resets(a_total{at}[5m]), "counter", "a_total", '
                                   f'"", "") or label_replace(resets(b_count{at}[5m]), "counter", "b_count", "", ""))')


@pytest.mark.parametrize("expr, reads", [
    ("sum(rate(moneypath_authorizations_total[10s]))", True),
    ("sum(increase(moneypath_dead_letters_total[10s]))", True),
    ("provider_method:moneypath_authorizations:approval_ratio_rate30m / x:ratio_rate1d", True),
    ('ALERTS{alertstate="firing", severity="page"}', True),
    ("max(moneypath_audit_chain_broken)", False),
    ("max by (queue) (moneypath_queue_depth)", False),
])
def test_which_checks_read_rates(expr, reads):
    assert cr.reads_rates(expr) is reads


def test_up_probe_sees_counters_going_back_and_not_a_restart(monkeypatch):
    start, captures = (cr.START_TIME, ()), ("captures_total", ())

    def reads(*scrapes):
        it = iter(scrapes)
        monkeypatch.setattr(counter_check, "_read", lambda target: next(it, scrapes[-1]))

    reads({start: 100.0, captures: 9.0}, {start: 101.0, captures: 1.0}, {start: 100.0, captures: 9.0})
    assert counter_check.probe("t") == "its process start time went backwards between two scrapes"
    reads({captures: 9.0}, {captures: 1.0})
    assert counter_check.probe("t") == "captures_total went down between two scrapes while the process did not restart"
    reads({start: 100.0, captures: 9.0}, {start: 200.0, captures: 0.0}, {start: 200.0, captures: 1.0})
    assert counter_check.probe("t") is None  # a restart
    reads({captures: 9.0}, {captures: 10.0}, {captures: 10.0})
    assert counter_check.probe("t") is None
    reads(None)
    assert counter_check.probe("t") is None  # does not answer: `up` says that elsewhere
    reads({captures: 9.0}, None, {captures: 1.0})
    assert counter_check.probe("t") is not None  # a failed read in between proves nothing either way


@pytest.fixture
def drill_run(catalog):
    with duplicate_charge_run(catalog) as (run, said):
        run.faults.record.injected_at = 1000.0
        yield run, said


def test_the_drill_does_not_measure_rates_of_a_target_whose_counters_go_back(drill_run):
    run, said = drill_run
    query = answers(12, 4, 8)
    run.prom.answer = lambda expr: query(expr) if "process_start_time" in expr or "resets(" in expr else [({}, 0.0)]
    rate = CheckSpec(name="steady", promql="sum(rate(moneypath_authorizations_total[10s]))", expect=[{"max": 1}])
    gauge = CheckSpec(name="chain", promql="max(moneypath_audit_chain_broken)", expect=[{"max": 0}])
    ok, reason = run.run_check(rate)
    assert ok is None and reason.startswith("not measured: target 127.0.0.1:8000 (job service): its process start")
    assert run.run_check(gauge)[0] is True
    run._judge_pages(run.alert_matrix(), 1000.0)
    objectives = {o.name: o for o in run.objectives}
    for name in ("detected", "no_unexpected_pages"):
        assert objectives[name].status == "not measured" and "several processes answer" in objectives[name].reason
    assert sum("counters not data: target 127.0.0.1:8000" in line for line in said) == 1  # named once


def test_the_drill_measures_a_target_whose_counters_hold(drill_run):
    run, said = drill_run
    run.prom.answer = lambda expr: [(SHOP, 0.0)] if "process_start_time" in expr or "resets(" in expr else [({}, 0.0)]
    ok, reason = run.run_check(CheckSpec(name="s", promql="sum(rate(moneypath_authorizations_total[10s]))",
                                         expect=[{"max": 1}]))
    assert ok is True and not any("counters not data" in line for line in said)
