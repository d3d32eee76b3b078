"""A judged load-test run as a type (moneypath.loadtest.command.run_types.LoadTestResult): gates stay `Gate`s, the verdict,
breaches and skips come from their checks, and `as_json()` is result.json."""

from __future__ import annotations

import json

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, jsonable
from moneypath.loadtest.command import gates
from moneypath.loadtest.command.run_types import LoadTestResult


def _result(*gs: gates.Gate, **added) -> LoadTestResult:
    return LoadTestResult({"scenario": "checkout", "locust": {"rps": 5.0}, "prometheus_observations": None},
                          list(gs), **added)


def test_the_verdict_breaches_and_skips_come_from_the_gates():
    failed = gates.Gate("p99_latency_locust", "p99", "locust", FAIL, "900 ms", "<= 300 ms", "p99 over")
    missing = gates.Gate("ledger_balanced", "ledger balanced", "prometheus", NOT_MEASURED, "no data", "0", "no gauge")
    off = gates.Gate.skip("reconciliation", "reconciliation caught up", "prometheus", "-", "-",
                          gates.feature_off("reconciliation"))
    passed = gates.Gate("duplicate_charges", "zero duplicate charges", "prometheus", PASS, "0", "0")
    result = _result(failed, missing, off, passed)
    assert result.outcome is FAIL and result.breaches == ["p99 over", "no gauge"] and not result.passed
    assert result.skipped == [off] and result.feature_skips == ["reconciliation caught up (feature reconciliation is off)"]
    assert _result(missing, off, passed).outcome is NOT_MEASURED
    assert _result(off, passed).outcome is PASS and _result(off, passed).passed
    assert _result(off).outcome is NOT_MEASURED  # every gate skipped: nothing judged


def test_as_json_is_result_json_and_its_gates_read_back():
    skipped = gates.Gate.skip("circuit_opened", "circuit opened", "prometheus", "-", "-", gates.NO_CIRCUIT_EXPECTED)
    passed = gates.Gate("duplicate_charges", "zero duplicate charges", "prometheus", PASS, "0", "0")
    result = _result(passed, skipped, p99_threshold_ms=300.0, baseline="b.json")
    data = json.loads(json.dumps(result.as_json()))
    assert list(data) == ["scenario", "locust", "prometheus_observations", "gates", "breaches", "passed",
                          "p99_threshold_ms", "baseline", "verdict"]
    assert [g["status"] for g in data["gates"]] == ["pass", "skip"] and data["verdict"] == "pass"
    assert [gates.Gate.read(g) for g in data["gates"]] == result.gates
    assert jsonable(result) == data
