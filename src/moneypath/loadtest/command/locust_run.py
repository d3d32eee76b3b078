"""Run Locust headless for one scenario (master + N workers on loopback, or one local process),
show progress, and judge the run: `moneypath loadtest` and each step of `moneypath capacity`.

Locust runs in subprocesses (`python -m locust -f <locustfile> ...`, by default the project's
loadtests/locustfile.py; moneypath.loadtest.command.locust_processes): gevent's monkey-patching stays out of this process.
Progress comes from the master's per-second stats history file; the final figures from its JSON
stats.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import httpx

from moneypath._common.verdict import jsonable
from moneypath.catalog import Catalog
from moneypath.formats import scenarios
from moneypath.loadtest.command import counts, generator_bound, launch, load_generator, overload, worker_health
from moneypath.loadtest.command import gates as g
from moneypath.loadtest.command.locust_processes import LocustLoad, start_locust, stop_locust, wait_locust
from moneypath.loadtest.command.observe import ObserveError, Observer, scrape_interval_s
from moneypath.loadtest.command.run_types import LoadTarget, LoadTestError, LoadTestResult, LoadTestSpec, RunOutcome
from moneypath.loadtest.command.soak import sampling
from moneypath.loadtest.command.stats import Summary, flow_failure_reasons, history, load_entries, steady_entries, summarize
from moneypath.loadtest.in_locust import fault_calls as faults
from moneypath.loadtest.in_locust import shape, worker_roll

NOT_JUDGED = "not judged: --no-prometheus (no evidence from the service)"
MIN_RECOVERY_S = 5.0  # an overload run judges at least this long after its recovery time


def run(c: Catalog, spec: LoadTestSpec, target: LoadTarget, work: Path, exporter_port: int, progress=print,
        judge: bool = True, meter=None) -> RunOutcome:
    """Run one scenario against `target`, then judge it. Locust artifacts go to `work`. A `meter`
    (resources.CpuMeter) measures CPU from Locust's start to its end, Locust's own processes included."""
    locustfile = spec.locustfile.resolve()
    scenario_file = (spec.scenario_file or locustfile.parent / "scenarios.yaml").resolve()
    try:
        sfile = scenarios.load(scenario_file, c)
        scenario = sfile.get(spec.scenario)
    except scenarios.ScenarioError as exc:
        raise LoadTestError(str(exc)) from None
    plain = not launch.knows_moneypath(locustfile)
    if plain and (refused := launch.plain_refusals(locustfile, scenario, spec.rate is not None, spec.closed_loop)):
        raise LoadTestError(refused)
    rate = spec.rate or sfile.baseline.rate
    # users at 1x: given, or the baseline's scaled with the rate so that each user keeps the baseline pace
    users = spec.users or max(1, round(sfile.baseline.users * rate / sfile.baseline.rate))
    duration = shape.duration_of(sfile, scenario, spec.duration_s)
    if scenario.faults and not target.admin_token:
        raise LoadTestError(f"scenario {scenario.name} sets faults: it needs an admin:faults token "
                            "($MONEYPATH_ADMIN_TOKEN or $MONEYPATH_TOKEN_SECRET)")
    if missing := missing_fault_api(scenario, target):
        raise LoadTestError(missing)
    progress(f"{scenario.name}: {scenario.description.strip()}")
    if plain:
        progress(launch.plain_note(locustfile))
    unit = launch.rate_unit(locustfile)
    load = (f"{users} users at 1x (at their own pace)" if plain else
            f"{rate:g} {unit} from {users} users at 1x" + (" (each flow a request template's steps)"
                                                            if unit == g.FLOWS_PER_S else ""))
    progress(f"target {target.host}: {load}, up to {shape.max_users(scenario, users)} users, {duration:g} s"
             + (f", {spec.workers} worker{'s' if spec.workers != 1 else ''}" if spec.workers else "")
             + (f" started elsewhere: the master listens on {spec.bind} and waits up to {spec.wait_workers_s:g} s for "
                "them" if spec.bind else ""))
    warmup = shape.warmup_of(sfile.baseline, duration)
    check_overload(scenario, duration)
    phases = overload.phases(scenario, duration)
    if phases is not None:
        progress(f"overload: {rate:g} {unit} is 1x (set --rate to the knee `moneypath capacity` measured: the "
                 "most it carries within the SLOs); "
                 f"{scenario.spike.multiplier:g}x from {phases.overload[0]:.0f} s to {phases.overload[1]:.0f} s, "
                 f"recovery judged from {phases.recovery[0]:.0f} s")
    snapshot_at = tuple(t for t in phases.boundaries() if 0 < t < duration) if phases else ()
    procs = start_locust(spec, target, work, exporter_port,
                         LocustLoad(rate, users, duration, scenario_file, locustfile, warmup, snapshot_at))
    started = time.time()
    usage = None
    sampler = sampling.sampler_for(c, target) if scenario.drift else None
    try:
        if meter is not None:
            meter.begin({"locust": [p.pid for p in procs]})
        if sampler is not None:
            sampler.begin()
        if spec.bind:  # who joins, or is refused, is said as it happens; the wait for them is the run's too
            follow(procs, work, duration, spec, progress)
        else:
            wait_locust(procs, work, duration, progress)
        if meter is not None:
            usage = meter.end()
    finally:
        if sampler is not None:
            sampler.end()
        stop_locust(procs)
        clear_faults(scenario, target)
    ended = time.time()
    started = worker_roll.test_started_at(work / "locust") or started  # a master's: when its workers started
    entries = load_entries(work / "locust.json")
    summary = summarize(entries, scenario.judge_provider, duration)
    summary.flow_reasons = flow_failure_reasons(work / "locust_failures.csv")
    steady_latency(summary, entries, work / "locust_warmup.json", scenario.judge_provider, duration)
    ticks = history(work / "locust_stats_history.csv")
    prom, series = None, {}
    reason = (NOT_JUDGED if not spec.require_prometheus
              else "no Prometheus for the run (pass --prometheus URL, or --no-prometheus to judge without it)")
    thr = g.thresholds(c, spec.reconcile_within_s)
    settle, conserved = 0.0, None
    if target.prometheus and judge:
        observer = Observer(c, target.prometheus)
        settle = 2 * scrape_interval_s(target.prometheus)
        time.sleep(settle)  # the last samples of the run reach Prometheus
        try:
            prom = observer.observe(started, ended + settle, thr, scenario.judge_provider,
                                    scenario.expect_circuit_open)
            if "reconciliation" not in scenario.skip_gates and (spec.only_gates is None
                                                                 or "reconciliation" in spec.only_gates):
                observer.wait_reconciled(prom, ended, spec.reconcile_within_s, progress)
            series = observer.series(started, time.time(), scenario.judge_provider)
        except ObserveError as exc:
            prom, reason = None, f"Prometheus unavailable: {exc}"
        if prom is not None:  # what the service's gates read is evidence only if its counter saw the run's load
            conserved = counts.for_run(c, target, target.prometheus, entries, started, ended + settle, work,
                                            shape.max_users(scenario, users))
    elif not spec.require_prometheus:
        conserved = counts.skipped()
    gates = g.evaluate(summary, prom, thr, scenario, reason, spec.require_prometheus) if judge else []
    drift = None
    if sampler is not None:
        drift = sampling.measure(c, sampler, target.prometheus, work, started, duration, warmup, scenario.judge_provider,
                                  scenario.drift_memory_warmup_s)
        gates += g.drift_gates(drift, scenario) if judge else []
    shed = None
    if phases is not None:
        shed = overload_figures(phases, rate, scenario, entries, work, started, duration, ticks, thr)
        gates += overload.gates(shed, thr, scenario) if judge else []
    health = generator_health(work, plain, unit, warmup, entries)
    if judge and health is not None and (health.stretches or health.bound):
        rest = (rest_gates(c, health, entries, work, scenario, duration, warmup, thr, reason, spec, target, ended + settle)
                if health.stretches and health.recovered and not health.bound else None)
        gates = load_generator.apply(gates, health, rest)
    if plain and not summary.authorizations:
        for gate in gates:
            if gate.name == "p99_latency_locust" and not gate.skipped:
                gate.set_aside(f"{locustfile.name} names no request \"authorize [<provider>]\" "
                               "(see --help): the service's histogram judges the latency")
    gates = counts.apply(gates, conserved)
    if spec.only_gates is not None:
        for gate in gates:
            if gate.name not in spec.only_gates and not gate.skipped:
                gate.set_aside("not judged in this run")
    return RunOutcome(scenario, spec, rate, users, duration, started, ended, summary, prom, reason, gates, work,
                      series, ticks, usage, drift, shed, unit, health, conserved)


def generator_health(work: Path, plain: bool, unit: str, warmup_s: float,
                     entries: list[dict]) -> worker_health.WorkerHealth | None:
    """The load generator over the run, from the worker timeline the harness wrote (None without one) and the mean
    latency of what its users pace (Locust's stats `entries`): a plain locustfile's users keep no pace, so only
    its CPU is judged."""
    timeline = worker_health.load(work / "locust_workers.json")
    if timeline is None:
        return None
    if plain:
        timeline.pace = None
    return worker_health.judge(timeline, unit, warmup_s, generator_bound.latency_of(entries, unit))


def rest_gates(c: Catalog, health: worker_health.WorkerHealth, entries: list[dict], work: Path,
               scenario: scenarios.Scenario, duration: float, warmup_s: float, thr: g.GateThresholds, reason: str,
               spec: LoadTestSpec, target: LoadTarget, prom_end: float) -> dict[str, g.Gate]:
    """The rate gates judged on the rest of a run whose asked rate held again after every loss: Locust's on the
    stats without the stretches, the service's from the rate holding again to the end (load_generator)."""
    out: dict[str, g.Gate] = {}
    rest = load_generator.rest_entries(entries, load_generator.snapshots(work / "locust_stretch_snapshots.json"),
                                       health.stretches)
    if rest is not None:
        left = duration - sum(b - a for a, b in health.stretches)
        summary = summarize(rest, scenario.judge_provider, max(1.0, left))
        try:
            warm = json.loads((work / "locust_warmup.json").read_text())
        except (OSError, ValueError):
            warm = None
        if warm is not None and all(a >= warm["warmup_s"] for a, _ in health.stretches):
            steady = summarize(steady_entries(rest, warm["entries"]), scenario.judge_provider,
                               max(1.0, left - warm["warmup_s"]))
            summary.authorize_p99_ms, summary.flow_p99_ms = steady.authorize_p99_ms, steady.flow_p99_ms
            summary.warmup_note = f"after the first {warm['warmup_s']:g} s"
        out |= {gt.name: gt for gt in g.evaluate(summary, None, thr, scenario, reason, False) if gt.source == "locust"}
    timeline = worker_health.load(work / "locust_workers.json")
    if target.prometheus and timeline is not None and timeline.started_at is not None:
        start = timeline.started_at + max(b for _, b in health.stretches)
        try:
            prom = Observer(c, target.prometheus).observe(start, prom_end, thr, scenario.judge_provider,
                                                          scenario.expect_circuit_open)
        except ObserveError:
            prom = None
        if prom is not None:
            nothing = summarize([], scenario.judge_provider, 1.0)
            out |= {gt.name: gt for gt in g.evaluate(nothing, prom, thr, scenario, reason, True)
                    if gt.source == "prometheus"}
    return out


def follow(procs, work: Path, duration_s: float, spec: LoadTestSpec, progress) -> None:
    """wait_locust for a master that waits for workers started elsewhere: a master that gave up on them is one line
    saying how many joined and where it listens."""
    try:
        wait_locust(procs, work, duration_s + spec.wait_workers_s, worker_roll.RollNews(work / "locust", progress))
    except LoadTestError:
        roll = worker_roll.read_roll(work / "locust")
        if roll is not None and roll.get("test_started_at") is None:
            raise LoadTestError(worker_roll.timeout_line(roll, spec.wait_workers_s, spec.bind)) from None
        raise


def check_overload(scenario: scenarios.Scenario, duration_s: float) -> None:
    """LoadTestError when an overload run is too short to judge its recovery."""
    phases = overload.phases(scenario, duration_s)
    if phases is not None and phases.recovery[1] - phases.recovery[0] < MIN_RECOVERY_S:
        raise LoadTestError(f"scenario {scenario.name}: a {duration_s:g} s run leaves under {MIN_RECOVERY_S:g} s to "
                            f"judge the recovery {scenario.overload.recover_within_s:g} s after the overload ends at "
                            f"{phases.overload[1]:g} s; run it longer (--duration)")


def overload_figures(phases: overload.Phases, rate: float, scenario: scenarios.Scenario, entries: list[dict],
                     work: Path, started: float, duration_s: float, ticks, thr: g.GateThresholds) -> overload.Overload:
    """Each phase's figures from the snapshots the harness wrote at the boundaries (`<prefix>_snapshots.json`)."""
    try:
        snapshots = {round(float(t), 3): e for t, e in json.loads((work / "locust_snapshots.json").read_text()).items()}
    except (OSError, ValueError):
        snapshots = {}

    def phase(window: tuple[float, float]) -> overload.PhaseFigures | None:
        part = overload.between(snapshots, entries, window[0], window[1], duration_s)
        return None if part is None else overload.figures(part, window[1] - window[0], scenario.judge_provider)

    return overload.Overload(
        phases, rate, phase(phases.overload), phase(phases.recovery),
        overload.recovered_after(ticks, started, phases.overload[1], thr.error_budget,
                                 thr.p99_s * 1000 if thr.p99_s is not None else None),
        scenario.overload.goodput_share)


def steady_latency(summary: Summary, entries: list[dict], warmup_file: Path, judge_provider: str | None,
                   duration_s: float) -> None:
    """The authorization latency of the steady part: the run minus its warm-up (the harness wrote the stats at
    the warm-up's end); `summary.warmup_note` says what was left out. Nothing changes without that file."""
    try:
        warm = json.loads(warmup_file.read_text())
    except (OSError, ValueError):
        return
    warm_summary = summarize(warm["entries"], judge_provider, warm["warmup_s"])
    steady = summarize(steady_entries(entries, warm["entries"]), judge_provider, max(1.0, duration_s - warm["warmup_s"]))
    p99 = "-" if warm_summary.authorize_p99_ms is None else f"{warm_summary.authorize_p99_ms:.0f} ms"
    summary.warmup_note = (f"after the first {warm['warmup_s']:g} s; left out: {warm_summary.authorizations} "
                           f"authorizations of the warm-up, p99 {p99}")
    summary.authorize_p50_ms, summary.authorize_p95_ms, summary.authorize_p99_ms = (
        steady.authorize_p50_ms, steady.authorize_p95_ms, steady.authorize_p99_ms)
    if summary.flows is not None:  # the whole flow and each step judged on the same steady part
        summary.flow_p50_ms, summary.flow_p95_ms, summary.flow_p99_ms = (
            steady.flow_p50_ms, steady.flow_p95_ms, steady.flow_p99_ms)
        after = {row.step: row for row in steady.steps}
        summary.steps = [replace(row, p50_ms=after[row.step].p50_ms, p95_ms=after[row.step].p95_ms,
                                 p99_ms=after[row.step].p99_ms) if row.step in after else row for row in summary.steps]


def fault_calls(scenario: scenarios.Scenario, target: LoadTarget) -> list[faults.FaultCall]:
    """The scenario's faults at the target's fault APIs (URLs and targets: the Locust hooks set them with
    their end); MissingBase names the option a fault needs."""
    bases = {"providersim": target.providersim, "faultproxy": target.faultproxy, "service": target.host}
    return faults.calls(scenario.faults, bases, 0, scenario.name)


def missing_fault_api(scenario: scenarios.Scenario, target: LoadTarget) -> str | None:
    """Why the scenario's faults cannot be set on this target (the option that gives the URL), or None."""
    try:
        fault_calls(scenario, target)
    except faults.MissingBase as exc:
        return str(exc)
    return None


def clear_faults(scenario: scenarios.Scenario, target: LoadTarget) -> None:
    """Clear the scenario's faults once more: the locustfile clears them when the test stops,
    but not if Locust was killed. Clearing a fault that is not set is harmless."""
    if not target.admin_token:
        return
    for call in fault_calls(scenario, target):
        try:
            httpx.delete(call.url, params=call.query or None, timeout=5,
                         headers={"authorization": f"Bearer {target.admin_token}"})
        except httpx.HTTPError:
            pass


def run_result(c: Catalog, outcome: RunOutcome, target: LoadTarget) -> LoadTestResult:
    """The run's figures and gates, judged (moneypath.loadtest.command.session adds the thresholds, drift and baseline)."""
    s = outcome.summary
    return LoadTestResult({
        "scenario": outcome.scenario.name,
        "description": outcome.scenario.description.strip(),
        "catalog": c.path,
        "target": target.host,
        "prometheus": target.prometheus,
        "no_prometheus": not outcome.spec.require_prometheus,
        "rate": outcome.rate,
        "rate_unit": outcome.rate_unit,  # what --rate counted
        "users": outcome.users,
        "workers": outcome.spec.workers,
        "duration_s": outcome.duration_s,
        "started_at": outcome.started_at,
        "ended_at": outcome.ended_at,
        "locust": {"rps": s.rps, "requests": s.http_requests, "failures": s.http_failures,
                   "failure_ratio": s.failure_ratio, "authorize_p50_ms": s.authorize_p50_ms,
                   "authorize_p95_ms": s.authorize_p95_ms, "authorize_p99_ms": s.authorize_p99_ms,
                   "authorize_rps": s.authorize_rps, "p99_ms": s.p99_ms, "latency_judged": s.warmup_note or "whole run",
                   "duplicate_checks": s.duplicate_checks, "duplicates_seen": s.duplicates_seen,
                   "flows": s.flows, "flow_failures": s.flow_failures, "flow_rps": s.flow_rps,
                   "flow_p50_ms": s.flow_p50_ms, "flow_p95_ms": s.flow_p95_ms, "flow_p99_ms": s.flow_p99_ms,
                   "steps": [asdict(row) for row in s.steps],
                   "flow_failure_reasons": s.flow_reasons,
                   "by_name": [r.__dict__ for r in s.rows]},
        "prometheus_observations": jsonable(outcome.prom) if outcome.prom else None,
        "load_generator": outcome.generator.to_dict() if outcome.generator is not None else None,
        "conservation": counts.as_dict(outcome.conservation),
    }, list(outcome.gates))


# what --baseline reads from a previous result.json: key path, whether it may be null
BASELINE_FIELDS = ((("locust", "rps"), False), (("locust", "authorize_p99_ms"), True), (("rate",), True),
                   (("users",), True), (("duration_s",), True), (("workers",), True))


def load_result(path: Path) -> dict:
    """A previous run's result.json (for --baseline); LoadTestError (one line naming the file and
    the key) when it is not one or a field the comparison reads is not a finite number."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LoadTestError(f"{path}: baseline file not found") from None
    except (OSError, ValueError):
        raise LoadTestError(f"{path}: not a load-test result (result.json of a previous run)") from None
    if not isinstance(data, dict) or not isinstance(data.get("locust"), dict) or "rps" not in data["locust"]:
        raise LoadTestError(f"{path}: not a load-test result (result.json of a previous run)")
    for keys, nullable in BASELINE_FIELDS:
        value = data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise LoadTestError(f"{path}: {'.'.join(keys)}: expected a number, got {json.dumps(value)[:40]}")
    if not isinstance(data.get("scenario", ""), str):
        raise LoadTestError(f"{path}: scenario: expected a name, got {json.dumps(data['scenario'])[:40]}")
    return data

