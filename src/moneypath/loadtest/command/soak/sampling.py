"""The soak drift's measuring (what drift.py judges): a sampler thread beside the run, and after it the
authorizations from Locust's per-second history and a p99 for each window.

Every SAMPLE_EVERY_S the sampler records the service's CPU seconds and resident memory (its processes
and their children, psutil, as resources.CpuMeter measures them: a worker that restarts keeps its last
reading) and the size of the database on disk (the stack's SQLite file and its -wal; a database
server is not sampled). That needs the service on this machine: the stack the target is. A service
given by --host has no local processes: its CPU and memory come from Prometheus' `process_*` series
of the catalog's scrape job (`moneypath up` names the job after the catalog's service) when
Prometheus has them; its database is not sampled. Anything not measured says why.

The authorizations so far are not read live: Locust's per-second per-name history (--csv-full-history)
has them with their timestamps, and is read once after the run.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import PROCESS_METRICS
from moneypath.formats.scenarios import latency_slo
from moneypath.loadtest.command import resources
from moneypath.loadtest.command.soak import drift
from moneypath.loadtest.command.stats import authorization_history
from moneypath.stack import local as stack
from moneypath.stack.state import LEDGER_DB

SAMPLE_EVERY_S = 5.0
def db_bytes(files: list[Path]) -> int | None:
    """Bytes on disk of a database's files (a missing WAL counts 0); None when the main file is missing."""
    total = 0
    for i, path in enumerate(files):
        try:
            total += path.stat().st_size
        except OSError:
            if i == 0:
                return None
    return total


class Sampler:
    """Samples the service's CPU, resident memory and database size every `every_s` from begin() to end()."""

    def __init__(self, service_pids: list[int], db_files: list[Path] | None, every_s: float = SAMPLE_EVERY_S,
                 missing: dict[str, str] | None = None, sources: dict[str, str] | None = None):
        self.service_pids, self.db_files, self.every_s = list(service_pids), db_files, every_s
        self.missing, self.sources = dict(missing or {}), dict(sources or {})
        self.samples: list[drift.Sample] = []
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self, now: float | None = None) -> drift.Sample:
        cpu = rss = None
        if self.service_pids:
            procs, _ = resources.process_group(self.service_pids)  # found anew: a restarted worker is counted
            live = 0
            for p in procs:
                if (t := resources.cpu_seconds(p)) is not None:
                    self._cpu[p.pid] = max(t, self._cpu.get(p.pid, 0.0))
                if (r := resources.rss_bytes(p)) is not None:
                    live += r
            cpu = sum(self._cpu.values()) if self._cpu else None  # an exited process keeps its last reading
            rss = live if procs else None
        size = db_bytes(self.db_files) if self.db_files else None
        s = drift.Sample(time.time() if now is None else now, cpu, rss, size)
        self.samples.append(s)
        return s

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def begin(self) -> None:
        self.sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="drift-sampler", daemon=True)
        self._thread.start()

    def end(self) -> list[drift.Sample]:
        """Stop sampling (again: harmless) with one last sample."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            self._thread = None
            self.sample()
        return self.samples


def sampler_for(c: Catalog, target, every_s: float = SAMPLE_EVERY_S) -> Sampler:
    """A sampler for the target: its processes and SQLite file when it is the service of the local stack
    in its state directory; else nothing local (CPU and memory then come from Prometheus after the run)."""
    state = stack.load_state(target.state_dir.resolve()) if target.state_dir is not None else None
    service = next((p for p in state.parts if p.name == "refservice"), None) if state is not None else None
    local = service is not None and service.url.rstrip("/") == target.host.rstrip("/")
    missing, sources = {}, {}
    if local:
        pids = resources.stack_parts(target.state_dir, ("refservice",)).get("service", [])
        sources["cpu"] = sources["rss"] = f"service processes (pid {service.pid} and its children)"
        # `moneypath up` and `moneypath loadtest` run the service on the SQLite file in the state directory
        # (only `moneypath capacity --postgres` starts one on a server, and it drifts nothing)
        db = Path(state.state_dir) / LEDGER_DB
        files = [db, db.with_name(db.name + "-wal")]
        if db.exists():
            sources["db"] = f"{db} and its -wal"
        else:
            files, missing["db"] = None, f"no {db}: the service's database is elsewhere (not sampled)"
        return Sampler(pids, files, every_s, missing, sources)
    missing["db"] = f"{target.host} is not the service of a local stack: its database is not on this machine"
    return Sampler([], None, every_s, missing, sources)


def _points(prom: Prometheus, query: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
    rows = prom.range(query, start, end, step)
    return [(float(t), float(v)) for t, v in rows[0]["values"]] if rows else []


def _near(points: list[tuple[float, float]], t: float, tol: float) -> float | None:
    best = min(points, key=lambda p: abs(p[0] - t), default=None)
    return best[1] if best is not None and abs(best[0] - t) <= tol else None


def process_from_prometheus(c: Catalog, prom_url: str | None, samples: list[drift.Sample], every_s: float,
                            missing: dict[str, str], sources: dict[str, str]) -> list[drift.Sample]:
    """CPU and memory of a service with no local processes: its own `process_*` series in Prometheus (the
    scrape job named after the catalog's service), at the samples' times; else why not in `missing`."""
    job = c.service
    if not prom_url:
        missing["cpu"] = missing["rss"] = "no local service processes and no Prometheus"
        return samples
    if not samples:
        return samples
    start, end = samples[0].t, samples[-1].t
    got = {}
    try:
        with Prometheus(prom_url, timeout_s=15) as prom:
            for key, metric in (("cpu", PROCESS_METRICS["cpu_seconds"]), ("rss", PROCESS_METRICS["resident_bytes"])):
                got[key] = _points(prom, f'sum({metric}{{job="{job}"}})', start, end, every_s)
    except PrometheusError as exc:
        missing["cpu"] = missing["rss"] = f"no local service processes; Prometheus failed: {exc}"
        return samples
    for key, metric in (("cpu", PROCESS_METRICS["cpu_seconds"]), ("rss", PROCESS_METRICS["resident_bytes"])):
        if got[key]:
            sources[key] = f"Prometheus {metric}{{job=\"{job}\"}}"
        else:
            missing[key] = f"no local service processes, and Prometheus has no {metric} for job {job!r}"
    return [drift.Sample(s.t, _near(got["cpu"], s.t, every_s), _near(got["rss"], s.t, every_s), s.db_bytes,
                         s.authorizations) for s in samples]


def with_authorizations(samples: list[drift.Sample], ticks) -> list[drift.Sample]:
    """Each sample with the authorizations and requests so far: the last history second at or before it (0 before
    the first; requests None when the history has no aggregated rows)."""
    out, i, total = [], 0, 0
    requests: int | None = 0 if all(t.requests is not None for t in ticks) else None
    for s in sorted(samples, key=lambda s: s.t):
        while i < len(ticks) and ticks[i].t <= s.t:
            total = ticks[i].total
            requests = None if requests is None else ticks[i].requests
            i += 1
        out.append(drift.Sample(s.t, s.cpu_s, s.rss_bytes, s.db_bytes, total, requests))
    return out


def p99_windows(c: Catalog, prom_url: str | None, wins: drift.Windows, ticks, judge_provider: str | None,
                sources: dict[str, str], missing: dict[str, str]) -> tuple[float | None, float | None]:
    """The authorize p99 of each window in ms: the service's latency histogram (the catalog's latency SLO
    signal) in Prometheus; else the median of Locust's rolling p99 over the window's seconds."""
    lat = latency_slo(c)
    if prom_url and lat is not None:
        hist = c.metric(lat[1].sli.latency.signal)
        sel = f'{{provider="{judge_provider}"}}' if judge_provider else ""
        out = []
        try:
            with Prometheus(prom_url, timeout_s=15) as prom:
                for a, b in (wins.first, wins.last):
                    rows = prom.instant(f"histogram_quantile(0.99, sum by (le) "
                                        f"(increase({hist}_bucket{sel}[{round(b - a)}s])))", b)
                    v = float(rows[0]["value"][1]) if rows else float("nan")
                    out.append(None if v != v else v * 1000)
        except PrometheusError:
            out = []
        if len(out) == 2 and None not in out:
            sources["p99"] = f"the service's {hist} in Prometheus"
            return out[0], out[1]
    p99s = []
    for a, b in (wins.first, wins.last):
        values = [t.p99_ms for t in ticks if a <= t.t <= b and t.p99_ms is not None]
        p99s.append(statistics.median(values) if values else None)
    if any(v is not None for v in p99s):
        sources["p99"] = "Locust: median over the minute of the rolling 10 s p99 (slowest authorize name)"
    else:
        missing["p99"] = "neither the service's latency histogram nor Locust's history had it"
    return p99s[0], p99s[1]


def measure(c: Catalog, sampler: Sampler, prom_url: str | None, work: Path, started: float, duration_s: float,
            warmup_s: float, judge_provider: str | None = None, memory_warmup_s: float = 0.0) -> drift.Drift:
    """The drift of a finished run whose load ran `duration_s` from about `started` (Locust's first history
    second, when it has one: the users start a moment after the processes)."""
    missing, sources = dict(sampler.missing), dict(sampler.sources)
    samples = sampler.end()
    ticks = authorization_history(work / "locust_stats_history.csv", judge_provider)
    start = ticks[0].t if ticks else started
    end = min(start + duration_s, samples[-1].t) if samples else start + duration_s
    if not sampler.service_pids:
        samples = process_from_prometheus(c, prom_url, samples, sampler.every_s, missing, sources)
    if ticks:
        samples = with_authorizations(samples, ticks)
        sources["authorizations"] = "Locust's per-second history (final authorize outcomes; all requests for the mix)"
    else:
        missing["authorizations"] = "Locust wrote no per-second history of authorizations"
    wins, _ = drift.windows(start, end, warmup_s)
    p99 = p99_windows(c, prom_url, wins, ticks, judge_provider, sources, missing) if wins else (None, None)
    return drift.compute(samples, start, end, warmup_s, p99, missing, sources, memory_warmup_s=memory_warmup_s)
