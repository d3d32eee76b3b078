"""`moneypath capacity`, the measuring: the saturation probe and the steps, each a Locust run through
the runner with the CPU of every local process and the service's ledger-write time (resources.py),
progress lines with the time left. What the steps mean is plan.py's.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key
from moneypath.loadtest.command import counts, launch, locust_run, resources
from moneypath.loadtest.command.capacity import usl
from moneypath.loadtest.command.capacity.plan import (
    DELIVERED,
    SCENARIO,
    STEP_GATES,
    CapacityStep,
    achieved_rps,
    goodput_rps,
    refine_rate,
    step_status,
)
from moneypath.loadtest.command.stats import refused_per_s
from moneypath.loadtest.command.worker_health import BOTTLENECK
from moneypath.loadtest.in_locust.request_names import SENT

SATURATION_USERS = 32   # closed-loop users of the first saturation probe; doubled while nothing is saturated
SATURATION_PROBES = 3
SATURATION_GAIN = 1.05  # doubling the users must add at least 5 % throughput to be worth another probe
EXTEND = 4              # steps added, 10 % apart, when every planned step held
MAX_REFINE = 2


def meter_for(target: locust_run.LoadTarget, service_pids: list[int] = ()) -> resources.CpuMeter:
    """CPU of the stack's own processes when the target is a stack on this machine, and of `service_pids`
    (a service of your own running here); Locust's processes are added per step."""
    parts = resources.stack_parts(target.state_dir) if target.state_dir is not None else {}
    if service_pids:
        parts["service"] = list(service_pids)
    return resources.CpuMeter(parts)


class Climb:
    """Runs the steps of one setup (a target and its database), with progress and time left."""

    def __init__(self, c: Catalog, target: locust_run.LoadTarget, spec: locust_run.LoadTestSpec, work: Path,
                 exporter_port: int, progress=print, service_pids: list[int] = (), single_writer: bool = False):
        """`spec` is the run every step makes (step_spec): each step sets its rate, or its closed-loop users, in
        `unit`, what the locustfile paces (launch.rate_unit: requests/s, or flows/s)."""
        self.c, self.target, self.spec, self.step_s = c, target, spec, spec.duration_s
        self.unit = launch.rate_unit(spec.locustfile)
        self.service_pids, self.single_writer = list(service_pids), single_writer
        self.work, self.exporter_port, self.progress = work, exporter_port, progress
        self.walls: list[float] = []
        self.count = 0

    def _left(self, remaining: int) -> str:
        per = sum(self.walls) / len(self.walls) if self.walls else self.step_s + 15
        left = remaining * per
        return f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f} s left"

    def step(self, rate: float, label: str, remaining_after: int, closed_loop_users: int | None = None) -> CapacityStep:
        self.count += 1
        self.progress(f"{label} ({self._left(remaining_after + 1)})")
        began = time.monotonic()
        name = f"saturation-{closed_loop_users}-users" if closed_loop_users else f"step-{self.count:02d}-{rate:g}"
        step = _one_step(self, rate, self.work / name, closed_loop_users)
        self.walls.append(time.monotonic() - began)
        return step

    def saturation(self, users: int = SATURATION_USERS, probes: int = SATURATION_PROBES) -> CapacityStep:
        """Closed-loop probes with twice the users each time until a resource is at its ceiling or more users
        add less than SATURATION_GAIN: too few users in flight only measure users / latency (Little's law)."""
        best: CapacityStep | None = None
        for n in range(probes):
            step = self.step(0, f"saturation: {users} users back to back (closed loop) for {self.step_s:g} s",
                             probes - n - 1, closed_loop_users=users)
            gained = best is None or step.authorize_rps > best.authorize_rps * SATURATION_GAIN
            if best is None or step.authorize_rps > best.authorize_rps:
                best = step
            if step.limit is not None or not gained:
                break
            users *= 2
            time.sleep(2)
        return best

    def climb(self, rates: list[float], confirm: bool = True, extend: bool = False) -> list[CapacityStep]:
        """The steps in order until one fails (with `confirm`, a failed step runs once more and only a second
        failure ends the climb: one slow outlier is the p99 of a short step); with `extend`, up to EXTEND more
        10 % apart when all held; then up to MAX_REFINE midpoints."""
        steps: list[CapacityStep] = []
        unit = self.unit
        for i, rate in enumerate(rates, 1):
            step = self.step(rate, f"step {i}/{len(rates)}: {rate:g} {unit} for {self.step_s:g} s", len(rates) - i)
            if not step.passed and confirm:
                time.sleep(2)
                step = self.step(rate, f"  again, to confirm: {rate:g} {unit}", len(rates) - i)
            steps.append(step)
            if not step.passed:
                break  # past the knee: more load only queues
            time.sleep(2)  # let the service drain before the next step
        extra = 0
        while extend and steps and all(s.passed for s in steps) and extra < EXTEND:  # the knee is higher than planned
            extra += 1
            rate = round(steps[-1].rate * 1.1, 1)
            steps.append(self.step(rate, f"step +{extra}: {rate:g} {unit} (every planned step held)",
                                   EXTEND - extra))
            time.sleep(2)
        for n in range(MAX_REFINE):
            mid = refine_rate(steps)
            if mid is None:
                break
            time.sleep(2)
            steps.append(self.step(mid, f"refine {n + 1}: {mid:g} {unit}, between the knee and the first "
                                        "failure", MAX_REFINE - n - 1))
        return sorted(steps, key=lambda s: s.rate)


def _mean_response_s(summary) -> float | None:
    """The mean time of a request sent (not of a whole FLOW, a CHECK or a RETRIED outcome): with `Summary.rps`, the
    requests in flight by Little's law."""
    rows = [r for r in summary.rows if r.requests and r.method in SENT]
    total = sum(r.requests for r in rows)
    return sum(r.avg_ms * r.requests for r in rows) / total / 1000 if total else None


def _db_write_busy(c: Catalog, prom_url: str | None, start: float, end: float) -> float | None:
    """Seconds per second the service spent in ledger writes over [start, end] (its own histogram)."""
    if not prom_url or not c.signal_on(Key.LEDGER_WRITE_DURATION_SECONDS):
        return None
    name = c.metric(Key.LEDGER_WRITE_DURATION_SECONDS)
    window = f"{max(1, math.ceil(end - start))}s"
    try:
        with Prometheus(prom_url, timeout_s=10) as prom:
            rows = prom.instant(f"sum(rate({name}_sum[{window}]))", end)
    except PrometheusError:
        return None
    return float(rows[0]["value"][1]) if rows else None


def step_spec(step_s: float, workers: int, locustfile: Path, scenario_file: Path | None,
              require_prometheus: bool = True) -> locust_run.LoadTestSpec:
    """The run every capacity step makes: the capacity scenario for `step_s`, judged by STEP_GATES alone."""
    return locust_run.LoadTestSpec(SCENARIO, duration_s=step_s, workers=workers, scenario_file=scenario_file,
                          locustfile=locustfile, only_gates=STEP_GATES, require_prometheus=require_prometheus)


def _one_step(climb: Climb, rate: float, work: Path, closed_loop_users: int | None = None) -> CapacityStep:
    c, target, progress, single_writer = climb.c, climb.target, climb.progress, climb.single_writer
    spec = replace(climb.spec, rate=rate or None, users=closed_loop_users, closed_loop=closed_loop_users is not None)
    outcome = locust_run.run(c, spec, target, work, climb.exporter_port,
                         lambda line: progress("  " + line) if line.startswith("[") else None,
                         meter=meter_for(target, climb.service_pids))
    s, unit = outcome.summary, climb.unit
    achieved = achieved_rps(s, unit)  # in what was offered: flows for a flow, not the requests of its steps
    status, reasons = step_status(outcome.gates)
    if closed_loop_users is None:
        delivered = achieved / rate if rate else 0
        if delivered < DELIVERED:
            status, reasons = FAIL, [*(reasons if status == FAIL else []),
                                     f"delivered {achieved:.1f} of {rate:g} {unit} ({delivered:.0%})"]
    health = getattr(outcome, "generator", None)  # worker_health.WorkerHealth, when the harness wrote a timeline
    if health is not None and health.generator_bound:  # the generator's limit, not the service's: not measured
        status, reasons = NOT_MEASURED, [f"{BOTTLENECK}: {'; '.join(health.bound)}"]
    conserved = getattr(outcome, "conservation", None)  # the reconciliation of counts: not measured unless passed
    status, reasons = counts.step_status(conserved, status, reasons)
    prom = outcome.prom
    usage = outcome.usage
    if usage is not None:
        usage.db_write_busy = _db_write_busy(c, target.prometheus, outcome.started_at, outcome.ended_at)
        usage.single_writer = single_writer
    limit, why = resources.bottleneck(usage) if usage is not None else (None, "not measured")
    mean_s = _mean_response_s(s)
    step = CapacityStep(rate if closed_loop_users is None else round(achieved, 1), achieved, s.authorize_rps,
                        s.authorize_p99_ms, prom.p99_s * 1000 if prom and prom.p99_s is not None else None, s.failure_ratio,
                        prom.cost_per_authorization_usd if prom else None, status == PASS, reasons,
                        prom.locust_series if prom else None, closed_loop=closed_loop_users is not None,
                        users=outcome.users, concurrency=usl.little_concurrency(s.rps, mean_s) if mean_s else None,
                        usage=usage.to_dict() if usage is not None else None, limit=limit, limit_reason=why,
                        goodput_rps=goodput_rps(s, unit), refused_rps=refused_per_s(outcome.work_dir / "locust_failures.csv",
                                                                                    s.duration_s), status=status,
                        requests_rps=s.rps, generator_bound=bool(health is not None and health.generator_bound),
                        generator=health.to_dict() if health is not None else None,
                        conservation=counts.as_dict(conserved))
    rates = f"{achieved:.1f} {unit}" + ("" if unit == launch.REQUESTS_PER_S else f" ({s.rps:.1f} requests/s)")
    if closed_loop_users is not None:
        progress(f"  saturation: {rates} = {s.authorize_rps:.1f} authorizations/s; limit: {why}")
    else:
        progress(f"  {'ok  ' if step.passed else 'FAIL' if status == FAIL else 'NOT MEASURED'} {rates}, p99 "
                 f"{'-' if step.p99_ms is None else f'{step.p99_ms:.0f} ms'}; busiest: {why}"
                 + ("" if step.passed else f": {'; '.join(reasons)}"))
    return step
