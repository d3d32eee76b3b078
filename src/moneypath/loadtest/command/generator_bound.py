"""Was the load generator the bottleneck, and of what was it short? Two causes, each named as what it is, with its
figures (docs/decisions/0027-generator-bound-means-short-of-cpu-or-users.md):

- short of CPU: a Locust process's CPU at CPU_SATURATED % of its ceiling or more (median), the ceiling one core (a
  gevent hub uses one) or its cgroup's CPU quota when that is less; or its cgroup throttled THROTTLED of the time
  or more (mean): a process held to 4 % of a core by a quota reads 4 %, not 100 %; or its event loop runnable
  CPU_SATURATED % of the time or more (median; on a CPU or waiting in the run queue): on a machine busy with other
  work it wanted a core and got a share of one;
- short of users: each user has one flow (or request) in flight, so the users asked for carry at most users / the
  mean time one took; under SHORT of the asked rate, the run asked the service for what its users could not send.

Nothing else names the generator: a rate short for another reason is the service's, and the gates judge it. Pure;
worker_health calls it with the timeline's seconds.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from moneypath.loadtest.command.launch import FLOWS_PER_S
from moneypath.loadtest.in_locust.request_names import FLOW, SENT

CPU_SATURATED = 90.0  # % of its ceiling: Locust's own CPU warning threshold is 90 % of a core
THROTTLED = 0.05  # seconds throttled per second (mean): short of CPU whatever its share of the quota
SHORT = 0.9  # the users carry under this share of the asked rate
MIN_SAMPLES = 3


@dataclass(frozen=True)
class Latency:
    """The mean time a user's unit of work took (what it waits for before its next one)."""
    mean_s: float
    noun: str  # what one is: "checkout" (a flow's name), "request"


@dataclass(frozen=True)
class Cause:
    kind: str  # "cpu" or "users"
    who: str  # the process, or "the users"
    line: str
    figures: dict = field(default_factory=dict)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if len(values) >= MIN_SAMPLES else None


def cpu_cause(who: str, cpu: list[float], quota: list[float | None], throttled: list[float | None],
              limit_text: str | None, runnable: list[float | None] | None = None) -> tuple[Cause | None, float | None]:
    """(the CPU cause of one process or None, its median CPU % of a core) from its seconds: CPU % of a core, its
    quota in cores (None: none), its cgroup's throttled seconds per second (None: not known), its event loop's
    runnable seconds per second (None: not known). The seconds under a quota, when there are enough of them, are
    judged alone: a process moved into a cgroup mid-run is judged there."""
    runnable = runnable or [None] * len(cpu)
    under = [i for i, q in enumerate(quota) if q]
    if MIN_SAMPLES <= len(under) < len(quota):
        cpu, quota, throttled, runnable = ([xs[i] for i in under] for xs in (cpu, quota, throttled, runnable))
    median_cpu = _median(cpu)
    if median_cpu is None:
        return None, None
    ceilings = [100 * min(1.0, q) if q else 100.0 for q in quota]
    share = _median([c / ceiling for c, ceiling in zip(cpu, ceilings) if ceiling > 0])
    known = [t for t in throttled if t is not None]
    mean_throttled = sum(known) / len(known) if len(known) >= MIN_SAMPLES else None
    cores = min((q for q in quota if q), default=None)
    figures = {"cpu_percent": round(median_cpu, 2), "share_of_ceiling": None if share is None else round(share, 3),
               "quota_cores": cores, "quota": limit_text if cores is not None else None,
               "throttled_s_per_s": None if mean_throttled is None else round(mean_throttled, 3)}
    wanted = _median([r for r in runnable if r is not None])
    figures["runnable_s_per_s"] = None if wanted is None else round(wanted, 3)
    short = share is not None and share * 100 >= CPU_SATURATED
    throttled_much = mean_throttled is not None and mean_throttled >= THROTTLED
    starved = wanted is not None and wanted * 100 >= CPU_SATURATED and not short
    if not (short or throttled_much or starved):
        return None, median_cpu
    if starved:  # it wanted a core and other work had it: its CPU reads low
        line = (f"{who} short of CPU: runnable {min(wanted, 1.0):.0%} of the time (median; on a CPU or waiting for "
                f"one, /proc schedstat), {median_cpu:.0f} % of a core used")
        if throttled_much:
            line += f"; throttled {mean_throttled:.2f} s of each second (cpu.stat)"
        return Cause("cpu", who, line, figures), median_cpu
    if cores is not None and cores < 1:
        line = (f"{who} short of CPU: {median_cpu:.1f} % of a core (median), {share * 100:.0f} % of its CPU quota of "
                f"{cores * 100:.3g} % of a core ({limit_text})")
    else:
        line = f"{who} short of CPU: {median_cpu:.0f} % of its core (median)"
    if throttled_much:
        line += f"; throttled {mean_throttled:.2f} s of each second (cpu.stat)"
    return Cause("cpu", who, line, figures), median_cpu


def users_cause(users: list[int], asked: list[float], latency: Latency | None, unit: str) -> Cause | None:
    """The users cause, from the judged seconds' users and asked rates and the mean latency, or None."""
    if latency is None or latency.mean_s <= 0 or len(asked) < MIN_SAMPLES:
        return None
    n = statistics.median(users)
    want = sum(asked) / len(asked)
    carry = n / latency.mean_s
    if carry >= SHORT * want:
        return None
    line = (f"too few users: {n:g} users at {latency.mean_s:.1f} s per {latency.noun} carry at most "
            f"{carry:.2g}/s of {want:.3g}/s asked; raise --users")
    return Cause("users", "the users", line, {"users": n, "mean_latency_s": round(latency.mean_s, 3),
                                              "per": latency.noun, "carry_per_s": round(carry, 3),
                                              "asked_per_s": round(want, 3), "unit": unit})


def latency_of(entries: list[dict], unit: str) -> Latency | None:
    """The mean time of what a user paces (Locust's stats entries): its flows (FLOW entries, named "<flow> [...]"),
    or its requests; None when it sent none."""
    methods = (FLOW,) if unit == FLOWS_PER_S else SENT
    mine = [e for e in entries if e.get("method") in methods and e.get("num_requests")]
    n = sum(e["num_requests"] for e in mine)
    if not n:
        return None
    names = {str(e.get("name", "")).partition(" [")[0] for e in mine} if unit == FLOWS_PER_S else set()
    noun = names.pop() if len(names) == 1 and "" not in names else "flow" if unit == FLOWS_PER_S else "request"
    return Latency(sum(e.get("total_response_time", 0.0) for e in mine) / n / 1000, noun)
