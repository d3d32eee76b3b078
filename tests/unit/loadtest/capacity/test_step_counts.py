"""A capacity step whose counts do not reconcile (moneypath.loadtest.command.counts) is not measured: the knee is
not read from it, and capacity.json and the report carry its line; no Locust started."""

from __future__ import annotations

from types import SimpleNamespace

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Check
from moneypath.loadtest.command import counts, locust_run
from moneypath.loadtest.command.capacity import measure, plan_report
from moneypath.loadtest.command.capacity import plan as capacity
from moneypath.loadtest.command.gates import Gate

LINE = ("the metrics counted 150 of 300 authorizations sent to 127.0.0.1:8102 (0.50; 298 acknowledged): several "
        "workers without multiprocess mode, or another instance scraped")
GOOD = "the metrics counted 300 of 300 authorizations sent to 127.0.0.1:8102 (1.00; 298 acknowledged): within bounds"


def climb_with(monkeypatch, catalog, tmp_path, counts_at: dict[float, Check | None], gates_at=None):
    """A climb whose step at rate r reconciled as counts_at[r] (its gates passed, or gates_at[r])."""
    def run(c, spec, target, work, exporter_port, progress, meter=None):
        rate = spec.rate or 40.0
        summary = SimpleNamespace(rps=rate, authorize_rps=rate / 2, authorize_p99_ms=120.0, failure_ratio=0.0, rows=[],
                                  duration_s=spec.duration_s, http_failures=0)
        gates = (gates_at or {}).get(rate) or [Gate("p99_latency_locust", "p99", "locust", PASS, "120 ms", "<= 300 ms")]
        return SimpleNamespace(summary=summary, gates=gates, prom=None, usage=None, users=8, work_dir=work,
                               started_at=0.0, ended_at=1.0, conservation=counts_at.get(rate))

    monkeypatch.setattr(locust_run, "run", run)
    monkeypatch.setattr(measure, "meter_for", lambda target, pids: None)
    monkeypatch.setattr(measure.time, "sleep", lambda s: None)
    lines: list[str] = []
    climb = measure.Climb(catalog, locust_run.LoadTarget("http://127.0.0.1:8101", "http://p", None, "t", "a"),
                          measure.step_spec(10.0, 0, tmp_path / "locustfile.py", None), tmp_path, 9646, lines.append)
    return climb, lines


def test_a_step_that_does_not_reconcile_is_not_measured_and_the_knee_stops_below_it(monkeypatch, catalog, tmp_path):
    good, bad = Check(name="conservation", outcome=PASS, why=GOOD), Check(name="conservation", outcome=FAIL, why=LINE)
    climb, lines = climb_with(monkeypatch, catalog, tmp_path, {20.0: good, 22.0: bad, 24.0: good})
    steps = climb.climb([20.0, 22.0, 24.0], confirm=False)
    assert [(s.rate, s.status) for s in steps] == [(20.0, PASS), (22.0, NOT_MEASURED)]  # the climb ends there
    assert steps[1].reasons == [LINE] and not steps[1].passed
    assert steps[1].conservation["outcome"] == "fail" and steps[1].conservation["line"] == LINE
    assert capacity.knee(steps).rate == 20.0
    assert any(line.startswith("  NOT MEASURED 22.0 requests/s") and LINE in line for line in lines), lines

    data = {"rate_unit": "requests/s", "saturation": None, "steps": [s.__dict__ for s in steps]}
    assert plan_report.counts_lines(data) == [f"step 20 requests/s: PASS: {GOOD}", f"step 22 requests/s: FAIL: {LINE}"]
    assert f"NOT MEASURED: {LINE}" in plan_report._step_line(data["steps"][1], "requests/s")


def test_a_step_that_failed_on_locusts_own_figures_and_does_not_reconcile_keeps_both(monkeypatch, catalog, tmp_path):
    slow = [Gate("p99_latency_locust", "p99", "locust", FAIL, "900 ms", "<= 300 ms", "p99 900 ms is over 300 ms")]
    climb, _ = climb_with(monkeypatch, catalog, tmp_path, {20.0: Check(name="conservation", outcome=FAIL, why=LINE)},
                          {20.0: slow})
    step = climb.step(20.0, "step 1/1", 0)
    assert step.status == NOT_MEASURED and step.reasons == [LINE, "p99 900 ms is over 300 ms"]


def test_a_step_without_prometheus_or_that_reconciled_is_as_its_gates_say(monkeypatch, catalog, tmp_path):
    climb, _ = climb_with(monkeypatch, catalog, tmp_path, {20.0: counts.skipped(), 30.0: None})
    assert climb.step(20.0, "step", 0).status == PASS and climb.step(30.0, "step", 0).status == PASS
    gates = [Gate("p99_latency_prometheus", "p99", "prometheus", NOT_MEASURED, "no data", "<= 300 ms",
                  f"not measured: p99, service: {LINE}")]
    assert counts.step_status(Check(name="conservation", outcome=FAIL, why=LINE), NOT_MEASURED,
                                      [g.reason for g in gates]) == (NOT_MEASURED, [LINE])  # said once
