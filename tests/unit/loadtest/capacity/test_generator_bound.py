"""A capacity step where the load generator was the bottleneck: not measured (the knee stops below it), and the plan
says how many Locust workers its rate needs from the CPU per request measured."""

from __future__ import annotations

from types import SimpleNamespace

from moneypath.loadtest.command import locust_run
from moneypath.loadtest.command.capacity import measure, plan_report
from moneypath.loadtest.command.capacity import plan as capacity
from moneypath.loadtest.command.gates import NOT_MEASURED, PASS, Gate
from moneypath.loadtest.command.worker_health import BOTTLENECK, WorkerHealth
from tests.unit.loadtest.capacity.test_measure import fake_runs


def health(bound: list[str], cores_per_rate: float = 0.01) -> WorkerHealth:
    return WorkerHealth("master", "requests/s", bound=bound, cores_per_rate=cores_per_rate,
                        worker_cpu={"worker 1 (w1)": 99.0 if bound else 20.0})


def test_a_generator_bound_step_is_not_measured_whatever_its_gates_said(catalog, tmp_path, monkeypatch):
    fake_runs(monkeypatch, [Gate("p99_latency_locust", "p99", "locust", PASS, "120 ms", "<= 300 ms")])
    real = locust_run.run

    def run(*args, **kwargs):
        return SimpleNamespace(**vars(real(*args, **kwargs)), generator=health(["worker 1 (w1) CPU 99 % of its core"]))

    monkeypatch.setattr(locust_run, "run", run)
    lines = []
    climb = measure.Climb(catalog, locust_run.LoadTarget("http://127.0.0.1:1", None, None, "t", "a"),
                          measure.step_spec(12.0, 1, tmp_path / "locustfile.py", None), tmp_path, 9646, lines.append)
    step = climb.step(30.0, "step 1/1", 0)
    assert not step.passed and step.status == NOT_MEASURED and step.generator_bound
    assert step.reasons == [f"{BOTTLENECK}: worker 1 (w1) CPU 99 % of its core"]
    assert step.generator["cores_per_rate"] == 0.01
    assert any(line.startswith("  NOT MEASURED 30.0 requests/s") for line in lines), lines


def step(rate: float, bound: bool = False, passed: bool = True) -> capacity.CapacityStep:
    h = health(["worker 1 (w1) CPU 99 % of its core"] if bound else [])
    return capacity.CapacityStep(rate, rate * (0.7 if bound else 1.0), rate / 2, 100.0, 90.0, 0.0, None,
                                 passed and not bound, [f"{BOTTLENECK}: ..."] if bound else [], generator_bound=bound,
                                 generator=h.to_dict())


def test_the_plan_stops_below_a_bound_step_and_says_the_workers_its_rate_needs():
    steps = [step(100), step(200), step(300, bound=True)]
    assert capacity.knee(steps).rate == 200  # the bound step is no pass: the knee is below it
    g = capacity.generator_plan(steps)
    assert g["cores_per_rate"] == 0.01
    # 300/s x 0.01 cores per request/s = 3 cores, at 0.75 of a core each: 4 workers
    assert g["bound"] == [{"rate": 300, "closed_loop": False, "workers_needed": 4,
                           "why": ["worker 1 (w1) CPU 99 % of its core"]}]
    assert g["lines"][0].startswith(f"step 300 requests/s: {BOTTLENECK} (worker 1 (w1) CPU 99 % of its core), not "
                                    "measured; it needs 4 Locust workers (--workers 4)")
    assert g["lines"][1] == ("10.00 ms of generator CPU per request: the highest step, 300 requests/s, needs 4 Locust "
                             "workers at 75% of a core each")


def test_the_report_marks_a_bound_step_not_measured_and_shows_the_generator():
    result = {"rate_unit": "requests/s", "generator": capacity.generator_plan([step(100), step(300, bound=True)]),
              "steps": [vars(step(100)), vars(step(300, bound=True))], "knee": None, "saturation": None}
    lines = plan_report.table_lines(result)
    assert any("NOT MEASURED: the load generator was the bottleneck" in line for line in lines), lines
    assert any(line.startswith("load generator: step 300 requests/s:") for line in lines), lines


def test_a_plan_from_steps_without_a_timeline_has_no_generator_figures():
    g = capacity.generator_plan([capacity.CapacityStep(100, 100, 50, 100.0, 90.0, 0.0, None, True, [])])
    assert g == {"cores_per_rate": None, "worker_cores": 0.75, "bound": [], "lines": []}
