"""What a load step used, measured, and which resource ran out first.

CPU comes from the kernel's per-process counters (psutil) of the processes on this machine: the
service (with its worker processes), the provider simulator, Prometheus (from a stack's
stack.json) and the Locust processes of the step. Each has a ceiling: one core per Python
process (one event loop or gevent hub: more threads do not add a core), or less when their
cgroups' CPU quotas allow less (moneypath.loadtest.in_locust.cpu_quota), the machine's cores for all of
them together. The database's write lock comes from the service's own ledger-write
histogram (the catalog's signal): the seconds per second spent in ledger writes; one writer at a
time (SQLite) saturates at 1.0 (a database server writes concurrently: the figure is kept, not judged).

`bottleneck` is pure: the resource closest to its ceiling, if it is close enough to be the limit.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from moneypath.loadtest.in_locust import cpu_quota
from moneypath.stack import local as stack
from moneypath.stack.state import INSTANCE_PART

SATURATED = 0.8  # at this share of its ceiling a resource is named as the limit


@dataclass
class Usage:
    """Measured over one step: CPU cores used per part, their ceilings, the write-lock busy share."""
    cores: dict[str, float] = field(default_factory=dict)
    ceilings: dict[str, float] = field(default_factory=dict)
    machine_cores: int = 1
    db_write_busy: float | None = None  # ledger-write seconds per second; None: not measured
    # One writer at a time (SQLite): the ledger-write seconds per second are the write lock's busy share.
    # A database server writes concurrently, so the same figure (summed over overlapping writes) has no ceiling.
    single_writer: bool = False
    limits: dict[str, str] = field(default_factory=dict)  # part -> the CPU quota that set its ceiling

    def to_dict(self) -> dict:
        return {"cores": self.cores, "ceilings": self.ceilings, "machine_cores": self.machine_cores,
                "db_write_busy": self.db_write_busy, "single_writer": self.single_writer, "limits": self.limits}


LABELS = {"service": "service CPU", "providersim": "provider simulator CPU (a provider)",
          "locust": "load generator CPU (Locust)", "prometheus": "Prometheus CPU",
          "machine": "the machine's cores (all parts together)", "db_write": "the database write lock"}


def shares(u: Usage) -> dict[str, float]:
    """Each measured resource as a share of its ceiling."""
    out = {name: used / u.ceilings[name] for name, used in u.cores.items() if u.ceilings.get(name)}
    if u.cores:
        out["machine"] = sum(u.cores.values()) / max(1, u.machine_cores)
    if u.db_write_busy is not None and u.single_writer:
        out["db_write"] = u.db_write_busy
    return out


def bottleneck(u: Usage) -> tuple[str | None, str]:
    """(resource key or None, one line): the resource nearest its ceiling when at >= SATURATED of it."""
    s = shares(u)
    if not s:
        return None, "not measured (no local processes and no ledger-write signal)"
    ranked = sorted(s.items(), key=lambda kv: kv[1], reverse=True)
    name, share = ranked[0]
    if share < SATURATED:
        return None, f"none at its ceiling (highest: {LABELS.get(name, name)} {share:.0%})"
    also = [f"{LABELS.get(n, n)} {v:.0%}" for n, v in ranked[1:3] if v >= SATURATED]
    quota = f", its CPU quota: {u.limits[name]}" if name in u.limits else ""
    return name, (f"{LABELS.get(name, name)} at {share:.0%} of its ceiling ({u.ceilings.get(name, 0):.3g} cores"
                  f"{quota})" if quota else f"{LABELS.get(name, name)} at {share:.0%} of its ceiling") + (
        f" (also {', '.join(also)})" if also else "")


def process_group(pids: list[int]) -> tuple[list[psutil.Process], int]:
    """(the processes of `pids` with all their children, how many cores they can use): a supervisor with
    workers does not add a core of its own. Pids that are gone are left out."""
    out, leaves = [], 0
    for pid in pids:
        try:
            p = psutil.Process(pid)
            children = p.children(recursive=True)
        except psutil.Error:
            continue
        out += [p, *children]
        leaves += max(1, len(children))
    return out, leaves


def quota_ceiling(procs: list[psutil.Process], leaves: int, quota_of=None) -> tuple[float, str | None]:
    """(the cores a group can use, the quota that says so or None): `leaves` cores, or the sum of its cgroups' CPU
    quotas when every process has one and that is less (processes in one cgroup share its quota)."""
    quota_of = quota_of or (lambda pid: cpu_quota.quota(pid))
    found = {}
    for p in procs:
        q = quota_of(p.pid)
        if q is None:
            return float(leaves), None
        found[q.text] = q
    if not found:
        return float(leaves), None
    cores = sum(q.cores for q in found.values())
    return (cores, "; ".join(found)) if cores < leaves else (float(leaves), None)


def cpu_seconds(p: psutil.Process) -> float | None:
    """User + system CPU seconds of one process so far; None when it has exited."""
    try:
        t = p.cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system


def rss_bytes(p: psutil.Process) -> int | None:
    """Resident memory of one process now; None when it has exited."""
    try:
        return p.memory_info().rss
    except psutil.Error:
        return None


def stack_parts(state_dir, names=("refservice", "providersim", "prometheus")) -> dict[str, list[int]]:
    """Pids of a local stack's processes by part ("service" for the reference service, all its instances), from
    its stack.json."""
    state = stack.load_state(Path(state_dir).resolve())
    if state is None:
        return {}
    parts: dict[str, list[int]] = {}
    for p in state.parts:
        name = "refservice" if p.name.startswith(INSTANCE_PART) else p.name  # every instance is the service
        if name in names:
            parts.setdefault("service" if name == "refservice" else name, []).append(p.pid)
    return parts


class CpuMeter:
    """CPU seconds of named process groups between begin() and end(); children (worker processes)
    found at begin are counted with their parent. A thread samples every `every_s` so that a
    process that exits before end() (Locust, when its run is over) keeps its last reading."""

    def __init__(self, parts: dict[str, list[int]], ceilings: dict[str, float] | None = None, every_s: float = 0.5):
        self.parts, self.extra_ceilings, self.every_s = parts, ceilings or {}, every_s
        self._groups: dict[str, list] = {}
        self._leaves: dict[str, int] = {}
        self._start: dict[str, dict[int, float]] = {}
        self._last: dict[str, dict[int, float]] = {}
        self._t0 = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        for name, procs in self._groups.items():
            last = self._last.setdefault(name, {})
            for p in procs:
                if (t := cpu_seconds(p)) is not None:  # None: exited, its last reading stays
                    last[p.pid] = t

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def begin(self, more: dict[str, list[int]] | None = None) -> None:
        self.parts = {**self.parts, **(more or {})}
        found = {name: process_group(pids) for name, pids in self.parts.items()}
        self._groups = {name: procs for name, (procs, _) in found.items() if procs}
        self._leaves = {name: leaves for name, (_, leaves) in found.items()}
        self._last = {}
        self._sample()
        self._start = {name: dict(v) for name, v in self._last.items()}
        self._t0 = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()

    def end(self) -> Usage:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sample()
        elapsed = max(1e-6, time.monotonic() - self._t0)
        machine = os.cpu_count() or 1
        cores, ceilings, limits = {}, {}, {}
        for name in self._groups:
            start, last = self._start.get(name, {}), self._last.get(name, {})
            cores[name] = sum(v - start.get(pid, v) for pid, v in last.items()) / elapsed
            # one core per process (one event loop or hub each), or their CPU quota; never more than the machine has
            ceiling, limit = quota_ceiling(self._groups[name], self._leaves[name])
            ceilings[name] = min(machine, self.extra_ceilings.get(name, ceiling))
            if limit and name not in self.extra_ceilings:
                limits[name] = limit
        return Usage(cores, ceilings, machine, limits=limits)
