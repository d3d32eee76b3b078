"""A capacity step as the climb runs it (moneypath.loadtest.command.capacity.measure): the run every step makes, with the
step's rate or closed-loop users, and the Step read off the outcome; no Locust started."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from moneypath.loadtest.command import locust_run
from moneypath.loadtest.command.capacity import measure
from moneypath.loadtest.command.capacity.plan import SCENARIO, STEP_GATES
from moneypath.loadtest.command.gates import NOT_MEASURED, PASS, Gate


@pytest.fixture
def ran(monkeypatch, tmp_path):
    return fake_runs(monkeypatch, [Gate("p99_latency_locust", "p99", "locust", PASS, "120 ms", "<= 300 ms")])


def fake_runs(monkeypatch, step_gates):
    specs = []

    def run(c, spec, target, work, exporter_port, progress, meter=None):
        specs.append((spec, work, exporter_port))
        summary = SimpleNamespace(rps=spec.rate or 40.0, authorize_rps=18.0, authorize_p99_ms=120.0,
                                  failure_ratio=0.0, rows=[], duration_s=spec.duration_s, http_failures=0)
        return SimpleNamespace(summary=summary, gates=step_gates, prom=None, usage=None, users=8, work_dir=work,
                               started_at=0.0, ended_at=1.0)

    monkeypatch.setattr(locust_run, "run", run)
    monkeypatch.setattr(measure, "meter_for", lambda target, pids: None)
    return specs


def test_each_step_runs_the_capacity_scenario_at_its_rate_or_with_its_closed_loop_users(catalog, tmp_path, ran):
    spec = measure.step_spec(12.0, 2, tmp_path / "locustfile.py", None, require_prometheus=False)
    target = locust_run.LoadTarget("http://127.0.0.1:1", None, None, "t", "a")
    lines = []
    climb = measure.Climb(catalog, target, spec, tmp_path, 9646, lines.append)
    step = climb.step(30.0, "step 1/1", 0)
    probe = climb.step(0, "saturation", 0, closed_loop_users=16)
    (first, work1, port), (second, work2, _) = ran
    assert (first.scenario, first.duration_s, first.workers, first.only_gates, first.require_prometheus) == (
        SCENARIO, 12.0, 2, STEP_GATES, False)
    assert (first.rate, first.users, first.closed_loop) == (30.0, None, False) and port == 9646
    assert (second.rate, second.users, second.closed_loop) == (None, 16, True)
    assert (work1.name, work2.name) == ("step-01-30", "saturation-16-users")
    assert step.passed and step.rate == 30.0 and probe.closed_loop and probe.rate == 40.0
    assert spec.rate is None and spec.users is None  # the climb's own run is not changed by a step


def test_a_step_whose_gates_had_no_data_is_not_measured_and_not_a_pass(catalog, tmp_path, monkeypatch):
    fake_runs(monkeypatch, [Gate("p99_latency_prometheus", "p99", "prometheus", NOT_MEASURED, "no data", "<= 300 ms",
                                 "not measured: Prometheus has no authorization latency for the run")])
    lines = []
    climb = measure.Climb(catalog, locust_run.LoadTarget("http://127.0.0.1:1", None, None, "t", "a"),
                          measure.step_spec(12.0, 2, tmp_path / "locustfile.py", None), tmp_path, 9646, lines.append)
    step = climb.step(30.0, "step 1/1", 0)
    assert not step.passed and step.status == NOT_MEASURED
    assert step.reasons == ["not measured: Prometheus has no authorization latency for the run"]
    assert any(line.startswith("  NOT MEASURED 30.0 requests/s") for line in lines), lines
