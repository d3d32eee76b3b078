"""The worker timeline, inside Locust: once a second on the master's clock (seconds since the test started), each
worker's state, users, CPU % (its heartbeats) and rate (its stats reports), the master's own CPU % and the users the
shape asks for, written to `<--csv prefix>_workers.json`. A single process (no workers) writes itself as worker
"local". The same for local children and for workers started elsewhere: it reads only what reaches the master.
A process under a CPU quota (moneypath.loadtest.in_locust.cpu_quota) reports it, and the seconds its cgroup was
throttled, with its stats (a worker) or in the sample (the master, a single process): its CPU is judged against the
quota.

Around a worker's loss (moneypath.loadtest.command.worker_health judges it after the run) the master also keeps its stats
second by second, `<--csv prefix>_stretch_snapshots.json`, so the run can be judged without the stretch.

Registered by importing this module (the harness does), in every Locust process: the sampler runs on the master
(or the single process); workers report each second instead of every three, and measure their CPU each second.

Test-only: $MONEYPATH_TEST_BURN_CPU ("<share>" or "<share>@<worker index>") makes a worker (that one only) spin
its CPU for that share of every two seconds, holding its event loop: its users cannot keep their pace however many
cores the machine has free, so tests make a generator-bound worker deterministically. Never set it in a real run.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections import deque
from pathlib import Path

import gevent
import locust.runners
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from moneypath.loadtest.in_locust import cpu_quota, run_settings
from moneypath.loadtest.in_locust.request_names import FLOW, SENT
from moneypath.loadtest.in_locust.run_settings import BURN_ENV
from moneypath.loadtest.in_locust.worker_rates import rates_at

log = logging.getLogger("moneypath.loadtest")
CPU_KEY = "moneypath_cpu"  # a worker's quota and throttled seconds, in its stats report
locust.runners.CPU_MONITOR_INTERVAL = 1.0  # each process's CPU % over the last second (Locust's default: 10 s)
locust.runners.WORKER_REPORT_INTERVAL = 1.0  # each worker's stats every second (Locust's default: 3 s)
SAMPLE_S = 1.0
RATE_WINDOW_S = 3.0  # a worker's rate: its reports over at least this long
WRITE_EVERY = 5  # samples between rewrites of the timeline file, at least (and at the end)
RING = 20  # seconds of stats kept in memory, for the snapshot at a loss found a few seconds late
SETTLE_S = 15  # seconds of stats kept after the load looks whole again
MAX_STRETCH_SNAPSHOTS = 600
UP = ("running", "spawning")
BURN_CYCLE_S = 2.0  # the hook's loop hold: under Locust's 3 s heartbeat liveness, over a user's 1 s pace


class Watch:
    """The sampler of one test: reports received, samples taken, the stats kept around a loss."""

    def __init__(self, environment, prefix: str):
        self.env, self.runner = environment, environment.runner
        self.master = isinstance(self.runner, MasterRunner)
        self.path = Path(f"{prefix}_workers.json")
        self.snap_path = Path(f"{prefix}_stretch_snapshots.json")
        self.t0 = time.time()
        self.reports: dict[str, deque] = {}  # worker id -> (t, requests so far, flows so far)
        self.totals: dict[str, list[int]] = {}
        self.index: dict[str, int] = {}
        self.samples: list[dict] = []
        self.ring: deque = deque(maxlen=RING)
        self.kept: dict[str, list] = {}
        self.keep_until = -1.0
        self.pace = _pace(environment)
        self.greenlet = None
        self.probe = cpu_quota.Probe()  # this process's quota: the master's, or the single process's
        self.cpu: dict[str, deque] = {}  # worker id (or "local", "master") -> (t, throttled seconds so far)
        self.limits: dict[str, dict] = {}  # worker id (or "local", "master") -> its quota (cores, text)

    def now(self) -> float:
        return time.time() - self.t0

    def on_report(self, client_id: str, data: dict) -> None:
        requests = sum(e.get("num_requests", 0) for e in data.get("stats", ()) if e.get("method") in SENT)
        flows = sum(e.get("num_requests", 0) for e in data.get("stats", ()) if e.get("method") == FLOW)
        total = self.totals.setdefault(client_id, [0, 0])
        total[0] += requests
        total[1] += flows
        self.reports.setdefault(client_id, deque(maxlen=16)).append((self.now(), total[0], total[1]))
        self.cpu_report(client_id, data.get(CPU_KEY))

    def cpu_report(self, who: str, report: dict | None) -> None:
        if not report:
            return
        if report.get("cores"):
            self.limits[who] = {"cores": report["cores"], "text": report["text"]}
        self.cpu.setdefault(who, deque(maxlen=16)).append(
            (self.now(), report.get("throttled_s") or 0.0, report.get("runnable_s") or 0.0,
             report.get("throttled_s") is not None, report.get("runnable_s") is not None))

    def quota_of(self, who: str, t: float) -> tuple[float | None, float | None, float | None]:
        """(its quota in cores, its cgroup's throttled seconds per second lately, its event loop's runnable seconds
        per second lately), None each when not known."""
        limit, reports = self.limits.get(who), list(self.cpu.get(who, ()))
        throttled, runnable, _ = rates_at([(t0, a, b) for t0, a, b, _, _ in reports], t, RATE_WINDOW_S)
        known_t, known_r = any(r[3] for r in reports), any(r[4] for r in reports)
        return (limit["cores"] if limit else None), (throttled if known_t else None), (runnable if known_r else None)

    def _local_report(self) -> None:
        entries = self.runner.stats.entries.values()
        self.totals["local"] = [sum(e.num_requests for e in entries if e.method in SENT),
                                sum(e.num_requests for e in entries if e.method == FLOW)]
        self.reports.setdefault("local", deque(maxlen=16)).append((self.now(), *self.totals["local"]))

    def rates(self, worker: str, t: float) -> tuple[float | None, float | None, float | None]:
        return rates_at(self.reports.get(worker, ()), t, RATE_WINDOW_S)

    def sample(self) -> dict:
        t = round(self.now(), 3)
        workers = {}
        if self.master:
            clients = self.runner.clients
            for wid in list(clients):
                node = clients.get(wid)
                if node is None:
                    continue
                self.index.setdefault(wid, self.runner.worker_indexes.get(wid, len(self.index)))
                rps, fps, last = self.rates(wid, t)
                quota, throttled, runnable = self.quota_of(wid, t)
                workers[wid] = {"state": node.state, "users": node.user_count, "cpu": node.cpu_usage,
                                "rps": rps, "fps": fps, "last_report": last, "quota": quota, "throttled": throttled,
                                "runnable": runnable}
            for wid in self.index:  # quit, or missing too long: the master forgot it
                if wid not in workers:
                    rps, fps, last = self.rates(wid, t)
                    workers[wid] = {"state": "gone", "users": 0, "cpu": None, "rps": 0.0, "fps": 0.0,
                                    "last_report": last}
        else:
            self._local_report()
            self.cpu_report("local", self.probe.report())
            rps, fps, last = self.rates("local", t)
            quota, throttled, runnable = self.quota_of("local", t)
            workers["local"] = {"state": self.runner.state, "users": self.runner.user_count,
                                "cpu": self.runner.current_cpu_usage, "rps": rps, "fps": fps, "last_report": last,
                                "quota": quota, "throttled": throttled, "runnable": runnable}
        out = {"t": t, "target_users": self.runner.target_user_count or 0,
               "master_cpu": self.runner.current_cpu_usage if self.master else None, "workers": workers}
        if self.master:
            self.cpu_report("master", self.probe.report())
            out["master_quota"], out["master_throttled"], out["master_runnable"] = self.quota_of("master", t)
        return out

    def _troubled(self, s: dict) -> bool:
        """The load may not be whole: a worker not up, or the rate short of the users' pace (kept generously: the
        judging after the run decides)."""
        if not self.master or s["t"] < 3:
            return False
        if any(w["state"] not in UP for w in s["workers"].values()):
            return True
        if self.pace is None or not s["target_users"]:
            return False
        rate = sum(w["rps"] or 0.0 for w in s["workers"].values())
        flows = sum(w["fps"] or 0.0 for w in s["workers"].values())
        return (flows or rate) < 0.95 * s["target_users"] * self.pace  # a flow's users pace flows

    def keep_stats(self, s: dict) -> None:
        if not self.master:  # one process: no worker to lose
            return
        entries = copy.deepcopy([e.serialize() for e in self.runner.stats.entries.values()
                                 if e.num_requests or e.num_failures])
        self.ring.append((s["t"], entries))
        if self._troubled(s):
            if self.keep_until < s["t"]:
                self.kept.update({f"{t:g}": e for t, e in self.ring})  # from a little before it showed
            self.keep_until = s["t"] + SETTLE_S
        if s["t"] <= self.keep_until and len(self.kept) < MAX_STRETCH_SNAPSHOTS:
            self.kept[f"{s['t']:g}"] = entries  # written when the test stops

    def run(self) -> None:
        n = 0
        while True:
            gevent.sleep(SAMPLE_S)
            try:
                s = self.sample()
                self.samples.append(s)
                self.keep_stats(s)
                n += 1
                if n % max(WRITE_EVERY, n // 20) == 0:  # a long run's file is rewritten less often as it grows
                    self.write()
            except Exception:  # the timeline never stops the run
                log.exception("worker timeline: sample failed")

    def write(self) -> None:
        _write(self.path, {"started_at": self.t0, "mode": "master" if self.master else "local", "sample_s": SAMPLE_S,
                           "pace": self.pace, "workers": {w: {"index": i} for w, i in self.index.items()},
                           "limits": self.limits,
                           "samples": self.samples})

    def stop(self) -> None:
        if self.greenlet is not None:
            self.greenlet.kill(block=False)
            self.greenlet = None
            self.write()
            if self.kept:
                _write(self.snap_path, self.kept)


def _pace(environment) -> float | None:
    """Each user's requests (or flows) per second; None in a closed loop or when the settings cannot be read."""
    try:
        s = run_settings.settings(environment)
        return None if s.closed_loop else s.rate / s.users
    except Exception:  # a locustfile's own settings: no pace known
        return None


def _write(path: Path, data) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


@events.test_start.add_listener
def _start(environment, **_kwargs):
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        _burn(runner)
        return
    o = environment.parsed_options
    if o is None or not getattr(o, "csv_prefix", None) or getattr(environment, "moneypath_watch", None):
        return
    watch = Watch(environment, o.csv_prefix)
    environment.moneypath_watch = watch
    if watch.master:
        environment.events.worker_report.add_listener(watch.on_report)
    watch.greenlet = gevent.spawn(watch.run)


@events.report_to_master.add_listener
def _cpu_to_master(client_id, data, **_kwargs):
    """A worker's quota and throttled seconds, with each stats report (read by the master's Watch.on_report)."""
    global _PROBE
    if _PROBE is None:
        _PROBE = cpu_quota.Probe()
    report = _PROBE.report()
    if report is not None:
        data[CPU_KEY] = report


_PROBE: cpu_quota.Probe | None = None


@events.test_stopping.add_listener
def _stopping(environment, **_kwargs):
    watch = getattr(environment, "moneypath_watch", None)
    if watch is not None:
        watch.stop()


def _burn(runner) -> None:
    """Test-only (see the module's docstring): spin this worker's CPU for a share of every BURN_CYCLE_S."""
    spec = os.environ.get(BURN_ENV, "").strip()
    if not spec:
        return
    share, _, index = spec.partition("@")
    if index and int(index) != getattr(runner, "worker_index", -1):
        return
    share_f = min(1.0, max(0.0, float(share)))
    log.warning("%s=%s: this worker burns %.0f %% of its CPU (test-only)", BURN_ENV, spec, share_f * 100)

    def spin():  # holds the event loop: whatever CPU the machine gives it, the users cannot keep their pace
        while True:
            end = time.perf_counter() + BURN_CYCLE_S * share_f
            while time.perf_counter() < end:
                pass
            gevent.sleep(max(0.05, BURN_CYCLE_S * (1 - share_f)))  # room for its heartbeats and reports

    gevent.spawn(spin)
