"""The capacity plan (moneypath.loadtest.command.capacity.plan): the knee, projections, goodput, steps, unit costs."""

from __future__ import annotations

import pytest

from moneypath.loadtest.command import stats
from moneypath.loadtest.command.capacity import plan as capacity
from moneypath.loadtest.command.capacity import plan_report, usl
from moneypath.loadtest.in_locust import request_names, shape
from tests.support.locust_stats import entry
from tests.unit.loadtest.helpers import step


def test_knee_is_the_last_passing_step_before_the_first_failure():
    assert capacity.knee([step(20, True), step(40, True), step(60, False), step(80, True)]).rate == 40
    assert capacity.knee([step(20, False), step(40, True)]) is None
    assert capacity.knee([]) is None
    assert capacity.step_rates(20, 20, 100) == [20, 40, 60, 80, 100]
    assert capacity.step_rates(10, 25, 60) == [10, 35, 60]


def test_interpolate_is_linear_and_clamped():
    pts = [(10, 100.0), (20, 200.0), (40, 400.0)]
    assert capacity.interpolate(pts, 15) == 150
    assert capacity.interpolate(pts, 5) == 100 and capacity.interpolate(pts, 99) == 400
    assert capacity.interpolate([], 5) is None


def test_projection_instances_grow_in_steps_and_cost_per_transaction_follows():
    costs = capacity.UnitCosts(infrastructure_usd_per_instance_hour=1.2, fees_usd_per_authorization=0.1,
                               fraud_usd_per_authorization=0.0005)
    one, ten, hundred = capacity.project(5, 50, 1.0, costs, [(10, 80.0), (50, 250.0)])
    assert (one.instances, ten.instances, hundred.instances) == (1, 1, 10)
    assert one.per_instance_authorizations_per_s == 5 and hundred.per_instance_authorizations_per_s == 50
    assert one.infrastructure_usd_per_authorization == pytest.approx(1.2 / 3600 / 5)
    assert ten.infrastructure_usd_per_authorization == pytest.approx(1.2 / 3600 / 50)
    assert one.usd_per_authorization == pytest.approx(1.2 / 3600 / 5 + 0.1005)
    assert one.p99_ms == 80 and hundred.p99_ms == 250
    assert capacity.project(5, 50, 0.5, costs, [])[1].instances == 2  # run instances at half the knee
    with pytest.raises(ValueError):
        capacity.project(5, 0, 1.0, costs, [])


def test_unit_costs_come_from_the_catalog_cost_model(catalog, spec):
    costs = capacity.unit_costs(catalog, spec)
    assert costs.infrastructure_usd_per_instance_hour == 1.20 and costs.fraud_usd_per_authorization == 0.0005
    mean_usd = spec.amount_minor.mean() / 100
    per_capture = 0.6 * (0.10 + mean_usd * 25 / 10_000) + 0.4 * (0.05 + mean_usd * 30 / 10_000)
    shares = shape.action_shares(spec)
    assert costs.fees_usd_per_authorization == pytest.approx(per_capture * shares["capture"] / shares["authorize"])


def test_goodput_is_what_was_achieved_less_what_failed():
    entries = [entry("authorize [acme]", times={"100": 300}, failures=60),
               entry("authorize [acme] (attempt)", times={"100": 100}, failures=40),  # attempts are requests too
               entry("authorize [acme]", method=request_names.RETRIED, times={"400": 50}, failures=50),  # not HTTP
               entry(request_names.DUPLICATE_CHECK, method=request_names.CHECK, times={"5": 10}, failures=10)]
    s = stats.summarize(entries, duration_s=10)
    assert s.rps == 40.0 and capacity.goodput_rps(s) == 30.0  # (400 - 100 failed) / 10 s
    assert capacity.goodput_rps(stats.summarize([entry("x", failures=10)], duration_s=10)) == 0.0
    assert capacity.goodput_rps(stats.summarize([entry("x")], duration_s=10)) == 1.0


def test_a_plan_carries_goodput_and_refusals_and_reads_older_plans(catalog, spec):
    from dataclasses import replace

    steps = [step(20, True), replace(step(40, False), goodput_rps=31.5, refused_rps=7.0)]
    result = capacity.plan(catalog, spec, steps, current=5, utilization=1.0)
    assert [(s["goodput_rps"], s["refused_rps"]) for s in result["steps"]] == [(None, 0.0), (31.5, 7.0)]
    for s in result["steps"]:
        del s["goodput_rps"], s["refused_rps"]  # a plan written before they were measured
    page = plan_report.document(result)
    assert "31.5" not in page.to_markdown() and page.to_html().count("<table") >= 3


def test_automatic_steps_surround_the_saturation_throughput():
    assert capacity.auto_rates(400) == [160.0, 240.0, 300.0, 340.0, 380.0, 420.0]


def test_a_wide_gap_above_the_knee_is_bisected_and_a_narrow_one_is_not():
    assert capacity.refine_rate([step(100, True), step(200, True), step(300, False)]) == 250
    assert capacity.refine_rate([step(100, True), step(200, True), step(215, False)]) is None
    assert capacity.refine_rate([step(100, True), step(200, True)]) is None  # nothing failed
    assert capacity.refine_rate([step(100, False)]) is None  # no knee


def test_sqlite_projections_past_one_instance_are_not_feasible():
    one, ten, hundred = capacity.project(5, 50, 1.0, None, [], database="sqlite")
    assert (one.feasible, ten.feasible, hundred.feasible) == (True, True, False)
    assert hundred.instances == 10 and "SQLite writer" in hundred.note
    unknown = capacity.project(5, 50, 1.0, None, [])[2]
    assert unknown.feasible and unknown.note is None and unknown.database == "unknown"


def test_instances_sharing_a_database_do_not_multiply_its_capacity():
    # n instances carry n x 50 / (1 + 0.1 (n - 1)): 400/s needs 36, not 8; 500/s is the asymptote itself
    linear = capacity.project(4, 50, 1.0, None, [])[2]
    shared = capacity.project(4, 50, 1.0, None, [], database="postgresql", contention=0.1)[2]
    assert linear.instances == 8 and shared.instances == 36 and shared.feasible
    out_of_reach = capacity.project(5, 50, 1.0, None, [], database="postgresql", contention=0.1)[2]
    assert not out_of_reach.feasible and "out of reach" in out_of_reach.note
    assert usl.instances_for(450, 50, 0.1) == 81


def test_contention_between_processes_comes_from_two_saturation_probes():
    one, two = step(100, True, auth=100), step(200, True, auth=160)
    assert capacity.contention(one, two, 2) == pytest.approx(2 * 100 / 160 - 1)
    assert capacity.contention(one, step(200, True, auth=200), 2) == 0  # perfect scaling
    assert capacity.contention(one, step(200, True, auth=250), 2) == 0  # never negative
    with pytest.raises(ValueError):
        capacity.contention(one, two, 1)


def test_unit_costs_read_each_currency_in_its_own_exponent(foreign, foreign_spec):
    costs = capacity.unit_costs(foreign, foreign_spec)
    # amount_minor is JPY minor units (exponent 0) three times in four and KWD (exponent 3) once: no FX
    mean_major = foreign_spec.amount_minor.mean() * (0.75 / 1 + 0.25 / 1000)
    assert capacity.mean_amount_major(foreign, foreign_spec) == pytest.approx(mean_major)
    per_capture = 0.7 * (0.02 + mean_major * 320 / 10_000) + 0.3 * (0.10 + mean_major * 0 / 10_000)
    shares = shape.action_shares(foreign_spec)
    assert costs.fees_usd_per_authorization == pytest.approx(per_capture * shares["capture"] / shares["authorize"])
    assert costs.infrastructure_usd_per_instance_hour == 0.40
    assert costs.fraud_usd_per_authorization is None  # no fraud screening in this catalog
