"""Release gates (moneypath.loadtest.command.gates): a run judged against the catalog's SLOs, a baseline, and a team's
catalog with features off."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from moneypath._common.verdict import jsonable
from moneypath.formats import scenarios
from moneypath.loadtest.command import gates
from tests.conftest import SHIPPED_SCENARIOS
from tests.unit.loadtest.helpers import foreign_catalog, foreign_prom, foreign_text, healthy_prom, result_json, summary

NOT_APPLICABLE = ("flow_p99_locust", "idempotent_replays", "circuit_opened")  # to a one-request checkout


def test_thresholds_come_from_the_catalog_slos(thr):
    assert thr.p99_s == 0.3 and thr.latency_slo == "authorization-latency"
    assert thr.error_budget == 0.001 and thr.availability_slo == "authorization-availability"
    assert thr.circuit_open_value == 2


def test_a_healthy_run_passes_every_gate(thr, spec):
    result = gates.evaluate(summary(), healthy_prom(), thr, spec.get("checkout"))
    assert [g.status for g in result if g.name not in NOT_APPLICABLE] == ["pass"] * 7
    # a gate that does not apply to a one-request checkout is in the table all the same, skipped with its reason
    assert {g.name: g.reason for g in result if g.name in NOT_APPLICABLE} == {
        "flow_p99_locust": "scenario checkout sets no flow_p99_ms (an objective for the whole flow, first step to last)",
        "idempotent_replays": gates.NO_REPLAYS, "circuit_opened": gates.NO_CIRCUIT_EXPECTED}
    assert all(g.status == "skip" for g in result if g.name in NOT_APPLICABLE)
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
    from moneypath.loadtest.command import locust_run

    result = gates.evaluate(summary(), None, thr, spec.get("checkout"), locust_run.NOT_JUDGED, prometheus_required=False)
    by = {g.name: g for g in result}
    for name in PROM_GATES:
        assert (by[name].status, by[name].reason) == ("skip", locust_run.NOT_JUDGED)
    assert gates.breaches(result) == []
    storm = gates.evaluate(summary(duplicate_checks=40, duplicates_seen=1), None, thr, spec.get("retry_storm"),
                           locust_run.NOT_JUDGED, prometheus_required=False)
    assert gates.breaches(storm) == ["1 idempotency keys answered with two different payments (client replay check)"]


def test_prometheus_without_data_is_not_measured_and_fails_the_run(thr, spec):
    result = gates.evaluate(summary(), gates.PromObservations(), thr, spec.get("checkout"))
    assert "not measured: Prometheus has no authorization latency for the run" in gates.breaches(result)
    assert {g.name: g.status for g in result}["ledger_balanced"] == gates.NOT_MEASURED
    assert gates.gates_verdict(result) == gates.NOT_MEASURED


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
    assert (dup.status, dup.observed) == ("not measured", "no data")
    assert dup.reason == "not measured: Prometheus has no duplicate-charge counter for the run"


def test_scenario_settings_shape_the_gates(thr, spec):
    storm = gates.evaluate(summary(p99=900), healthy_prom(p99_s=0.9), thr, spec.get("retry_storm"))
    assert {g.name: g.status for g in storm}["p99_latency_locust"] == "skip"
    assert gates.breaches(storm) == []
    slow = gates.evaluate(summary(), healthy_prom(circuit_max=0), thr, spec.get("slow_provider"))
    assert "(acme)" in slow[0].title
    assert gates.breaches(slow) == ["the circuit breaker for globex never opened during the run"]
    opened = gates.evaluate(summary(), healthy_prom(circuit_max=2), thr, spec.get("slow_provider"))
    assert gates.breaches(opened) == []


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


def test_the_load_test_reads_no_signal_of_a_disabled_feature(foreign):
    names = gates.money_signals(foreign)
    assert "reconciliation_age" not in names
    assert names["ledger_imbalance"] == foreign.metric("ledger_imbalance_minor")
    assert names["cost"] == foreign.metric("cost_usd_total")
    assert "cost" not in gates.money_signals(foreign_catalog(cost=False))


def test_a_catalog_without_reconciliation_skips_its_gate_and_says_why(foreign, foreign_spec):
    thr = gates.thresholds(foreign, 30)
    result = gates.evaluate(summary(), foreign_prom(), thr, foreign_spec.get("checkout"))
    assert [g.name for g in result] == ["p99_latency_locust", "p99_latency_prometheus", "flow_p99_locust",
                                        "failure_ratio_locust", "failure_ratio_prometheus", "duplicate_charges",
                                        "idempotent_replays", "ledger_balanced", "reconciliation", "circuit_opened"]
    recon = result[-2]
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


def test_the_latency_gate_judges_the_steady_part_and_says_what_it_left_out(tmp_path):
    import json as _json

    from moneypath.loadtest.command import locust_run
    from moneypath.loadtest.command.stats import steady_entries, summarize

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


def test_gates_of_features_that_are_off_are_skipped_and_named(catalog):
    from dataclasses import replace

    off = replace(gates.thresholds(catalog, 30), features_off=frozenset({"idempotency", "reconciliation"}))
    sfile = scenarios.load(SHIPPED_SCENARIOS)
    summary = SimpleNamespace(authorize_p99_ms=100.0, failure_ratio=0.0, judged_failures=0, judged_requests=100,
                              duplicates_seen=1, duplicate_checks=10, keys_completed=10, replays_unanswered=0)
    prom = gates.PromObservations(p99_s=0.1, error_ratio=0.0, duplicate_charges=0, ledger_imbalance_max_abs=0,
                                  caught_up_after_s=1)
    result = gates.evaluate(summary, prom, off, sfile.get("retry_storm"))
    by = {g.name: g for g in result}
    assert (by["idempotent_replays"].status, by["idempotent_replays"].reason) == ("skip", "feature idempotency is off")
    assert by["reconciliation"].reason == "feature reconciliation is off"
    assert gates.breaches(result) == []  # a key answered twice is no breach where the service promises no idempotency
    assert gates.feature_skips([g.to_dict() for g in result]) == [
        "one payment per idempotency key (feature idempotency is off)",
        "reconciliation caught up (feature reconciliation is off)"]
    on = gates.evaluate(summary, prom, gates.thresholds(catalog, 30), sfile.get("retry_storm"))
    assert gates.breaches(on) == ["1 idempotency keys answered with two different payments (client replay check)"]


def test_a_skipped_gate_is_a_shown_not_measured_and_result_json_says_skip():
    skipped = gates.Gate.skip("regression_p99", "p99 vs baseline", "baseline", "-", "-", "not comparable")
    assert (skipped.outcome, skipped.status, skipped.check.if_not_measured) == (gates.NOT_MEASURED, gates.SKIP, "pass")
    assert gates.Gate.read(skipped.to_dict()) == skipped and jsonable(skipped) == skipped.to_dict()
    passed = gates.Gate("duplicate_charges", "zero duplicate charges", "prometheus", "pass", "0", "0")
    assert gates.gates_verdict([skipped]) == gates.NOT_MEASURED  # every gate skipped: nothing judged
    assert gates.gates_verdict([skipped.to_dict(), passed.to_dict()]) == gates.PASS
    assert gates.breaches([skipped, passed]) == []
    with pytest.raises(ValueError):
        gates.Gate("x", "x", "locust", "skip", "-", "-")  # a skip is no outcome
