"""Run Locust headless for one scenario (master + N workers on loopback, or one local process),
show progress, and judge the run: `moneypath loadtest` and each step of `moneypath capacity`.

Locust runs in subprocesses (`python -m locust -f <locustfile> ...`, by default the project's
loadtests/locustfile.py): gevent's monkey-patching stays out of this process.
Progress comes from the master's per-second stats history file; the final figures from its JSON
stats.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from moneypath._common import atomic
from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath.catalog import Catalog
from moneypath.loadtest import drift_run, faults, launch, overload, scenarios
from moneypath.loadtest import gates as g
from moneypath.loadtest.observe import ObserveError, Observer, scrape_interval_s
from moneypath.loadtest.stats import Summary, history, load_entries, steady_entries, summarize
from moneypath.protocol.tokens import issue
from moneypath.stack import local as stack
from moneypath.stack.processes import free_port
from moneypath.stack.state import StackState

LOCUST_JOB = "locust"
NOT_JUDGED = "not judged: --no-prometheus (no evidence from the service)"
MIN_RECOVERY_S = 5.0  # an overload run judges at least this long after its recovery time


class LoadTestError(Exception):
    """The run could not be made (not a gate breach); one line."""


@dataclass
class Target:
    """Where the load goes and how to authenticate; `owned` stacks are stopped afterwards."""
    host: str
    prometheus: str | None
    providersim: str | None
    token: str | None  # None: requests go without an authorization header (--no-auth)
    admin_token: str | None
    faultproxy: str | None = None
    state_dir: Path | None = None
    owned: bool = False
    reloaded_prometheus: bool = False  # we added the exporter to this stack's Prometheus config
    instances: tuple[str, ...] = ()  # the service's other instances: Locust users are spread over host + these


@dataclass
class RunSpec:
    scenario: str
    rate: float | None = None
    users: int | None = None
    duration_s: float | None = None
    workers: int = 0
    reconcile_within_s: float = 60.0
    scenario_file: Path | None = None
    locustfile: Path | None = None  # run() needs one; locust_invocation() is given its own
    only_gates: tuple[str, ...] | None = None  # judge only these (capacity steps); the rest are skipped
    require_prometheus: bool = True  # False (--no-prometheus): the gates that need it are skipped, not failed
    closed_loop: bool = False  # users send back to back, unpaced: the saturation throughput (capacity)


@dataclass
class RunOutcome:
    scenario: scenarios.Scenario
    spec: RunSpec
    rate: float
    users: int
    duration_s: float
    started_at: float
    ended_at: float
    summary: Summary
    prom: g.PromObservations | None
    prom_reason: str
    gates: list[g.Gate]
    work_dir: Path
    service_series: dict = field(default_factory=dict)
    ticks: list = field(default_factory=list)
    usage: object = None  # resources.Usage when a meter was given
    drift: object = None  # drift.Drift when the scenario asks for it (`drift: true`)
    overload: object = None  # overload.Overload when the scenario is one (`overload:`)

    @property
    def passed(self) -> bool:
        return not g.breaches(self.gates)


# ---------------------------------------------------------------- the target


def _mint(secret: bytes, ttl_s: float) -> tuple[str, str]:
    return (issue(secret, "loadtest", ["payments:write", "payments:read"], ttl_s=int(ttl_s)),
            issue(secret, "loadtest_ops", ["admin:faults"], ttl_s=int(ttl_s)))


def running_stack(state_dir: Path) -> StackState | None:
    state = stack.load_state(state_dir.resolve())
    if state is None or not any(p.name == "refservice" for p in state.parts):
        return None
    rows = stack.status(state_dir)
    return state if rows and all(ok for _, _, ok, _ in rows) else None


def start_stack(c: Catalog, state_dir: Path, exporter_port: int, progress=print, db_url: str | None = None,
                service_workers: int = 1, instances: int = 1) -> Target:
    """A fresh stack (services, faults on, 1 s intervals) whose Prometheus scrapes the Locust exporter;
    the service on `db_url` (default its own SQLite file) with `service_workers` processes."""
    stack.down(state_dir, progress=lambda *_: None)
    shutil.rmtree(state_dir, ignore_errors=True)
    progress(f"starting the stack in {state_dir} ...")
    state = stack.up(c, state_dir, [f"127.0.0.1:{exporter_port}"], fast=True, services=True, faults=True,
                     progress=lambda *_: None, db_url=db_url, service_workers=service_workers, instances=instances)
    token, admin = _mint(stack.read_secrets(state_dir.resolve())["token_secret"].encode(), 24 * 3600)
    return Target(state.url("refservice"), state.url("prometheus"), state.url("providersim"), token, admin,
                  state_dir=state_dir, owned=True, instances=tuple(state.service_urls()[1:]))


def existing_target(state_dir: Path | None, host: str | None, prometheus: str | None, providersim: str | None,
                    env: dict | None = None, faultproxy: str | None = None, auth: bool = True,
                    need_token: bool = True) -> Target:
    """A service given by URL, or the one the stack in `state_dir` runs. Credentials come from that
    stack's secrets, else $MONEYPATH_TOKEN/$MONEYPATH_ADMIN_TOKEN or a secret in $MONEYPATH_TOKEN_SECRET;
    with `auth` False no API token is needed or sent (fault APIs still need the admin token); with
    `need_token` False (a locustfile that sends its own headers) one is passed on when there is one.
    A stack in `state_dir` without the service (`moneypath up --no-services --target ...`) still
    supplies its Prometheus, which then also scrapes Locust."""
    env = os.environ if env is None else env
    state = stack.load_state(state_dir.resolve()) if state_dir else None
    if state is not None and not all(ok for _, _, ok, _ in stack.status(state_dir)):
        state = None  # recorded, but not (all) running
    names = {p.name for p in state.parts} if state is not None else set()
    token = admin = None
    instances: tuple[str, ...] = ()
    if state is not None and "refservice" in names and (not host or host.rstrip("/") == state.url("refservice")):
        instances = tuple(state.service_urls()[1:])
        token, admin = _mint(stack.read_secrets(Path(state.state_dir))["token_secret"].encode(), 24 * 3600)
        host = host or state.url("refservice")
        providersim = providersim or state.url("providersim")
    elif env.get("MONEYPATH_TOKEN_SECRET"):
        token, admin = _mint(env["MONEYPATH_TOKEN_SECRET"].encode(), 24 * 3600)
    if state is not None and "prometheus" in names:
        prometheus = prometheus or state.url("prometheus")
    if "faultproxy" in names:
        faultproxy = faultproxy or state.url("faultproxy")
    token = (env.get("MONEYPATH_TOKEN") or token) if auth else None
    admin = env.get("MONEYPATH_ADMIN_TOKEN") or admin
    if not host:
        raise LoadTestError("no target: pass --host URL, or start a stack with `moneypath up --faults`")
    if auth and need_token and not token:
        # a stack that only scrapes the service (`moneypath up --target`) holds no secret of that service
        stack_note = (f" (the stack in {state_dir} does not run {host}, so it has no token for it)"
                      if state is not None else "")
        raise LoadTestError(f"no API token for {host}{stack_note}: set $MONEYPATH_TOKEN (scopes payments:write "
                            "payments:read) or $MONEYPATH_TOKEN_SECRET, pass --state-dir of the stack that runs it, "
                            "or --no-auth when the service takes none")
    return Target(host.rstrip("/"), prometheus, providersim, token, admin, faultproxy,
                  Path(state.state_dir) if state is not None else None, instances=instances)


def add_exporter_target(target: Target, exporter_port: int) -> None:
    """Make the stack's Prometheus scrape the Locust exporter: add a `locust` job to its config
    file and reload it through the lifecycle API (`moneypath up` starts it with that API on)."""
    if target.state_dir is None or target.owned:
        return
    state = stack.load_state(target.state_dir.resolve())
    if state is None or not target.prometheus or target.prometheus.rstrip("/") != state.url("prometheus"):
        return
    _set_locust_job(target.state_dir.resolve() / "prometheus.yml", f"127.0.0.1:{exporter_port}")
    _reload(target.prometheus)
    target.reloaded_prometheus = True


def remove_exporter_target(target: Target) -> None:
    if not target.reloaded_prometheus:
        return
    _set_locust_job(target.state_dir.resolve() / "prometheus.yml", None)
    try:
        _reload(target.prometheus)
    except LoadTestError:
        pass  # the stack went away meanwhile
    target.reloaded_prometheus = False


def _set_locust_job(path: Path, address: str | None) -> None:
    config = yaml.safe_load(path.read_text())
    jobs = [j for j in config.get("scrape_configs", []) if j.get("job_name") != LOCUST_JOB]
    if address:
        jobs.append({"job_name": LOCUST_JOB, "static_configs": [{"targets": [address]}]})
    config["scrape_configs"] = jobs
    atomic.write_text(path, yaml.safe_dump(config, sort_keys=False))


def _reload(prom_url: str) -> None:
    try:
        with Prometheus(prom_url, timeout_s=10) as prom:
            prom.reload()
    except PrometheusError as exc:
        if exc.cause is not None:
            raise LoadTestError(f"cannot reload Prometheus at {prom_url}: {type(exc.cause).__name__}") from None
        raise LoadTestError(f"Prometheus at {prom_url} refused the reload: {exc.status} {exc.error.strip()[:200]}") from None


# ---------------------------------------------------------------- Locust processes


def locust_invocation(spec: RunSpec, target: Target, work: Path, exporter_port: int, rate: float, users: int,
                      duration_s: float, scenario_file: Path, locustfile: Path, warmup_s: float = 0.0,
                      snapshot_at: tuple[float, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """(the master's argv, the environment of every Locust process): Locust's own options on the command line,
    moneypath's in MONEYPATH_* variables (moneypath.loadtest.launch), so any locustfile starts."""
    argv = launch.command(locustfile, "--headless", "--host", target.host, "--only-summary",
                          "--csv", str(work / "locust"), "--csv-full-history", "--json-file", str(work / "locust"),
                          "--exit-code-on-error", "0", "--stop-timeout", "5")
    env = launch.environment({
        "scenario": spec.scenario, "scenario_file": str(scenario_file), "rate": float(rate), "concurrency": users,
        "duration": float(duration_s), "exporter_port": exporter_port, "warmup": float(warmup_s) or None,
        "snapshot_at": ",".join(f"{t:g}" for t in snapshot_at), "token": target.token,
        "no_auth": target.token is None, "admin_token": target.admin_token, "closed_loop": spec.closed_loop,
        "providersim": target.providersim, "faultproxy": target.faultproxy,
        "hosts": ",".join([target.host, *target.instances]) if target.instances else None})
    return argv, env


def start_locust(spec: RunSpec, target: Target, work: Path, exporter_port: int, rate: float, users: int,
                 duration_s: float, scenario_file: Path, locustfile: Path, warmup_s: float = 0.0,
                 snapshot_at: tuple[float, ...] = ()) -> list[subprocess.Popen]:
    work.mkdir(parents=True, exist_ok=True)
    master, env = locust_invocation(spec, target, work, exporter_port, rate, users, duration_s, scenario_file,
                                    locustfile, warmup_s, snapshot_at)
    procs = []
    try:
        if spec.workers:
            port = free_port()
            master += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                       "--expect-workers", str(spec.workers), "--expect-workers-max-wait", "60"]
            procs.append(_spawn(master, work / "locust-master.log", env))
            for i in range(spec.workers):
                procs.append(_spawn(launch.command(locustfile, "--worker", "--master-host", "127.0.0.1",
                                                   "--master-port", str(port)), work / f"locust-worker-{i + 1}.log", env))
        else:
            procs.append(_spawn(master, work / "locust.log", env))
    except BaseException:
        stop_locust(procs)
        raise
    return procs


def _spawn(argv: list[str], log: Path, env: dict) -> subprocess.Popen:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    proc.log_path = log
    return proc


def stop_locust(procs: list[subprocess.Popen], timeout_s: float = 15.0) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout_s
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    errors = [line for line in lines if "Error" in line or "error" in line or "SystemExit" in line]
    return (errors or lines or [""])[-1].strip()[:300]


def progress_line(elapsed_s: float, tick) -> str:
    if tick is None:
        return f"[{elapsed_s:5.0f} s] starting Locust ..."
    p99 = "-" if tick.p99_ms is None else f"{tick.p99_ms:.0f} ms"
    ratio = tick.failures / tick.requests if tick.requests else 0.0
    return (f"[{elapsed_s:5.0f} s] users {tick.users:4d}  rps {tick.rps:7.1f}  failures {tick.failures} "
            f"({ratio:.2%})  p99 {p99}")


def wait_locust(procs: list[subprocess.Popen], work: Path, duration_s: float, progress=print,
                every_s: float = 3.0) -> None:
    master = procs[0]
    started = time.monotonic()
    deadline = started + duration_s + 90  # spawning, stop timeout, writing stats
    last = 0.0
    while master.poll() is None:
        if time.monotonic() > deadline:
            stop_locust(procs)
            raise LoadTestError(f"Locust did not finish within {duration_s + 90:.0f} s; see {work}")
        for p in procs[1:]:
            if p.poll() is not None and p.returncode not in (0, None):
                stop_locust(procs)
                raise LoadTestError(f"a Locust worker exited ({p.returncode}): {_last_line(p.log_path)}")
        now = time.monotonic()
        if now - last >= every_s:
            ticks = history(work / "locust_stats_history.csv")
            progress(progress_line(now - started, ticks[-1] if ticks else None))
            last = now
        time.sleep(0.2)
    stop_locust(procs)
    if not (work / "locust.json").exists():
        raise LoadTestError(f"Locust exited ({master.returncode}) without results: {_last_line(master.log_path)}")


# ---------------------------------------------------------------- one run, judged


def run(c: Catalog, spec: RunSpec, target: Target, work: Path, exporter_port: int, progress=print,
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
    duration = scenarios.duration_of(sfile, scenario, spec.duration_s)
    if scenario.faults and not target.admin_token:
        raise LoadTestError(f"scenario {scenario.name} sets faults: it needs an admin:faults token "
                            "($MONEYPATH_ADMIN_TOKEN or $MONEYPATH_TOKEN_SECRET)")
    if missing := missing_fault_api(scenario, target):
        raise LoadTestError(missing)
    progress(f"{scenario.name}: {scenario.description.strip()}")
    if plain:
        progress(launch.plain_note(locustfile))
    load = f"{users} users at 1x (at their own pace)" if plain else f"{rate:g} requests/s from {users} users at 1x"
    progress(f"target {target.host}: {load}, up to {scenarios.max_users(scenario, users)} users, {duration:g} s"
             + (f", {spec.workers} workers" if spec.workers else ""))
    warmup = scenarios.warmup_of(sfile.baseline, duration)
    check_overload(scenario, duration)
    phases = overload.phases(scenario, duration)
    if phases is not None:
        progress(f"overload: {rate:g} requests/s is 1x (set --rate to the knee `moneypath capacity` measured: the "
                 "most it carries within the SLOs); "
                 f"{scenario.spike.multiplier:g}x from {phases.overload[0]:.0f} s to {phases.overload[1]:.0f} s, "
                 f"recovery judged from {phases.recovery[0]:.0f} s")
    snapshot_at = tuple(t for t in phases.boundaries() if 0 < t < duration) if phases else ()
    procs = start_locust(spec, target, work, exporter_port, rate, users, duration, scenario_file, locustfile, warmup,
                         snapshot_at)
    started = time.time()
    usage = None
    sampler = drift_run.sampler_for(c, target) if scenario.drift else None
    try:
        if meter is not None:
            meter.begin({"locust": [p.pid for p in procs]})
        if sampler is not None:
            sampler.begin()
        wait_locust(procs, work, duration, progress)
        if meter is not None:
            usage = meter.end()
    finally:
        if sampler is not None:
            sampler.end()
        stop_locust(procs)
        clear_faults(scenario, target)
    ended = time.time()
    entries = load_entries(work / "locust.json")
    summary = summarize(entries, scenario.judge_provider, duration)
    steady_latency(summary, entries, work / "locust_warmup.json", scenario.judge_provider, duration)
    ticks = history(work / "locust_stats_history.csv")
    prom, series = None, {}
    reason = (NOT_JUDGED if not spec.require_prometheus
              else "no Prometheus for the run (pass --prometheus URL, or --no-prometheus to judge without it)")
    thr = g.thresholds(c, spec.reconcile_within_s)
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
    gates = g.evaluate(summary, prom, thr, scenario, reason, spec.require_prometheus) if judge else []
    drift = None
    if sampler is not None:
        drift = drift_run.measure(c, sampler, target.prometheus, work, started, duration, warmup, scenario.judge_provider)
        gates += g.drift_gates(drift, scenario) if judge else []
    shed = None
    if phases is not None:
        shed = overload_figures(phases, rate, scenario, entries, work, started, duration, ticks, thr)
        gates += overload.gates(shed, thr, scenario) if judge else []
    if plain and not summary.authorizations:
        for gate in gates:
            if gate.name == "p99_latency_locust" and gate.status != g.SKIP:
                gate.status, gate.reason = g.SKIP, (f"{locustfile.name} names no request \"authorize [<provider>]\" "
                                                    "(see --help): the service's histogram judges the latency")
    if spec.only_gates is not None:
        for gate in gates:
            if gate.name not in spec.only_gates and gate.status != g.SKIP:
                gate.status, gate.reason = g.SKIP, "not judged in this run"
    return RunOutcome(scenario, spec, rate, users, duration, started, ended, summary, prom, reason, gates, work,
                      series, ticks, usage, drift, shed)


def check_overload(scenario: scenarios.Scenario, duration_s: float) -> None:
    """LoadTestError when an overload run is too short to judge its recovery."""
    phases = overload.phases(scenario, duration_s)
    if phases is not None and phases.recovery[1] - phases.recovery[0] < MIN_RECOVERY_S:
        raise LoadTestError(f"scenario {scenario.name}: a {duration_s:g} s run leaves under {MIN_RECOVERY_S:g} s to "
                            f"judge the recovery {scenario.overload.recover_within_s:g} s after the overload ends at "
                            f"{phases.overload[1]:g} s; run it longer (--duration)")


def overload_figures(phases: overload.Phases, rate: float, scenario: scenarios.Scenario, entries: list[dict],
                     work: Path, started: float, duration_s: float, ticks, thr: g.Thresholds) -> overload.Overload:
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


def fault_calls(scenario: scenarios.Scenario, target: Target) -> list[faults.FaultCall]:
    """The scenario's faults at the target's fault APIs (URLs and targets: the Locust hooks set them with
    their end); MissingBase names the option a fault needs."""
    bases = {"providersim": target.providersim, "faultproxy": target.faultproxy, "service": target.host}
    return faults.calls(scenario.faults, bases, 0, scenario.name)


def missing_fault_api(scenario: scenarios.Scenario, target: Target) -> str | None:
    """Why the scenario's faults cannot be set on this target (the option that gives the URL), or None."""
    try:
        fault_calls(scenario, target)
    except faults.MissingBase as exc:
        return str(exc)
    return None


def clear_faults(scenario: scenarios.Scenario, target: Target) -> None:
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


def result_dict(c: Catalog, outcome: RunOutcome, target: Target) -> dict:
    s = outcome.summary
    return {
        "scenario": outcome.scenario.name,
        "description": outcome.scenario.description.strip(),
        "catalog": c.path,
        "target": target.host,
        "prometheus": target.prometheus,
        "no_prometheus": not outcome.spec.require_prometheus,
        "rate": outcome.rate,
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
                   "by_name": [r.__dict__ for r in s.rows]},
        "prometheus_observations": outcome.prom.to_dict() if outcome.prom else None,
        "gates": [gate.to_dict() for gate in outcome.gates],
        "breaches": g.breaches(outcome.gates),
        "passed": outcome.passed,
    }


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
