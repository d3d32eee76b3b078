"""Start, follow and stop a run's Locust processes (one, a master and workers on loopback, or a master that waits
for workers started elsewhere)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from moneypath.loadtest.command import launch
from moneypath.loadtest.command.run_types import LoadTarget, LoadTestError, LoadTestSpec
from moneypath.loadtest.command.stats import history
from moneypath.loadtest.in_locust import parent_watch
from moneypath.loadtest.in_locust.worker_roll import RUNS_FOLLOW_ENV
from moneypath.stack.processes import free_port


@dataclass(frozen=True)
class LocustLoad:
    """What a run's Locust processes are given once the run's spec is resolved against its scenario file."""
    rate: float  # requests/s at 1x
    users: int  # users at 1x
    duration_s: float
    scenario_file: Path
    locustfile: Path
    warmup_s: float = 0.0
    snapshot_at: tuple[float, ...] = ()  # seconds into the run at which Locust snapshots its statistics


def locust_invocation(spec: LoadTestSpec, target: LoadTarget, work: Path, exporter_port: int,
                      load: LocustLoad) -> tuple[list[str], dict[str, str]]:
    """(the master's argv, the environment of every Locust process): Locust's own options on the command line,
    moneypath's in MONEYPATH_* variables (moneypath.loadtest.command.launch), so any locustfile starts."""
    argv = launch.command(load.locustfile, "--headless", "--host", target.host, "--only-summary",
                          "--csv", str(work / "locust"), "--csv-full-history", "--json-file", str(work / "locust"),
                          "--exit-code-on-error", "0", "--stop-timeout", "5",
                          "--enable-rebalancing")  # a worker lost: the others take its users (worker_health judges it)
    env = launch.environment({
        "scenario": spec.scenario, "scenario_file": str(load.scenario_file), "rate": float(load.rate),
        "concurrency": load.users, "duration": float(load.duration_s), "exporter_port": exporter_port,
        "warmup": float(load.warmup_s) or None, "snapshot_at": ",".join(f"{t:g}" for t in load.snapshot_at),
        "token": target.token,
        "no_auth": target.token is None, "admin_token": target.admin_token, "closed_loop": spec.closed_loop,
        "providersim": target.providersim, "faultproxy": target.faultproxy,
        "hosts": ",".join([target.host, *target.instances]) if target.instances else None})
    return argv, env


def start_locust(spec: LoadTestSpec, target: LoadTarget, work: Path, exporter_port: int,
                 load: LocustLoad) -> list[subprocess.Popen]:
    work.mkdir(parents=True, exist_ok=True)
    master, env = locust_invocation(spec, target, work, exporter_port, load)
    if spec.bind and spec.runs_follow:
        env[RUNS_FOLLOW_ENV] = "1"
    procs = []
    try:
        if spec.workers:
            host, port = split_address(spec.bind) if spec.bind else ("127.0.0.1", free_port())
            wait = math.ceil(spec.wait_workers_s) if spec.bind else 60
            master += ["--master", "--master-bind-host", host, "--master-bind-port", str(port),
                       "--expect-workers", str(spec.workers), "--expect-workers-max-wait", str(wait)]
            procs.append(_spawn(master, work / "locust-master.log", env))
            for i in range(0 if spec.bind else spec.workers):  # with --bind the workers are started elsewhere
                procs.append(_spawn(launch.command(load.locustfile, "--worker", "--master-host", "127.0.0.1",
                                                   "--master-port", str(port)), work / f"locust-worker-{i + 1}.log", env))
        else:
            procs.append(_spawn(master, work / "locust.log", env))
    except BaseException:
        stop_locust(procs)
        raise
    return procs


def split_address(address: str) -> tuple[str, int]:
    """HOST:PORT (HOST may be [IPv6]) as (host, port); ValueError saying why not."""
    host, sep, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not HOST:PORT (a port from 1 to 65535)")
    return host, int(port)


def _spawn(argv: list[str], log: Path, env: dict) -> subprocess.Popen:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, **parent_watch.popen_kwargs(env))  # dies with us
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
    """Users, requests/s sent (and flows/s with flows), failed requests and the p99 (of the flows, with flows: what
    a buyer waits for; of the requests otherwise), from one second of Locust's history (stats.Tick)."""
    ratio = tick.failures / tick.requests if tick.requests else 0.0
    flows = getattr(tick, "flows_per_s", None)
    rates = f"requests/s {tick.rps:7.1f}" + (f"  flows/s {flows:6.1f}" if flows is not None else "")
    p99 = tick.flow_p99_ms if flows is not None else tick.p99_ms
    p99_text = ("flow p99 " if flows is not None else "p99 ") + ("-" if p99 is None else f"{p99:.0f} ms")
    return (f"[{elapsed_s:5.0f} s] users {tick.users:4d}  {rates}  failed requests {tick.failures} "
            f"({ratio:.2%})  {p99_text}")


def wait_locust(procs: list[subprocess.Popen], work: Path, duration_s: float, progress=print,
                every_s: float = 3.0) -> None:
    master = procs[0]
    started = time.monotonic()
    deadline = started + duration_s + 90  # spawning, stop timeout, writing stats
    last = 0.0
    exited: set[int] = set()
    while master.poll() is None:
        if time.monotonic() > deadline:
            stop_locust(procs)
            raise LoadTestError(f"Locust did not finish within {duration_s + 90:.0f} s; see {work}")
        for i, p in enumerate(procs[1:], 1):
            if i in exited or p.poll() is None or p.returncode == 0:
                continue
            if not history(work / "locust_stats_history.csv"):  # before the test: it cannot run as asked
                stop_locust(procs)
                raise LoadTestError(f"a Locust worker exited ({p.returncode}): {_last_line(p.log_path)}")
            exited.add(i)  # mid-run: the run goes on, the others take its users; the result reports the loss
            progress(f"[{time.monotonic() - started:5.0f} s] Locust worker {i} exited ({p.returncode}); the run goes "
                     "on without it (see the result's load generator section)")
        now = time.monotonic()
        if now - last >= every_s:
            ticks = history(work / "locust_stats_history.csv")
            progress(progress_line(now - started, ticks[-1] if ticks else None))
            last = now
        time.sleep(0.2)
    stop_locust(procs)
    if not (work / "locust.json").exists():
        raise LoadTestError(f"Locust exited ({master.returncode}) without results: {_last_line(master.log_path)}")
