"""The load generator judged from its worker timeline (`<prefix>_workers.json`, written by worker_watch inside
Locust): a worker lost mid-run, the stretch until the asked rate held again, and whether the generator rather than
the service was the bottleneck. Pure; the timeline comes in.

- Lost: a worker whose heartbeats stopped (Locust marks it missing), that left the master (quit), or that fell
  behind: it sent under COLLAPSED of its users' pace for COLLAPSE_S seconds in a row after it had carried them.
  When: seconds into the run (the master's clock) of its last report; the rate it carried: its mean before that.
- The stretch: from the loss until the achieved rate is again at least HELD of the asked (the users the shape asks
  for x their pace) for HOLD_S seconds in a row; None when it never held again.
- Generator-bound, each cause named as what it is (docs/decisions/0027-generator-bound-means-short-of-cpu-or-users.md):
  short of CPU: a worker's (or the single process's, or the master's) CPU at CPU_SATURATED % of its ceiling or more
  (median over the judged seconds), the ceiling being one core or its CPU quota when that is less
  (moneypath.loadtest.in_locust.cpu_quota), or its cgroup throttled THROTTLED of the time or more; or short of users: the
  users asked for, over the mean time a flow (or request) took, carry under SHORT of the asked rate (each user has
  one in flight). Nothing else names the generator: a rate short for another reason is the service's, judged by
  the gates. The CPU per unit of rate of the workers that were not saturated says how many workers the rate needs
  (WORKER_CORES of a core each).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from moneypath.loadtest.command import generator_bound
from moneypath.loadtest.command.launch import FLOWS_PER_S, REQUESTS_PER_S
from moneypath.loadtest.in_locust.worker_rates import STALE_S

HELD, HOLD_S = 0.9, 3
COLLAPSED, COLLAPSE_S = 0.5, 5
CARRIED = 0.8  # a worker carried its users once it sent this share of their pace
WORKER_CORES = 0.75
MIN_SAMPLES = 3
CPU_FROM_S = 2.0  # a process's first CPU reading is 0
SETTLE_S = 4.0  # after the users asked change, a worker's rate (over its last reports) lags this long
UP = ("running", "spawning")
LOST_STATES = {"missing": "its heartbeats stopped", "gone": "it left the master"}
BOTTLENECK = "the load generator was the bottleneck"


@dataclass(frozen=True)
class Point:
    """One worker in one second."""
    state: str
    users: int = 0
    cpu: float | None = None  # % of one core
    rps: float | None = None  # requests sent per second
    fps: float | None = None  # flows per second
    last_report: float | None = None  # seconds into the run of its last stats report
    quota: float | None = None  # its cgroup's CPU quota in cores; None: none
    throttled: float | None = None  # seconds its cgroup was throttled per second, lately; None: not known
    runnable: float | None = None  # seconds per second its event loop was runnable (on a CPU or waiting for one)

    def rate(self, unit: str) -> float | None:
        return self.fps if unit == FLOWS_PER_S else self.rps


@dataclass(frozen=True)
class HealthSample:
    t: float
    target_users: int
    master_cpu: float | None
    workers: dict[str, Point]
    master_quota: float | None = None
    master_throttled: float | None = None
    master_runnable: float | None = None


@dataclass
class Timeline:
    mode: str  # master | local
    pace: float | None  # each user's rate; None: a closed loop, or not known
    samples: list[HealthSample]
    index: dict[str, int] = field(default_factory=dict)
    started_at: float | None = None  # the epoch second the test started (the master's clock)
    limits: dict[str, dict] = field(default_factory=dict)  # worker id ("local", "master") -> its quota: cores, text

    def asked(self, s: HealthSample) -> float | None:
        return s.target_users * self.pace if self.pace is not None else None

    def achieved(self, s: HealthSample, unit: str) -> float:
        return sum(p.rate(unit) or 0.0 for p in s.workers.values() if p.state in UP)

    def name(self, worker: str) -> str:
        i = self.index.get(worker)
        return worker if i is None else f"worker {i + 1} ({worker})"


def load(path: Path) -> Timeline | None:
    """The timeline worker_watch wrote; None when there is none (an older harness, a run that never started)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    samples = [HealthSample(s["t"], s.get("target_users") or 0, s.get("master_cpu"),
                            {w: Point(p["state"], p.get("users") or 0, p.get("cpu"), p.get("rps"), p.get("fps"),
                                      p.get("last_report"), p.get("quota"), p.get("throttled"), p.get("runnable"))
                             for w, p in s["workers"].items()}, s.get("master_quota"), s.get("master_throttled"),
                            s.get("master_runnable"))
               for s in data.get("samples", [])]
    index = {w: v["index"] for w, v in (data.get("workers") or {}).items() if v.get("index") is not None}
    return Timeline(data.get("mode", "master"), data.get("pace"), samples, index, data.get("started_at"),
                    data.get("limits") or {})


@dataclass(frozen=True)
class Loss:
    worker: str
    how: str  # why it counts as lost
    at_s: float  # seconds into the run: its last report, or the start of its fall
    detected_s: float
    carried: float | None  # the rate it was carrying, in `unit`
    unit: str
    recovered_s: float | None = None  # when the asked rate held again; None: never

    def line(self, name: str) -> str:
        carried = "-" if self.carried is None else f"{self.carried:.1f} {self.unit}"
        held = (f"the asked rate held again at {self.recovered_s:.0f} s" if self.recovered_s is not None
                else "the asked rate never held again")
        return f"{name} lost at {self.at_s:.0f} s ({self.how}), carrying {carried}; {held}"


@dataclass
class WorkerHealth:
    mode: str
    unit: str
    losses: list[Loss] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    stretches: list[tuple[float, float | None]] = field(default_factory=list)  # not measured: [loss, held again)
    bound: list[str] = field(default_factory=list)  # why the generator was the bottleneck; empty: it was not
    causes: list[generator_bound.Cause] = field(default_factory=list)  # the same, with their kinds and figures
    achieved_share: float | None = None  # achieved / asked over the judged seconds
    cores_per_rate: float | None = None  # generator CPU cores per unit of rate (workers not saturated)
    worker_cpu: dict[str, float] = field(default_factory=dict)  # median CPU % of each worker
    master_cpu: float | None = None  # median CPU % of the master
    limits: dict[str, dict] = field(default_factory=dict)  # worker id ("local", "master") -> its CPU quota

    @property
    def recovered(self) -> bool:
        return all(b is not None for _, b in self.stretches)

    @property
    def generator_bound(self) -> bool:
        return bool(self.bound)

    @property
    def short_of_cpu(self) -> bool:
        """A Locust process was short of CPU: its own timings are its, not the service's."""
        return any(c.kind == "cpu" for c in self.causes)

    def workers_for(self, rate: float) -> int | None:
        """Workers a rate needs at WORKER_CORES of a core each, from the CPU per unit of rate measured."""
        if not self.cores_per_rate or rate <= 0:
            return None
        return max(1, math.ceil(rate * self.cores_per_rate / WORKER_CORES - 1e-9))

    def stretch_text(self) -> str:
        return ", ".join(f"{a:.0f}-{b:.0f} s" if b is not None else f"{a:.0f} s to the end" for a, b in self.stretches)

    def lines(self) -> list[str]:
        """The CLI's and the report's lines: each loss, the stretch, the generator bottleneck."""
        out = [loss.line(self.names.get(loss.worker, loss.worker)) for loss in self.losses]
        if self.stretches:
            out.append(f"not measured for the rate-dependent gates: {self.stretch_text()}"
                       + ("; the run is judged on the rest" if self.recovered else ""))
        if self.bound:
            out.append(f"{BOTTLENECK}: {'; '.join(self.bound)}")
        return out

    def to_dict(self) -> dict:
        return {"mode": self.mode, "unit": self.unit, "losses": [asdict(x) | {"name": self.names.get(x.worker, x.worker)}
                                                                 for x in self.losses],
                "not_measured_s": [list(s) for s in self.stretches], "recovered": self.recovered,
                "generator_bound": self.generator_bound, "bottleneck": self.bound, "achieved_share": self.achieved_share,
                "causes": [asdict(c) for c in self.causes],
                "cpu_quota": {"Locust master" if w == "master" else self.names.get(
                    w, "the one Locust process" if w == "local" else w): q for w, q in self.limits.items()},
                "cores_per_rate": self.cores_per_rate,
                "worker_cpu": {self.names.get(w, "the one Locust process" if w == "local" else w): v
                               for w, v in self.worker_cpu.items()}, "master_cpu": self.master_cpu,
                "lines": self.lines()}


def _running(tl: Timeline) -> list[HealthSample]:
    return [s for s in tl.samples if s.target_users > 0]


def losses(tl: Timeline, unit: str = REQUESTS_PER_S) -> list[Loss]:
    """Each worker lost while the test ran (at most once each), in the order they were lost."""
    if tl.mode != "master":
        return []
    out = []
    for wid in dict.fromkeys(w for s in tl.samples for w in s.workers):
        up_once = carried_once = False
        rates: list[tuple[float, float]] = []  # (t, rate) while it reported
        fall: list[float] = []
        for s in _running(tl):
            p = s.workers.get(wid)
            if p is None:
                continue
            if p.state in UP and p.users > 0:
                up_once = True
                r = p.rate(unit)
                fresh = r is not None and p.last_report is not None and s.t - p.last_report <= STALE_S
                own = p.users * tl.pace if tl.pace is not None else None
                if fresh and own and carried_once and r < COLLAPSED * own:
                    fall.append(s.t)
                    if len(fall) >= COLLAPSE_S:
                        out.append(Loss(wid, f"it fell behind: under {COLLAPSED:.0%} of its users' pace for "
                                             f"{COLLAPSE_S} s", fall[0], s.t, _mean(rates, fall[0]), unit))
                        break
                    continue
                fall = []
                if fresh:
                    rates.append((s.t, r))
                    carried_once = carried_once or (own is not None and r >= CARRIED * own)
            elif up_once and p.state in LOST_STATES:
                at = p.last_report if p.last_report is not None else s.t
                out.append(Loss(wid, LOST_STATES[p.state], at, s.t, _mean(rates, at), unit))
                break
    return sorted(out, key=lambda x: x.at_s)


def _mean(rates: list[tuple[float, float]], before: float, last: int = 5) -> float | None:
    values = [r for t, r in rates if t <= before][-last:]
    return sum(values) / len(values) if values else None


def held_again(tl: Timeline, unit: str, after: float) -> float | None:
    """The first second from `after` that starts HOLD_S seconds in a row at HELD of the asked rate or more."""
    run: list[float] = []
    for s in _running(tl):
        if s.t < after:
            continue
        asked = tl.asked(s)
        if asked is not None and tl.achieved(s, unit) >= HELD * asked:
            run.append(s.t)
            if len(run) >= HOLD_S:
                return run[0]
        else:
            run = []
    return None


def stretches(tl: Timeline, found: list[Loss], unit: str) -> tuple[list[Loss], list[tuple[float, float | None]]]:
    """(the losses with when the rate held again, the merged stretches not measured)."""
    done, spans = [], []
    for loss in found:
        back = held_again(tl, unit, loss.detected_s) if tl.pace is not None else None
        done.append(Loss(**{**asdict(loss), "recovered_s": back}))
        if spans and (spans[-1][1] is None or loss.at_s <= spans[-1][1]):
            a, b = spans[-1]
            spans[-1] = (a, None if b is None or back is None else max(b, back))
        else:
            spans.append((loss.at_s, back))
    return done, spans


def judge(tl: Timeline, unit: str = REQUESTS_PER_S, skip_s: float = 0.0,
          latency: generator_bound.Latency | None = None) -> WorkerHealth:
    """The load generator over one run: losses and their stretches, the bottleneck (generator_bound: short of CPU,
    or of users for `latency`, the mean time a user's flow or request took) and its CPU per unit of rate.
    `skip_s`: the ramp-up left out of the bottleneck's figures."""
    found, spans = stretches(tl, losses(tl, unit), unit)
    health = WorkerHealth(tl.mode, unit, found, {w: tl.name(w) for w in tl.index}, spans, limits=dict(tl.limits))
    running = _running(tl)
    end = running[-1].t if running else 0.0
    def outside(s: HealthSample) -> bool:
        return not any(a <= s.t and (b is None or s.t < b) for a, b in spans)

    judged = [s for s in _settled(running) if skip_s <= s.t < end and outside(s)]
    # CPU: every second from CPU_FROM_S on, outside the stretches (no ramp to wait for, unlike a rate over reports)
    busy = [s for s in running if max(skip_s, CPU_FROM_S) <= s.t and outside(s)]
    seconds: dict[str, list[Point]] = {}
    for s in busy:
        for w, p in s.workers.items():
            if p.state in UP and p.cpu is not None:
                seconds.setdefault(w, []).append(p)
    causes, saturated = [], set()
    for w, points in seconds.items():
        who = "the load generator's one process" if w == "local" else tl.name(w)
        cause, median = generator_bound.cpu_cause(who, [p.cpu for p in points], [p.quota for p in points],
                                                  [p.throttled for p in points], tl.limits.get(w, {}).get("text"),
                                                  [p.runnable for p in points])
        if median is not None:
            health.worker_cpu[w] = median
        if cause:
            causes.append(cause)
            saturated.add(w)
    master = [s for s in busy if s.master_cpu is not None]
    cause, health.master_cpu = generator_bound.cpu_cause(
        "the Locust master", [s.master_cpu for s in master], [s.master_quota for s in master],
        [s.master_throttled for s in master], tl.limits.get("master", {}).get("text"),
        [s.master_runnable for s in master])
    causes += [cause] if cause else []
    asked = [(tl.achieved(s, unit), tl.asked(s), s.target_users) for s in judged if tl.asked(s)]
    if len(asked) >= MIN_SAMPLES:
        health.achieved_share = sum(a for a, _, _ in asked) / sum(w for _, w, _ in asked)
        users = generator_bound.users_cause([n for _, _, n in asked], [w for _, w, _ in asked], latency, unit)
        causes += [users] if users else []
    health.causes = causes
    health.bound = [c.line for c in causes]
    health.cores_per_rate = _cores_per_rate(busy, unit, saturated)
    return health


def _settled(running: list[HealthSample], after_s: float = SETTLE_S) -> list[HealthSample]:
    """The seconds at least `after_s` after the users asked for last changed (a spike's edges): a worker's rate is
    over its last few reports, so it lags a change."""
    out, changed, last = [], None, None
    for s in running:
        if s.target_users != last:
            changed, last = s.t, s.target_users
        if s.t - changed >= after_s:
            out.append(s)
    return out


def _cores_per_rate(judged: list[HealthSample], unit: str, saturated: set[str]) -> float | None:
    """Generator cores per unit of rate: the CPU of the workers not saturated over their rate (all of them when each
    was): a saturated worker's CPU says what it had, not what its rate needed."""
    for leave_out in (saturated, set()):
        cores = rate = 0.0
        for s in judged:
            for w, p in s.workers.items():
                if w in leave_out or p.state not in UP or p.cpu is None or not p.rate(unit):
                    continue
                cores += p.cpu / 100
                rate += p.rate(unit)
        if rate > 0 and cores > 0:
            return cores / rate
    return None
