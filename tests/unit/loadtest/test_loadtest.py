"""Load-test logic without Locust or a stack: scenarios and shape, Locust statistics, gates,
baseline comparison, knee and projection, the exporter's collector, the report and the CLI's
bad-input paths. Locust itself is never imported here (gevent would patch this process)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from moneypath import cli
from moneypath.catalog.conventions import LOCUST_METRICS
from moneypath.formats import scenarios
from moneypath.loadtest import gates, request_names, resources, run_report, shape, stats
from moneypath.loadtest.capacity import plan as capacity
from moneypath.loadtest.capacity import plan_report, usl
from moneypath.loadtest.exporter import registry_for
from tests import conftest
from tests.conftest import CATALOG_PATH, ROOT, SHIPPED_LOCUSTFILE, SHIPPED_SCENARIOS
from tests.support.locust_stats import entry


@pytest.fixture(scope="module")
def spec(catalog):
    return scenarios.load(SHIPPED_SCENARIOS, catalog)




# ---------------------------------------------------------------- scenarios and shape


def test_the_shipped_scenarios_are_valid_against_the_catalog(spec):
    assert set(spec.scenarios) == {"checkout", "peak", "spike", "soak", "overload", "retry_storm", "slow_provider",
                                   "healthz"}
    assert spec.get("peak").multiplier == 10
    assert spec.get("spike").spike.multiplier == 20 and spec.get("spike").spike.duration_s == 60
    assert shape.duration_of(spec, spec.get("soak")) == 3600
    assert spec.get("retry_storm").user == "retry_storm"
    assert spec.get("slow_provider").faults[0].name == "latency"


def test_peak_runs_ten_times_the_users_and_stops_at_the_duration(spec):
    peak = spec.get("peak")
    assert shape.users_at(peak, 5, 0, 60) == 50
    assert shape.users_at(peak, 5, 59.9, 60) == 50
    assert shape.users_at(peak, 5, 60, 60) is None


def test_spike_jumps_twenty_fold_for_a_minute_or_a_third_of_a_short_run(spec):
    spike = spec.get("spike")
    assert shape.spike_window(spike, 300) == (100, 160)
    assert [shape.users_at(spike, 2, t, 300) for t in (0, 99, 100, 159, 160, 299)] == [2, 2, 40, 40, 2, 2]
    assert shape.spike_window(spike, 9) == (3, 6)
    assert [shape.users_at(spike, 2, t, 9) for t in (2.9, 3, 5.9, 6)] == [2, 40, 40, 2]


def test_rate_is_requests_per_second_across_users():
    assert shape.pace_per_user(20, 10) == 2
    with pytest.raises(scenarios.ScenarioError):
        shape.pace_per_user(0, 10)


def test_backoff_is_capped_exponential_with_full_jitter(spec):
    retry = spec.get("retry_storm").retry
    upper = [retry.backoff_s(n, lambda low, high: high) for n in range(1, 9)]
    assert upper == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert all(retry.backoff_s(n, lambda low, high: low) == 0 for n in range(1, 9))


def test_action_shares_never_capture_more_than_was_authorized(spec):
    shares = shape.action_shares(spec)
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert shares["capture"] <= shares["authorize"] and shares["refund"] <= shares["capture"]


# ---------------------------------------------------------------- Locust statistics


def test_percentile_is_computed_as_locust_does():
    times = {"10": 90, "20": 9, "500": 1}  # Locust: the smallest value that all but int(n * (1 - q)) are within
    assert stats.percentile(times, 0.5) == 10
    assert stats.percentile(times, 0.95) == 20
    assert stats.percentile(times, 0.98) == 20
    assert stats.percentile(times, 0.99) == 500
    assert stats.percentile(times, 1.0) == 500
    assert stats.percentile({}, 0.99) is None


def test_summary_judges_final_outcomes_and_the_judged_provider():
    entries = [
        entry("authorize [acme]", times={"100": 98, "250": 2}),
        entry("authorize [globex]", times={"2000": 10}, failures=10),
        entry("capture [acme]", times={"50": 50}),
        entry("authorize [acme] (attempt)", times={"100": 30}, failures=20),
        entry("authorize [acme]", method=request_names.RETRIED, times={"400": 10}, failures=1),
        entry(request_names.DUPLICATE_CHECK, method=request_names.CHECK, times={"5": 10}),
    ]
    s = stats.summarize(entries, duration_s=10)
    assert s.http_requests == 100 + 10 + 50 + 30
    assert s.rps == 19.0
    assert s.judged_requests == 100 + 10 + 50 + 10 and s.judged_failures == 11
    assert s.authorize_p99_ms == 2000  # globex is in
    assert s.duplicate_checks == 10 and s.duplicates_seen == 0
    acme = stats.summarize(entries, judge_provider="acme", duration_s=10)
    assert acme.authorize_p99_ms == 250 and acme.judged_failures == 1
    assert acme.authorizations == 110


def test_summary_counts_completed_keys_and_unanswered_replays():
    entries = [entry("authorize [acme]", method=request_names.RETRIED, times={"400": 12}, failures=2),
               entry("capture [acme]", method=request_names.RETRIED, times={"300": 5}),
               entry(request_names.DUPLICATE_CHECK, method=request_names.CHECK, times={"5": 12}),
               entry(request_names.REPLAY_UNANSWERED, method=request_names.CHECK, times={"900": 3}, failures=3)]
    s = stats.summarize(entries, duration_s=10)
    assert (s.keys_completed, s.duplicate_checks, s.replays_unanswered) == (15, 12, 3)
    assert s.judged_requests == 17  # checks are not requests
    assert not hasattr(s, "to_dict") and not hasattr(scenarios, "expected_rate")


def test_history_reads_the_aggregated_rows(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,95%,99%,Total Request Count,"
                    "Total Failure Count\n"
                    "100,0,,Aggregated,0,0,N/A,N/A,N/A,0,0\n"
                    "101,5,POST,authorize [acme],3,0,10,20,30,3,0\n"
                    "101,5,,Aggregated,4.5,0.5,12,40,90,9,1\n")
    ticks = stats.history(path)
    assert [t.users for t in ticks] == [0, 5]
    assert ticks[1].p99_ms == 90 and ticks[0].p99_ms is None and ticks[1].failures == 1
    assert stats.history(tmp_path / "missing.csv") == []


# ---------------------------------------------------------------- gates


@pytest.fixture
def thr(catalog):
    return gates.thresholds(catalog, reconcile_within_s=30)


def healthy_prom(**changes) -> gates.PromObservations:
    values = dict(p99_s=0.2, error_ratio=0.0, authorizations=500, duplicate_charges=0, ledger_imbalance_max_abs=0,
                  caught_up_after_s=2, oldest_unreconciled_s=0)
    return gates.PromObservations(**{**values, **changes})


def summary(p99=200.0, failures=0, requests=1000, **kw) -> stats.Summary:
    base = dict(duration_s=10, http_requests=requests, http_failures=failures, rps=requests / 10,
                judged_requests=requests, judged_failures=failures, authorizations=400, authorize_rps=40,
                authorize_p50_ms=80, authorize_p95_ms=150, authorize_p99_ms=p99, p99_ms=p99, duplicate_checks=None,
                duplicates_seen=None)
    return stats.Summary(**{**base, **kw})


def test_thresholds_come_from_the_catalog_slos(thr):
    assert thr.p99_s == 0.3 and thr.latency_slo == "authorization-latency"
    assert thr.error_budget == 0.001 and thr.availability_slo == "authorization-availability"
    assert thr.circuit_open_value == 2


def test_a_healthy_run_passes_every_gate(thr, spec):
    result = gates.evaluate(summary(), healthy_prom(), thr, spec.get("checkout"))
    assert [g.status for g in result] == ["pass"] * 7
    assert gates.breaches(result) == []


def test_p99_over_the_slo_threshold_is_a_one_line_breach(thr, spec):
    result = gates.evaluate(summary(p99=450), healthy_prom(p99_s=0.52), thr, spec.get("checkout"))
    assert gates.breaches(result) == [
        "p99 authorization latency 450 ms (Locust) is over the authorization-latency SLO threshold 300 ms",
        "p99 authorization latency 520 ms (service histogram in Prometheus) is over the authorization-latency SLO "
        "threshold 300 ms"]


def test_failures_over_the_error_budget_breach(thr, spec):
    result = gates.evaluate(summary(failures=2, requests=1000), healthy_prom(error_ratio=0.01), thr,
                            spec.get("checkout"))
    assert gates.breaches(result) == [
        "failure ratio 0.2 % (2 of 1000 requests, Locust) is over the authorization-availability error budget 0.1 %",
        "authorization error ratio 1 % (service counters in Prometheus) is over the authorization-availability error "
        "budget 0.1 %"]


def test_money_gates(thr, spec):
    prom = healthy_prom(duplicate_charges=1, ledger_imbalance_max_abs=250, caught_up_after_s=None,
                        oldest_unreconciled_s=75)
    result = gates.evaluate(summary(duplicate_checks=40, duplicates_seen=1), prom, thr, spec.get("checkout"))
    assert gates.breaches(result) == [
        "the service counted 1 duplicate charges during the run",
        "1 idempotency keys answered with two different payments (client replay check)",
        "the ledger was out of balance by up to 250 minor units during the run",
        "reconciliation had not caught up 30 s after the run (oldest capture waiting 75 s)"]


PROM_GATES = ("p99_latency_prometheus", "failure_ratio_prometheus", "duplicate_charges", "ledger_balanced",
              "reconciliation")


def test_without_prometheus_evidence_its_gates_fail(thr, spec):
    result = gates.evaluate(summary(), None, thr, spec.get("checkout"), "Prometheus unavailable: connection refused")
    by = {g.name: g for g in result}
    assert by["p99_latency_locust"].status == "pass"
    for name in PROM_GATES:
        assert by[name].status == "fail" and by[name].reason.endswith(": not proven: Prometheus unavailable: "
                                                                      "connection refused"), by[name]
    assert by["duplicate_charges"].reason == ("zero duplicate charges: not proven: Prometheus unavailable: "
                                              "connection refused")
    # the retry storm's client-side check is not enough either
    storm = gates.evaluate(summary(duplicate_checks=40, duplicates_seen=0), None, thr, spec.get("retry_storm"),
                           "no Prometheus")
    assert {g.name: g.status for g in storm}["duplicate_charges"] == "fail"


def test_with_no_prometheus_its_gates_are_skipped_and_say_why(thr, spec):
    from moneypath.loadtest import locust_run

    result = gates.evaluate(summary(), None, thr, spec.get("checkout"), locust_run.NOT_JUDGED, prometheus_required=False)
    by = {g.name: g for g in result}
    for name in PROM_GATES:
        assert (by[name].status, by[name].reason) == ("skip", locust_run.NOT_JUDGED)
    assert gates.breaches(result) == []
    storm = gates.evaluate(summary(duplicate_checks=40, duplicates_seen=1), None, thr, spec.get("retry_storm"),
                           locust_run.NOT_JUDGED, prometheus_required=False)
    assert gates.breaches(storm) == ["1 idempotency keys answered with two different payments (client replay check)"]


def test_a_host_without_prometheus_is_refused_before_the_run(tmp_path, monkeypatch, capsys):
    from moneypath.loadtest import locust_run

    monkeypatch.setenv("MONEYPATH_TOKEN", "t")
    monkeypatch.setattr(locust_run, "run", lambda *_: pytest.fail("the run started"))
    code = cli.main(["loadtest", "checkout", "--host", "http://127.0.0.1:9", "--state-dir", str(tmp_path / "none"),
                     "--out", str(tmp_path / "out"), "--catalog", str(CATALOG_PATH)])
    assert code == 2
    assert capsys.readouterr().err == (
        "moneypath: no Prometheus scrapes http://127.0.0.1:9: the duplicate-charge, ledger and reconciliation gates "
        "need one: pass --prometheus URL, or --no-prometheus to judge without them\n")
    assert list((tmp_path / "out").iterdir()) == []


def fake_run(prom, reason, catalog):
    """runner.run without Locust: the gates judged on a healthy Locust summary and `prom`."""
    from moneypath.loadtest import locust_run

    def run(c, spec, target, work, port, progress):
        sfile = scenarios.load(SHIPPED_SCENARIOS, catalog)
        scenario = sfile.get(spec.scenario)
        thr = gates.thresholds(catalog, 30)
        judged = gates.evaluate(summary(), prom, thr, scenario, reason, spec.require_prometheus)
        work.mkdir(parents=True)
        return locust_run.RunOutcome(scenario, spec, 10, 10, 10, 0, 10, summary(), prom, reason, judged, work)
    return run


def test_a_run_whose_prometheus_failed_fails_the_release(tmp_path, no_run, monkeypatch, capsys, catalog):
    from moneypath.loadtest import locust_run

    monkeypatch.setattr(locust_run, "run", fake_run(None, "Prometheus unavailable: timed out", catalog))
    code = cli.main(["loadtest", "checkout", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "BREACH: ledger balanced: not proven: Prometheus unavailable: timed out" in err.splitlines()


def test_soak_reports_its_drift_in_the_terminal_result_and_report(tmp_path, no_run, monkeypatch, capsys, catalog):
    from moneypath.loadtest import locust_run
    from tests.support.drift_samples import compute, run

    plain = fake_run(None, locust_run.NOT_JUDGED, catalog)

    def with_drift(c, spec, target, work, port, progress):
        outcome = plain(c, spec, target, work, port, progress)
        outcome.drift = compute(run(cpu_growth=0.3))
        outcome.gates += gates.drift_gates(outcome.drift, outcome.scenario)
        return outcome

    monkeypatch.setattr(locust_run, "run", with_drift)
    code = cli.main(["loadtest", "soak", "--no-prometheus", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH)])
    out, err = capsys.readouterr()
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("BREACH")] == [
        "BREACH: " + next(m.reason for m in compute(run(cpu_growth=0.3)).metrics if m.status == "fail")]
    assert "drift, first minute after the warm-up -> last minute (growth over +5% fails):" in out.splitlines()
    report_dir = next(tmp_path.iterdir())
    result = json.loads((report_dir / "result.json").read_text())
    assert [m["status"] for m in result["drift"]["metrics"]] == ["fail", "pass", "pass", "pass"]
    assert "## Drift" in (report_dir / "report.md").read_text()
    assert (report_dir / "drift-rss.png").exists() and (report_dir / "drift-cpu.png").exists()


def test_no_prometheus_passes_but_says_what_was_not_judged(tmp_path, no_run, monkeypatch, capsys, catalog):
    from moneypath.loadtest import locust_run

    monkeypatch.setattr(locust_run, "run", fake_run(None, locust_run.NOT_JUDGED, catalog))
    code = cli.main(["loadtest", "checkout", "--no-prometheus", "--out", str(tmp_path), "--catalog",
                     str(CATALOG_PATH)])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    assert out.splitlines()[-1] == (
        "checkout: every judged gate passed; WITHOUT Prometheus (--no-prometheus): 5 gates not judged (p99 "
        "authorization latency, service, authorization error ratio, service, zero duplicate charges, ledger balanced, "
        "reconciliation caught up)")
    report_dir = next(tmp_path.iterdir())
    assert "PASSED without Prometheus evidence" in (report_dir / "report.md").read_text().splitlines()[0]
    result = json.loads((report_dir / "result.json").read_text())
    assert result["no_prometheus"] is True
    assert {g["reason"] for g in result["gates"] if g["status"] == "skip"} == {locust_run.NOT_JUDGED}


def test_prometheus_and_no_prometheus_together_are_refused(capsys):
    assert cli.main(["loadtest", "checkout", "--prometheus", "http://127.0.0.1:9", "--no-prometheus", "--catalog",
                     str(CATALOG_PATH)]) == 2
    assert capsys.readouterr().err == "moneypath: --prometheus and --no-prometheus: choose one\n"


def test_prometheus_without_data_fails(thr, spec):
    result = gates.evaluate(summary(), gates.PromObservations(), thr, spec.get("checkout"))
    assert "Prometheus has no authorization latency for the run" in gates.breaches(result)


def test_the_replay_check_must_cover_every_completed_key(thr, spec):
    storm = spec.get("retry_storm")
    ok = gates.evaluate(summary(duplicate_checks=15, duplicates_seen=0, keys_completed=15, replays_unanswered=0),
                        healthy_prom(), thr, storm)
    assert gates.breaches(ok) == []
    assert {g.name: g.observed for g in ok}["idempotent_replays"] == (
        "0 of 15 replayed keys answered with another payment, 15 of 15 completed keys checked")
    unanswered = gates.evaluate(summary(duplicate_checks=12, duplicates_seen=0, keys_completed=15,
                                        replays_unanswered=3), healthy_prom(), thr, storm)
    assert gates.breaches(unanswered) == ["3 keys got no answer to any replay: not proven charged once (client "
                                          "replay check)"]
    # every replay failed: no duplicate check at all, yet keys were completed
    silent = gates.evaluate(summary(duplicate_checks=None, duplicates_seen=None, keys_completed=15,
                                    replays_unanswered=0), healthy_prom(), thr, storm)
    assert gates.breaches(silent) == ["15 of 15 completed keys were never replay-checked (client replay check)"]


def test_the_duplicate_gate_says_no_data_when_prometheus_had_no_counter(thr, spec):
    result = gates.evaluate(summary(), healthy_prom(duplicate_charges=None), thr, spec.get("checkout"))
    dup = {g.name: g for g in result}["duplicate_charges"]
    assert (dup.status, dup.observed) == ("fail", "no data")
    assert dup.reason == "Prometheus has no duplicate-charge counter for the run"


def test_scenario_settings_shape_the_gates(thr, spec):
    storm = gates.evaluate(summary(p99=900), healthy_prom(p99_s=0.9), thr, spec.get("retry_storm"))
    assert {g.name: g.status for g in storm}["p99_latency_locust"] == "skip"
    assert gates.breaches(storm) == []
    slow = gates.evaluate(summary(), healthy_prom(circuit_max=0), thr, spec.get("slow_provider"))
    assert "(acme)" in slow[0].title
    assert gates.breaches(slow) == ["the circuit breaker for globex never opened during the run"]
    opened = gates.evaluate(summary(), healthy_prom(circuit_max=2), thr, spec.get("slow_provider"))
    assert gates.breaches(opened) == []


def result_json(p99, rps, scenario="checkout", rate=10, **load):
    return {"scenario": scenario, "rate": rate, "users": 10, "duration_s": 60, "workers": 0, **load,
            "locust": {"authorize_p99_ms": p99, "rps": rps}}


def test_baseline_regression_beyond_tolerance_fails():
    tol = gates.Tolerances(0.20, 0.10)
    assert gates.breaches(gates.compare(result_json(230, 95), result_json(200, 100), tol)) == []
    assert gates.breaches(gates.compare(result_json(260, 85), result_json(200, 100), tol)) == [
        "p99 authorization latency regressed 260 ms vs baseline 200 ms (+30%, tolerance +20%)",
        "throughput regressed 85.0/s vs baseline 100.0/s (-15%, tolerance -10%)"]
    other = gates.breaches(gates.compare(result_json(300, 100), result_json(200, 100, "peak"), tol))
    assert other[0].endswith("(baseline is scenario 'peak')")


def test_a_baseline_at_another_rate_is_not_compared():
    tol = gates.Tolerances(0.20, 0.10)
    result = {g.name: g for g in gates.compare(result_json(150, 190, rate=20), result_json(200, 100, rate=10), tol)}
    assert result["baseline_load"].status == "fail"
    assert result["baseline_load"].reason == (
        "this run offered 20 requests/s, the baseline 10 (+100%, more than the ±10% throughput tolerance): a p99 at "
        "another rate is not comparable; run the baseline at this rate")
    for name in ("regression_p99", "regression_rps"):
        assert (result[name].status, result[name].reason) == ("skip", "not comparable: the baseline ran at 10 "
                                                                      "requests/s")
    within = {g.name: g.status for g in gates.compare(result_json(200, 100, rate=10.5), result_json(200, 100), tol)}
    assert within == {"baseline_load": "pass", "regression_p99": "pass", "regression_rps": "pass"}


def test_other_load_differences_are_named_in_the_baseline_gates():
    tol = gates.Tolerances(0.20, 0.10)
    current = result_json(300, 100, users=20, workers=2, duration_s=30)
    result = {g.name: g for g in gates.compare(current, result_json(200, 100), tol)}
    differs = "(users 20 (baseline 10); duration 30 s (baseline 60 s); workers 2 (baseline 0))"
    assert result["baseline_load"].status == "pass" and result["baseline_load"].observed.endswith(differs)
    assert result["regression_p99"].observed == f"300 ms (baseline 200 ms) {differs}"
    assert result["regression_p99"].reason.endswith(f"tolerance +20%) {differs}")
    old = result_json(200, 100)
    del old["rate"]
    assert gates.compare(result_json(200, 100), old, tol)[0].status == "skip"


# ---------------------------------------------------------------- capacity


def step(rate, passed, p99=100.0, auth=None):
    return capacity.Step(rate, rate, auth if auth is not None else rate * 0.45, p99, p99, 0.0, 0.17, passed, [])


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


def test_capacity_report_renders_table_and_plot(tmp_path, catalog, spec):
    steps = [step(20, True, 90), step(40, True, 140), step(60, False, 900)]
    result = capacity.plan(catalog, spec, steps, current=5, utilization=1.0)
    assert result["knee"]["rate"] == 40 and [p["scale"] for p in result["projections"]] == [1, 10, 100]
    lines = plan_report.table_lines(result)
    assert any(line.startswith("knee: 40 requests/s = 18.0 authorizations/s per instance") for line in lines)
    assert any(line.strip().startswith("100x") for line in lines)
    plan_report.render(result, tmp_path)
    for name in ("capacity.json", "capacity.md", "capacity.html", "capacity.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "capacity.json").read_text())["projections"][2]["instances"] == 28


def test_goodput_is_what_was_achieved_less_what_failed():
    entries = [entry("authorize [acme]", times={"100": 300}, failures=60),
               entry("authorize [acme] (attempt)", times={"100": 100}, failures=40),  # attempts are requests too
               entry("authorize [acme]", method=request_names.RETRIED, times={"400": 50}, failures=50),  # not HTTP
               entry(request_names.DUPLICATE_CHECK, method=request_names.CHECK, times={"5": 10}, failures=10)]
    s = stats.summarize(entries, duration_s=10)
    assert s.rps == 40.0 and capacity.goodput_rps(s) == 30.0  # (400 - 100 failed) / 10 s
    assert capacity.goodput_rps(stats.summarize([entry("x", failures=10)], duration_s=10)) == 0.0
    assert capacity.goodput_rps(stats.summarize([entry("x")], duration_s=10)) == 1.0


def test_refusals_are_the_503_and_429_answers_locust_recorded(tmp_path):
    path = tmp_path / "locust_failures.csv"
    path.write_text("Method,Name,Error,Occurrences\n"
                    "POST,authorize [acme],CatchResponseError('503 ledger-unavailable'),120\n"
                    "POST,authorize [acme] (attempt),CatchResponseError('429 too-many-requests'),30\n"
                    "GET,/healthz,\"HTTPError('503 Server Error: Service Unavailable for url: /healthz')\",10\n"
                    "POST,capture [acme],CatchResponseError('502 provider-error'),40\n"
                    "POST,capture [acme],CatchResponseError('no answer: ConnectionRefusedError'),7\n"
                    "POST,refund [acme],CatchResponseError('422 amount-5030'),5\n"
                    "RETRIED,authorize [acme],503 after 3 attempts,9\n")  # a final outcome, not an answer
    assert stats.refused_per_s(path, 10) == 16.0
    assert stats.refused_per_s(tmp_path / "missing.csv", 10) == 0.0


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


def test_the_usl_fit_recovers_known_parameters_and_its_peak():
    truth = usl.Usl(50, 0.05, 0.0008, 1.0)
    fitted = usl.fit([(n, truth.throughput(n)) for n in (1, 4, 8, 16, 32, 64)])
    assert fitted.lam == pytest.approx(50, rel=0.02) and fitted.sigma == pytest.approx(0.05, abs=0.005)
    assert fitted.kappa == pytest.approx(0.0008, rel=0.05) and fitted.r2 > 0.999
    assert fitted.peak_concurrency == pytest.approx(34.5, rel=0.03)
    assert usl.Usl(10, 0.1, 0.0, 1).peak_throughput == pytest.approx(100)  # no coherency cost: the asymptote
    with pytest.raises(usl.FitError, match="3 points"):
        usl.fit([(1, 10), (2, 19)])


def test_the_limit_is_the_resource_nearest_its_ceiling():
    u = resources.Usage({"service": 0.93, "locust": 0.4, "providersim": 0.2}, {"service": 1, "locust": 1,
                                                                               "providersim": 1}, 2)
    assert resources.bottleneck(u)[0] == "service"
    assert "service CPU at 93%" in resources.bottleneck(u)[1]
    busy_db = resources.Usage({"service": 0.5}, {"service": 1}, 2, db_write_busy=0.95, single_writer=True)
    assert resources.bottleneck(busy_db)[0] == "db_write"
    server = resources.Usage({"service": 0.5}, {"service": 1}, 2, db_write_busy=4.1)  # concurrent writers
    assert resources.bottleneck(server)[0] is None
    whole = resources.Usage({"service": 0.75, "locust": 0.7, "providersim": 0.3}, {"service": 1, "locust": 1,
                                                                                 "providersim": 1}, 2)
    assert resources.bottleneck(whole)[0] == "machine"  # 1.75 of 2 cores: no single part, the machine
    idle = resources.Usage({"service": 0.3}, {"service": 1}, 2)
    assert resources.bottleneck(idle) == (None, "none at its ceiling (highest: service CPU 30%)")
    assert resources.bottleneck(resources.Usage())[0] is None


def test_a_meter_measures_the_cpu_a_process_burns_against_one_core():
    import os

    meter = resources.CpuMeter({"this": [os.getpid()]}, every_s=0.05)
    meter.begin()
    t = time.process_time()
    while time.process_time() - t < 0.3:
        pass
    usage = meter.end()
    assert 0.2 < usage.cores["this"] <= 1.5 and usage.ceilings["this"] == 1


def test_a_plan_with_saturation_and_a_postgres_run_reports_both(tmp_path, catalog, spec):
    from dataclasses import replace

    steps = [replace(step(r, ok, p99), concurrency=c) for r, ok, p99, c in
             ((100, True, 90, 8.0), (200, True, 120, 17.0), (300, True, 180, 30.0), (340, False, 900, 80.0))]
    sat = replace(step(330, True, 700, auth=150), closed_loop=True, users=64, concurrency=64.0,
                  limit="service", limit_reason="service CPU at 96% of its ceiling")
    compare = {"database": "postgresql", "workers": 2, "one": replace(step(200, True, auth=90), limit_reason="x"),
               "many": replace(step(300, True, auth=150), limit_reason="y"),
               "steps": [step(150, True, 100), step(250, True, 160), step(320, False, 800)]}
    result = capacity.plan(catalog, spec, steps, current=5, utilization=1.0, saturation=sat, database="sqlite",
                           compare=compare)
    assert result["knee"]["rate"] == 300 and result["knee_share_of_saturation"] == pytest.approx(135 / 150)
    assert result["usl"]["fit"] is not None and len(result["usl"]["points"]) == 5
    assert result["projections"][2]["feasible"] is False
    cmp_ = result["compare"]
    assert cmp_["contention"] == pytest.approx(2 * 90 / 150 - 1)
    assert cmp_["per_process_authorizations_per_s"] == pytest.approx(112.5 * (1 + cmp_["contention"]) / 2)
    assert all(p["database"] == "postgresql" for p in cmp_["projections"])
    lines = plan_report.table_lines(result)
    assert lines[0].startswith("saturation (closed loop, 64 users): 330.0 requests/s = 150.0 authorizations/s")
    assert any(line.startswith("the knee carries 90% of the saturation throughput") for line in lines)
    assert any(line.startswith("Universal Scalability Law: lambda") for line in lines)
    assert any(line.startswith("database: sqlite (one SQLite file") for line in lines)
    assert any("100x: needs more than one SQLite writer" in line for line in lines)
    assert any(line.startswith("beside it: postgresql, 2 service processes") for line in lines)
    plan_report.render(result, tmp_path)
    html = (tmp_path / "capacity.html").read_text()
    assert "Universal Scalability Law" in html and (tmp_path / "capacity.png").stat().st_size > 0


# ---------------------------------------------------------------- exporter


def test_exporter_serves_locust_stats_under_the_dashboard_names():
    entries = {("authorize [acme]", "POST"): SimpleNamespace(num_requests=40, num_failures=2, current_rps=4.5,
                                                             avg_response_time=120.0)}
    env = SimpleNamespace(runner=SimpleNamespace(stats=SimpleNamespace(entries=entries), user_count=7))
    from prometheus_client import generate_latest

    text = generate_latest(registry_for(env)).decode()
    labels = '{method="POST",name="authorize [acme]"}'
    assert f"{LOCUST_METRICS['requests']}{labels} 40.0" in text
    assert f"{LOCUST_METRICS['failures']}{labels} 2.0" in text
    assert f"{LOCUST_METRICS['rps']}{labels} 4.5" in text
    assert f"{LOCUST_METRICS['avg_response_ms']}{labels} 120.0" in text
    assert f"{LOCUST_METRICS['users']} 7.0" in text
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    assert served == set(LOCUST_METRICS.values())
    assert "Aggregated" not in text
    empty = generate_latest(registry_for(SimpleNamespace(runner=None))).decode()
    assert f"{LOCUST_METRICS['users']} 0.0" in empty


# ---------------------------------------------------------------- report


def test_report_is_published_whole(tmp_path):
    tmp, final = run_report.staging_dir(tmp_path, "loadtest-checkout")
    assert tmp.name.startswith(".") and not final.exists()
    result = {"scenario": "checkout", "description": "d", "target": "http://127.0.0.1:1", "started_at": 0,
              "duration_s": 10, "rate": 5, "users": 5, "workers": 0, "p99_threshold_ms": 300,
              "locust": {"rps": 5, "requests": 50, "failures": 0, "authorize_p50_ms": 1, "authorize_p95_ms": 2,
                         "authorize_p99_ms": None, "by_name": []},
              "prometheus_observations": None, "gates": [gates.Gate("x", "a <gate>", "locust", "fail", "1", "0",
                                                                    "why").to_dict()],
              "breaches": ["why"], "passed": False}
    run_report.render(result, [], {}, tmp)
    run_report.publish(tmp, final)
    assert not tmp.exists()
    assert "a &lt;gate&gt;" in (final / "report.html").read_text()
    md = (final / "report.md").read_text()
    assert "# Load test checkout: FAILED" in md
    names = md[md.index("## Requests by name"):]  # what a request's provider in brackets means, said where they show
    assert names.splitlines()[2].startswith('_"[x]" in a name: the service\'s answer named provider x; "[requested x]": ')
    assert json.loads((final / "result.json").read_text())["passed"] is False
    lines = run_report.gate_table(result["gates"])
    assert lines[0].startswith("gate") and "FAIL" in lines[2]


# ---------------------------------------------------------------- CLI


@pytest.mark.parametrize("argv, message", [
    (["loadtest", "nope"], "moneypath: unknown scenario 'nope': choose one of checkout, peak, spike, soak, "
                           "overload, retry_storm, slow_provider, healthz (defined in "
                           f"{SHIPPED_SCENARIOS})"),
    (["loadtest", "checkout", "--baseline", "/nonexistent/result.json"],
     "moneypath: /nonexistent/result.json: baseline file not found"),
    (["loadtest", "overload", "--duration", "90"],
     "moneypath: scenario overload: a 90 s run leaves under 5 s to judge the recovery 30 s after the overload "
     "ends at 60 s; run it longer (--duration)"),
    (["loadtest", "checkout", "--locustfile", "/nonexistent/locustfile.py"],
     "moneypath: /nonexistent/locustfile.py: locustfile not found"),
    (["capacity", "--start", "50", "--max", "10"], "moneypath: --start 50 is above --max 10"),
    (["capacity", "--start", "1", "--step", "1", "--max", "100"], "moneypath: 100 steps: at most 50 (raise --step or "
                                                                   "lower --max)"),
    (["capacity", "--postgres", "mysql://app@127.0.0.1/ledger"],
     "moneypath: --postgres mysql://app@127.0.0.1/ledger: expected a postgresql+psycopg://... URL"),
    (["capacity", "--postgres", "postgresql+nodriver://app@127.0.0.1:1/ledger"],
     "moneypath: --postgres postgresql+nodriver://app@127.0.0.1:1/ledger: Can't load plugin: "
     "sqlalchemy.dialects:postgresql.nodriver"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert cli.main([*argv, "--catalog", str(CATALOG_PATH)]) == 2
    out, err = capsys.readouterr()
    assert err.strip() == message and out == ""


def test_an_unreachable_postgres_is_refused_before_any_load(tmp_path, capsys):
    argv = ["capacity", "--postgres", "postgresql+psycopg://app@127.0.0.1:1/ledger", "--state-dir", str(tmp_path),
            "--catalog", str(CATALOG_PATH)]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith("moneypath: --postgres: cannot connect: ") and len(err.splitlines()) == 1 and out == ""
    assert list(tmp_path.iterdir()) == []  # no stack was started


def test_a_baseline_that_is_not_a_result_is_one_line(tmp_path, capsys):
    (tmp_path / "b.json").write_text('{"hello": 1}')
    assert cli.main(["loadtest", "checkout", "--baseline", str(tmp_path / "b.json"), "--catalog",
                     str(CATALOG_PATH)]) == 2
    assert capsys.readouterr().err.strip().endswith("b.json: not a load-test result (result.json of a previous run)")


@pytest.mark.parametrize("flag, value", [("--rate", "0"), ("--users", "0"), ("--duration", "soon"),
                                         ("--workers", "-1"), ("--host", "localhost:8000")])
def test_argument_errors_exit_2_with_usage_and_one_error_line(flag, value):
    r = run_cli("loadtest", "checkout", flag, value)
    assert (r.returncode, r.stdout) == (2, "")
    lines = r.stderr.splitlines()
    assert lines[0].startswith("usage: moneypath loadtest")
    errors = [line for line in lines if not line.startswith(("usage:", " "))]
    assert len(errors) == 1 and errors[0].startswith(f"moneypath loadtest: error: argument {flag}: {value!r} ")


@pytest.mark.parametrize("argv", [
    ["loadtest", "checkout", "--duration", "inf"], ["loadtest", "checkout", "--duration", "nan"],
    ["loadtest", "checkout", "--duration", "-5"], ["loadtest", "checkout", "--reconcile-within", "inf"],
    ["loadtest", "checkout", "--reconcile-within", "NaN"], ["capacity", "--step-duration", "inf"],
    ["capacity", "--step-duration", "0"],
])
def test_non_finite_or_non_positive_seconds_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[-2]}: {argv[-1]!r} must be a finite number of seconds more than 0" in err


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    """The `moneypath` entry point: exit code and the exact stderr."""
    return conftest.run_cli(*argv)


@pytest.mark.parametrize("value", ["0", "0%", "-10", "101", "nan"])
def test_capacity_utilization_is_checked_when_parsing(value, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["capacity", "--utilization", value])
    assert exc.value.code == 2
    assert f"argument --utilization: {value!r} must be more than 0 and at most 100" in capsys.readouterr().err


def test_capacity_utilization_is_a_share_of_the_knee():
    from moneypath.cli import loadtest as lt_cli

    assert lt_cli._utilization("50") == 0.5 and lt_cli._utilization("100%") == 1.0
    costs = capacity.UnitCosts(1.2, 0.1, 0.0005)
    with pytest.raises(ValueError):
        capacity.project(5, 50, 0, costs, [])


def test_a_tiny_step_is_refused_before_any_list_is_built():
    with pytest.raises(capacity.TooManySteps, match=r"^2\.8e\+302 steps: at most 50"):
        capacity.step_rates(20, 1e-300, 300)
    with pytest.raises(capacity.TooManySteps, match="^inf steps"):
        capacity.step_rates(20, 5e-324, 300)
    assert capacity.step_rates(20, 5, 265) == [20 + 5 * i for i in range(50)]
    assert capacity.step_rates(0.1, 0.1, 0.3) == [0.1, 0.2, 0.3]
    r = run_cli("capacity", "--step", "1e-300", "--catalog", str(CATALOG_PATH))
    assert (r.returncode, r.stderr, r.stdout) == (2, "moneypath: 2.8e+302 steps: at most 50 (raise --step or lower "
                                                     "--max)\n", "")


@pytest.fixture
def no_run(monkeypatch):
    """Nothing is started: opening the target is recorded, `locust_run.run` is whatever a test sets."""
    from moneypath.loadtest import locust_run, targets

    opened = []

    def open_target(c, args, port, *_locustfile):
        opened.append(args)
        return locust_run.Target("http://127.0.0.1:9", "http://127.0.0.1:9", None, "t", None)

    monkeypatch.setattr(targets, "open_target", open_target)
    monkeypatch.setattr(targets, "close_target", lambda target: None)
    return opened


@pytest.mark.parametrize("kind", ["file", "read-only"])
def test_an_unusable_out_is_one_line_and_exit_2_before_anything_runs(kind, tmp_path, no_run, monkeypatch, capsys):
    from moneypath.loadtest import locust_run

    monkeypatch.setattr(locust_run, "run", lambda *_: pytest.fail("the run started"))
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("not a directory")
    else:
        out.mkdir()
        out.chmod(0o500)
        if os.geteuid() == 0:  # root writes into a read-only directory anyway: refuse as the kernel refuses others
            mkdir = Path.mkdir

            def refused(path, *args, **kwargs):
                if path.is_relative_to(out) and path != out:
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
                return mkdir(path, *args, **kwargs)

            monkeypatch.setattr(Path, "mkdir", refused)
    try:
        code = cli.main(["loadtest", "checkout", "--out", str(out / "reports"), "--catalog", str(CATALOG_PATH)])
    finally:
        out.chmod(0o700)
    err = capsys.readouterr().err
    assert code == 2 and no_run == []
    assert err.startswith(f"moneypath: --out {out / 'reports'}: cannot create a report directory there (")
    assert err.count("\n") == 1


def test_a_failed_run_keeps_the_logs_its_message_points_at(tmp_path, no_run, monkeypatch, capsys):
    from moneypath.loadtest import locust_run

    def run(c, spec, target, work, port, progress):
        work.mkdir(parents=True)
        (work / "locust.log").write_text("gevent exploded\n")
        raise locust_run.LoadTestError(f"Locust did not finish within 96 s; see {work}")

    monkeypatch.setattr(locust_run, "run", run)
    code = cli.main(["loadtest", "checkout", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    where = Path(err.strip().rsplit("see ", 1)[1])
    assert where.parent.name.startswith("loadtest-checkout-") and where.parent.name.endswith("-failed")
    assert (where / "locust.log").read_text() == "gevent exploded\n"
    assert [p.name for p in tmp_path.iterdir()] == [where.parent.name]  # no hidden staging directory left


def test_a_run_that_fails_before_locust_leaves_nothing(tmp_path, no_run, monkeypatch, capsys):
    from moneypath.loadtest import locust_run

    def run(*_args):
        raise locust_run.LoadTestError("no API token for http://127.0.0.1:9")

    monkeypatch.setattr(locust_run, "run", run)
    assert cli.main(["loadtest", "checkout", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH)]) == 1
    assert capsys.readouterr().err == "moneypath: no API token for http://127.0.0.1:9\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("locust, top, message", [
    ({"rps": "fast", "authorize_p99_ms": 200}, {}, 'locust.rps: expected a number, got "fast"'),
    ({"rps": None}, {}, "locust.rps: expected a number, got null"),
    ({"rps": 10, "authorize_p99_ms": [200]}, {}, "locust.authorize_p99_ms: expected a number, got [200]"),
    ({"rps": 10, "authorize_p99_ms": True}, {}, "locust.authorize_p99_ms: expected a number, got true"),
    ({"rps": 10}, {"rate": "ten"}, 'rate: expected a number, got "ten"'),
    ({"rps": 10}, {"users": {}}, "users: expected a number, got {}"),
])
def test_a_baseline_with_a_bad_field_is_refused_before_the_run(tmp_path, no_run, monkeypatch, capsys, locust, top,
                                                               message):
    from moneypath.loadtest import locust_run

    monkeypatch.setattr(locust_run, "run", lambda *_: pytest.fail("the run started"))
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"scenario": "checkout", "locust": locust, **top}))
    code = cli.main(["loadtest", "checkout", "--baseline", str(path), "--out", str(tmp_path / "out"), "--catalog",
                     str(CATALOG_PATH)])
    assert code == 2 and no_run == []
    assert capsys.readouterr().err == f"moneypath: {path}: {message}\n"
    assert not (tmp_path / "out").exists()


def test_a_good_baseline_loads(tmp_path):
    from moneypath.loadtest import locust_run

    path = tmp_path / "result.json"
    path.write_text(json.dumps({"scenario": "checkout", "rate": 12, "users": 12, "duration_s": 6, "workers": 0,
                                "locust": {"rps": 11.5, "authorize_p99_ms": None}}))
    assert locust_run.load_result(path)["locust"]["rps"] == 11.5


def catalog_without(tmp_path, *keys: str) -> Path:
    data = yaml.safe_load(CATALOG_PATH.read_text())
    for key in keys:
        del data["signals"][key]
    path = tmp_path / "moneypath.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("command", [["loadtest", "checkout"], ["capacity"]])
def test_a_catalog_without_a_signal_the_gates_read_is_one_line(tmp_path, command):
    path = catalog_without(tmp_path, "duplicate_charges_total")
    r = run_cli(*command, "--catalog", str(path), "--out", str(tmp_path / "out"))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (f"moneypath: {path}: signals.duplicate_charges_total: missing; the load test reads it "
                        "(duplicate charges)\n")


def test_signal_names_come_from_the_catalog_slos(catalog, tmp_path):
    from moneypath.catalog import load_catalog
    from moneypath.loadtest.observe import ObserveError, Observer

    obs = Observer(catalog, "http://127.0.0.1:9")
    assert obs.latency_hist == catalog.metric(catalog.slos["authorization-latency"].sli.latency.signal)
    assert obs.authorizations == catalog.metric(catalog.slos["authorization-availability"].total.signal)
    assert obs.names["ledger_imbalance"] == catalog.metric("ledger_imbalance_minor")
    # the only latency SLO is the latency SLO, whatever its signal is called
    data = yaml.safe_load(CATALOG_PATH.read_text())
    data["slos"]["authorization-latency"]["sli"]["latency"]["signal"] = "http_request_duration_seconds"
    data["slos"]["authorization-latency"]["sli"]["latency"]["under"] = 0.25
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    other = load_catalog(tmp_path / "other.yaml")
    assert gates.thresholds(other, 30).p99_s == 0.25
    assert Observer(other, "http://127.0.0.1:9").latency_hist == other.metric("http_request_duration_seconds")
    with pytest.raises(ObserveError, match="signals.ledger_imbalance_minor: missing"):
        Observer(load_catalog(catalog_without(tmp_path, "ledger_imbalance_minor")), "http://127.0.0.1:9")


# ---------------------------------------------------------------- a team's own catalog (tests/foreign): features off

FOREIGN_DIR = ROOT / "tests" / "foreign"


def foreign_text(cost: bool = True) -> str:
    """tests/foreign/moneypath.yaml; `cost=False` switches the cost feature off too (model, signal, alert gone)."""
    text = (FOREIGN_DIR / "moneypath.yaml").read_text()
    if cost:
        return text
    data = yaml.safe_load(text)
    data["features"]["cost"] = False
    del data["cost"], data["signals"]["cost_usd_total"], data["alerts"]["CostPerTransactionRegression"]
    return yaml.safe_dump(data, sort_keys=False)


def foreign_catalog(cost: bool = True):
    from moneypath.catalog import parse_catalog

    return parse_catalog(foreign_text(cost), str(FOREIGN_DIR / "moneypath.yaml"))


@pytest.fixture(scope="module")
def foreign():
    return foreign_catalog()


@pytest.fixture(scope="module")
def foreign_spec(foreign):
    return scenarios.load(FOREIGN_DIR / "scenarios.yaml", foreign)


def test_the_foreign_scenarios_are_valid_against_the_foreign_catalog(foreign_spec):
    assert set(foreign_spec.currencies) == {"JPY", "KWD"} and foreign_spec.mix.get("payout", 0) == 0
    assert foreign_spec.get("knet_slow").expect_circuit_open == "knet"


def test_the_load_test_reads_no_signal_of_a_disabled_feature(foreign):
    names = gates.money_signals(foreign)
    assert "reconciliation_age" not in names
    assert names["ledger_imbalance"] == foreign.metric("ledger_imbalance_minor")
    assert names["cost"] == foreign.metric("cost_usd_total")
    assert "cost" not in gates.money_signals(foreign_catalog(cost=False))


def foreign_prom(**changes) -> gates.PromObservations:
    values = dict(error_ratio=0.0, authorizations=500, duplicate_charges=0, ledger_imbalance_max_abs=0)
    return gates.PromObservations(**{**values, **changes})


def test_a_catalog_without_reconciliation_skips_its_gate_and_says_why(foreign, foreign_spec):
    thr = gates.thresholds(foreign, 30)
    result = gates.evaluate(summary(), foreign_prom(), thr, foreign_spec.get("checkout"))
    assert [g.name for g in result] == ["p99_latency_locust", "p99_latency_prometheus", "failure_ratio_locust",
                                        "failure_ratio_prometheus", "duplicate_charges", "ledger_balanced",
                                        "reconciliation"]
    recon = result[-1]
    assert (recon.status, recon.observed, recon.reason) == ("skip", "-", "feature reconciliation is off")
    assert gates.breaches(result) == []  # no reconciliation evidence is needed, none is asked for
    without = gates.evaluate(summary(), None, thr, foreign_spec.get("checkout"), "no Prometheus")
    assert {g.name: g.reason for g in without}["reconciliation"] == "feature reconciliation is off"
    assert gates.feature_skips([g.to_dict() for g in result]) == [
        "reconciliation caught up (feature reconciliation is off)"]


@pytest.mark.parametrize("currency, minor, shown", [("KWD", 1250, "KWD 1.250"), ("JPY", 6235, "JPY 6,235")])
def test_the_ledger_gate_shows_money_in_the_currencys_own_exponent(foreign, foreign_spec, currency, minor, shown):
    thr = gates.thresholds(foreign, 30)
    result = gates.evaluate(summary(), foreign_prom(ledger_imbalance_max_abs=minor, ledger_imbalance_currency=currency),
                            thr, foreign_spec.get("checkout"))
    ledger = {g.name: g for g in result}["ledger_balanced"]
    assert (ledger.status, ledger.observed) == ("fail", shown)
    assert ledger.reason == f"the ledger was out of balance by up to {shown} during the run"


class FakePrometheus:
    """Answers the Observer's instant queries from a table of substrings; records every query."""

    def __init__(self, answers: dict[str, list[dict]]):
        self.answers, self.queries = answers, []

    def __call__(self, url, timeout_s: float = 15.0):
        return self

    def instant(self, query, at=None):
        self.queries.append(query)
        return next((v for k, v in self.answers.items() if k in query), [])

    def range(self, query, start, end, step):
        self.queries.append(query)
        return []


def test_the_observer_asks_nothing_about_disabled_features_and_names_the_worst_currency(monkeypatch):
    from moneypath.loadtest import observe

    for c in (foreign_catalog(), foreign_catalog(cost=False)):
        imb = c.metric("ledger_imbalance_minor")
        fake = FakePrometheus({
            f"max_over_time({imb}": [{"metric": {"currency": "JPY"}, "value": [0, "0"]},
                                     {"metric": {"currency": "KWD"}, "value": [0, "40"]}],
            f"min_over_time({imb}": [{"metric": {"currency": "JPY"}, "value": [0, "-6235"]},
                                     {"metric": {"currency": "KWD"}, "value": [0, "0"]}],
            c.metric("authorizations_total"): [{"metric": {}, "value": [0, "500"]}]})
        monkeypatch.setattr(observe, "Prometheus", fake)
        obs = observe.Observer(c, "http://127.0.0.1:9")
        out = obs.observe(0, 60, gates.thresholds(c, 30), None, None)
        obs.wait_reconciled(out, 60, within_s=30)
        assert (out.ledger_imbalance_max_abs, out.ledger_imbalance_currency) == (6235, "JPY")
        assert out.caught_up_after_s is None and out.oldest_unreconciled_s is None
        asked_cost = [q for q in fake.queries if "cost" in q]
        if c.enabled("cost"):
            assert asked_cost and all(c.metric("cost_usd_total") in q for q in asked_cost)
        else:
            assert asked_cost == [] and out.cost_per_authorization_usd is None
        assert not [q for q in fake.queries if "reconcil" in q or "queue" in q or "dead_letter" in q]


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


def test_capacity_without_fraud_has_no_fraud_column(tmp_path, foreign, foreign_spec):
    steps = [step(8, True, 90), step(16, True, 140), step(24, False, 900)]
    result = capacity.plan(foreign, foreign_spec, steps, current=2, utilization=1.0)
    lines = plan_report.table_lines(result)
    header = next(line for line in lines if line.strip().startswith("scale"))
    assert header.split() == ["scale", "authorizations/s", "instances", "p99", "infra/tx", "fees/tx", "total/tx",
                              "per", "month"]
    plan_report.render(result, tmp_path)
    md = (tmp_path / "capacity.md").read_text()
    assert "fraud" not in md and "provider fees" in md


def test_capacity_without_the_cost_feature_plans_instances_and_p99_only(tmp_path, foreign_spec):
    from dataclasses import replace

    c = foreign_catalog(cost=False)
    assert capacity.unit_costs(c, foreign_spec) is None
    # without the cost feature the service accrues no cost: the steps observed none
    steps = [replace(step(r, ok, p99), cost_per_authorization_usd=None) for r, ok, p99 in ((8, True, 90),
                                                                                         (16, True, 140),
                                                                                         (24, False, 900))]
    result = capacity.plan(c, foreign_spec, steps, current=2, utilization=1.0)
    assert result["unit_costs"] is None
    assert [p["instances"] for p in result["projections"]] == [1, 3, 28]
    assert all(p["usd_per_authorization"] is None for p in result["projections"])
    lines = plan_report.table_lines(result)
    assert next(line for line in lines if line.strip().startswith("scale")).split() == [
        "scale", "authorizations/s", "instances", "p99"]
    plan_report.render(result, tmp_path)
    for name in ("capacity.json", "capacity.md", "capacity.html", "capacity.png"):
        assert (tmp_path / name).stat().st_size > 0
    text = (tmp_path / "capacity.md").read_text()
    assert "$" not in text and "cost model" not in text.lower().replace("(no cost model)", "")


def test_a_foreign_load_test_end_to_end_without_locust_or_prometheus(tmp_path, no_run, monkeypatch, capsys):
    """`moneypath loadtest` on the foreign catalog and scenarios: the real runner, observer, gates and report;
    Locust's results are a file and Prometheus a table of answers."""
    from moneypath.loadtest import locust_run, observe

    path = tmp_path / "moneypath.yaml"
    path.write_text(foreign_text(cost=False))
    c = foreign_catalog(cost=False)

    def start_locust(spec, target, work, *rest):
        work.mkdir(parents=True, exist_ok=True)
        (work / "locust.json").write_text(json.dumps([entry("authorize [komoju]", times={"120": 300}),
                                                      entry("capture [komoju]", times={"40": 200})]))
        return []

    imb = c.metric("ledger_imbalance_minor")
    fake = FakePrometheus({f"min_over_time({imb}": [{"metric": {"currency": "KWD"}, "value": [0, "-1250"]}],
                           "1 - ": [{"metric": {}, "value": [0, "0"]}],
                           c.metric("authorizations_total"): [{"metric": {}, "value": [0, "300"]}],
                           c.metric("duplicate_charges_total"): [{"metric": {}, "value": [0, "0"]}]})
    monkeypatch.setattr(locust_run, "start_locust", start_locust)
    monkeypatch.setattr(locust_run, "wait_locust", lambda *a, **k: None)
    monkeypatch.setattr(locust_run, "scrape_interval_s", lambda url: 0.0)
    monkeypatch.setattr(observe, "Prometheus", fake)
    code = cli.main(["loadtest", "checkout", "--catalog", str(path), "--scenario-file",
                     str(FOREIGN_DIR / "scenarios.yaml"), "--locustfile", str(SHIPPED_LOCUSTFILE), "--out",
                     str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.splitlines() == ["BREACH: the ledger was out of balance by up to KWD 1.250 during the run"]
    result = json.loads(next((tmp_path / "out").iterdir()).joinpath("result.json").read_text())
    assert {g["name"]: g["status"] for g in result["gates"]} == {
        "p99_latency_locust": "skip", "p99_latency_prometheus": "skip", "failure_ratio_locust": "pass",
        "failure_ratio_prometheus": "pass", "duplicate_charges": "pass", "ledger_balanced": "fail",
        "reconciliation": "skip"}
    assert out.splitlines()[-1] == ("checkout: FAILED: 1 of 7 gates breached; skipped: reconciliation caught up "
                                    "(feature reconciliation is off)")
    md = next((tmp_path / "out").iterdir()).joinpath("report.md").read_text()
    assert md.splitlines()[0] == ("# Load test checkout: FAILED; skipped: reconciliation caught up (feature "
                                  "reconciliation is off)")
    assert "KWD 1.250" in md and "cost" not in md.lower()
    assert not [q for q in fake.queries if "reconcil" in q or "cost" in q]


def test_the_latency_gate_judges_the_steady_part_and_says_what_it_left_out(tmp_path):
    import json as _json

    from moneypath.loadtest import locust_run
    from moneypath.loadtest.stats import steady_entries, summarize

    def entry(times: dict, failures: int = 0) -> dict:
        n = sum(times.values())
        return {"method": "POST", "name": "authorize [komoju]", "num_requests": n, "num_failures": failures,
                "total_response_time": sum(float(k) * v for k, v in times.items()), "response_times": times,
                "max_response_time": max(float(k) for k in times), "start_time": 0, "last_request_timestamp": 60}

    warm = [entry({"20": 70, "500": 30})]  # a slow warm-up: 30 % at 500 ms
    final = [entry({"20": 1070, "500": 30, "40": 900}, failures=3)]
    steady = steady_entries(final, warm)
    assert steady[0]["num_requests"] == 1900 and steady[0]["response_times"] == {"20": 1000, "40": 900}
    summary = summarize(final, None, 60)
    assert summary.authorize_p99_ms == 500
    (tmp_path / "warm.json").write_text(_json.dumps({"warmup_s": 15, "entries": warm}))
    locust_run.steady_latency(summary, final, tmp_path / "warm.json", None, 60)
    assert summary.authorize_p99_ms == 40 and summary.failure_ratio == 3 / 2000  # failures: the whole run
    assert summary.warmup_note == "after the first 15 s; left out: 100 authorizations of the warm-up, p99 500 ms"
    untouched = summarize(final, None, 60)
    locust_run.steady_latency(untouched, final, tmp_path / "missing.json", None, 60)
    assert untouched.authorize_p99_ms == 500 and not untouched.warmup_note


def test_a_circuit_gate_is_skipped_not_failed_when_the_service_has_no_breaker(foreign_spec):
    from dataclasses import asdict

    from moneypath.catalog import parse_catalog

    data = yaml.safe_load(foreign_text())
    data["features"]["breaker"] = False
    del data["signals"]["provider_circuit_state"]
    c = parse_catalog(yaml.safe_dump(data, sort_keys=False), "shop.yaml")
    result = gates.evaluate(summary(), healthy_prom(), gates.thresholds(c, 30), foreign_spec.get("knet_slow"))
    [circuit] = [g for g in result if g.name == "circuit_opened"]
    assert (circuit.status, circuit.reason) == (gates.SKIP, "feature breaker is off")
    assert "circuit opened for knet (feature breaker is off)" in gates.feature_skips([asdict(g) for g in result])
