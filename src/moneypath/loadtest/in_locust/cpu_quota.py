"""A process's CPU quota and the time it was throttled, from its cgroup (v2 `cpu.max`; v1 `cpu.cfs_quota_us` and
`cpu.cfs_period_us`), and `cpu.stat`'s throttled time (v2 `throttled_usec`, v1 `throttled_time` in ns); and the time
it was runnable (`/proc/<pid>/schedstat`): a process starved by other work on its cores reads little CPU too.

A load generator under a quota is short of CPU at a share of a core that looks idle (4 % of a core, its whole
quota), so a process's CPU is judged against min(one core, its quota), and throttled time counts as short of CPU
(moneypath.loadtest.command.worker_health). The quota that binds is the smallest on the way from the process's cgroup up to
the root (a parent's quota holds its children too); its cpu.stat is where the throttling shows.

Pure file reading; the cgroup root and /proc are parameters, so tests read a fake tree. Read in a Locust process
(each second, by worker_watch) and by `moneypath loadtest` (resources), never on a service's hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
V1_CPU_DIRS = ("cpu,cpuacct", "cpu", "cpuacct,cpu")  # where distributions mount the v1 cpu controller


@dataclass(frozen=True)
class Quota:
    cores: float  # quota / period: the CPU the cgroup may use per second of wall time
    text: str  # where it comes from, e.g. "cgroup v1 cpu.cfs_quota_us 4000 / cpu.cfs_period_us 100000"
    stat: Path  # the cpu.stat of the cgroup that has it

    def to_dict(self) -> dict:
        return {"cores": self.cores, "text": self.text}


def cgroup_paths(pid: int | str = "self", proc: Path = Path("/proc")) -> dict[str, str]:
    """The process's cgroup per hierarchy: "" for v2's unified one, else the v1 controllers ("cpu,cpuacct")."""
    try:
        lines = (Path(proc) / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        out[controllers] = path or "/"
    return out


def quota(pid: int | str = "self", root: Path = ROOT, proc: Path = Path("/proc")) -> Quota | None:
    """The tightest CPU quota on the process's cgroup and its ancestors (v2 and v1 alike); None without one."""
    root, found = Path(root), []
    paths = cgroup_paths(pid, proc)
    if "" in paths:
        for base in (root, root / "unified"):
            if (base / "cgroup.controllers").exists():
                found += [q for d in _up(base, paths[""]) if (q := _v2(d)) is not None]
    for controllers, path in paths.items():
        if "cpu" in controllers.split(","):
            for name in dict.fromkeys((controllers, *V1_CPU_DIRS)):
                if (root / name / "cpu.cfs_quota_us").exists():
                    found += [q for d in _up(root / name, path) if (q := _v1(d)) is not None]
                    break
    return min(found, key=lambda q: q.cores, default=None)


def throttled_s(stat: Path) -> float | None:
    """Seconds the cgroup was throttled so far (cpu.stat); None when it cannot be read."""
    try:
        fields = dict(line.split() for line in Path(stat).read_text().splitlines() if len(line.split()) == 2)
        if "throttled_usec" in fields:
            return int(fields["throttled_usec"]) / 1e6
        if "throttled_time" in fields:
            return int(fields["throttled_time"]) / 1e9
    except (OSError, ValueError):
        pass
    return None


def _up(mount: Path, path: str) -> list[Path]:
    """The cgroup's directory and its ancestors up to the mount, those that exist (a container may see its own
    cgroup as the mount's root while /proc names the host's path)."""
    parts = [p for p in path.strip("/").split("/") if p]
    dirs = [mount.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]
    return [d for d in dirs if d.is_dir()]


def _v2(d: Path) -> Quota | None:
    try:
        limit, period = (d / "cpu.max").read_text().split()[:2]
        if limit == "max":
            return None
        return Quota(int(limit) / int(period), f"cgroup v2 cpu.max {limit} {period} ({d})", d / "cpu.stat")
    except (OSError, ValueError):
        return None


def _v1(d: Path) -> Quota | None:
    try:
        limit = int((d / "cpu.cfs_quota_us").read_text())
        period = int((d / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    if limit <= 0 or period <= 0:
        return None
    return Quota(limit / period, f"cgroup v1 cpu.cfs_quota_us {limit} / cpu.cfs_period_us {period} ({d})",
                 d / "cpu.stat")


class Probe:
    """One process's quota and its cgroup's throttled seconds so far, as a report: what worker_watch sends with each
    worker's stats, and samples in the master and a single process. Read at each report (a few small files, once a
    second): a process may be moved into a cgroup, or its quota changed, while it runs."""

    def __init__(self, pid: int | str = "self", root: Path = ROOT, proc: Path = Path("/proc")):
        self.pid, self.root, self.proc = pid, root, proc

    def report(self) -> dict | None:
        q = quota(self.pid, self.root, self.proc)
        runnable = runnable_s(self.pid, self.proc)
        if q is None and runnable is None:
            return None
        return {"cores": q.cores if q else None, "text": q.text if q else None,
                "throttled_s": throttled_s(q.stat) if q else None, "runnable_s": runnable}


def runnable_s(pid: int | str = "self", proc: Path = Path("/proc")) -> float | None:
    """Seconds the process's main thread (a Locust process's event loop) was runnable so far: on a CPU or waiting in
    a run queue for one (/proc/<pid>/schedstat: run time and run-queue wait, in ns). Runnable nearly all the time, it
    wanted a whole core, whatever it got; None where the kernel does not keep the figures."""
    try:
        run_ns, wait_ns = (Path(proc) / str(pid) / "schedstat").read_text().split()[:2]
        return (int(run_ns) + int(wait_ns)) / 1e9
    except (OSError, ValueError):
        return None
