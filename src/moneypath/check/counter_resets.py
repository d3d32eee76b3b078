"""Counters that go backwards are not data: a scrape target answered by several processes in turn.

Several workers behind one port without prometheus-client's multiprocess mode (gunicorn `-w 2`, `uvicorn
--workers 2`) each keep their own counters, and each scrape reads one worker or another: 9, 1, 9, 1... Prometheus
takes every drop for a counter reset and adds the other worker's whole count back, so every rate of that target
is many times what happened. Two signs, read from Prometheus over a window:

- the process start time went backwards (`resets(process_start_time_seconds[w]) > 0`): a process that really
  restarted always starts later, never earlier;
- the target's counters reset at least twice, more often than the process start time changed (workers forked
  in the same clock tick report one start time; a real restart moves it once per reset).

In multiprocess mode the process collector is usually absent and the counters, summed over every worker's files,
never go back: nothing is found. A single restart (one reset, one start-time change) is not reported either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from moneypath.catalog import Catalog

START_TIME = "process_start_time_seconds"
CPU_SECONDS = "process_cpu_seconds_total"  # every process collector's counter: moves without any traffic
MIN_RESETS = 2
BY = ("job", "instance")
# What a check reads from a target's counters: a rate or increase, a recording rule of rates, an alert of them.
_READS_RATES = re.compile(r"\b(?:i?rate|increase|resets)\s*\(|rate\d+[smhdwy]\b|\bALERTS(?:_FOR_STATE)?\b")

Query = Callable[[str], list[tuple[dict, float]]]  # an instant query: (labels, value) pairs


@dataclass(frozen=True)
class AlternatingTarget:
    """A scrape target whose counters went backwards while its process did not restart."""

    job: str
    instance: str
    window: str
    counter_resets: int  # the most resets of one of its counter series in the window
    start_time_resets: int  # how often its process start time went backwards (0: absent or never)
    restarts: int  # how often its process start time changed (0: absent or never)

    def reason(self) -> str:
        how = (f"its process start time went backwards {self.start_time_resets} time(s) in {self.window}"
               if self.start_time_resets else
               f"its counters reset {self.counter_resets} times in {self.window} while its process start time "
               + (f"changed only {self.restarts} time(s)" if self.restarts else "did not change"))
        return (f"target {self.instance} (job {self.job}): {how}: several processes answer its "
                "scrapes in turn (workers without prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR), "
                "so its rates are not data")


def instance_selector(instances: Iterable[str]) -> str:
    """`{instance=~`a|b`}`: a raw string (backticks), so the regex's escapes reach Prometheus as they are."""
    return "{instance=~`" + "|".join(re.escape(i) for i in instances) + "`}"


def is_counter_name(name: str) -> bool:
    return name.endswith(("_total", "_count"))


def counter_names(catalog: Catalog) -> list[str]:
    """The catalog's counters, its histograms' _count, and the process collector's CPU seconds."""
    names = [s.name for s in catalog.signals.values() if s.type == "counter"]
    names += [f"{s.name}_count" for s in catalog.signals.values() if s.type == "histogram"]
    return sorted(set(names)) + [CPU_SECONDS]


def queries(names: Iterable[str], window: str, instances: Iterable[str] | None = None) -> dict[str, str]:
    """The three PromQL queries, each one value per (job, instance), over `instances` (host:port; None: every one).
    resets() drops the metric name, so each counter is labelled with its own before they are taken together."""
    sel = instance_selector(instances) if instances is not None else ""
    by = ", ".join(BY)
    each = " or ".join(f'label_replace(resets({n}{sel}[{window}]), "counter", "{n}", "", "")' for n in names)
    return {
        "counter_resets": f"max by ({by}) ({each})",
        "start_time_resets": f"max by ({by}) (resets({START_TIME}{sel}[{window}]))",
        "restarts": f"max by ({by}) (changes({START_TIME}{sel}[{window}]))",
    }


def find(query: Query, names: Iterable[str], window: str,
         instances: Iterable[str] | None = None) -> list[AlternatingTarget]:
    """The targets whose counters (`names`) are not data over `window` (a PromQL duration), by instance. `query`
    raises what it raises (the caller's client error) when Prometheus does not answer."""
    values: dict[tuple[str, str], dict[str, int]] = {}
    names = list(names)
    for what, expr in queries(names, window, instances).items():
        if what == "counter_resets" and not names:
            continue
        for labels, value in query(expr):
            if "instance" in labels and value == value:  # a target's value (NaN: nothing to count)
                values.setdefault((labels.get("job", ""), labels.get("instance", "")), {})[what] = int(value)
    found = []
    for (job, instance), v in sorted(values.items()):
        counter, start, restarts = v.get("counter_resets", 0), v.get("start_time_resets", 0), v.get("restarts", 0)
        if start > 0 or (counter >= MIN_RESETS and counter > restarts):
            found.append(AlternatingTarget(job, instance, window, counter, start, restarts))
    return found


def reads_rates(promql: str) -> bool:
    """Whether an expression reads counters over time (rate, increase, a recording rule of rates, ALERTS)."""
    return bool(_READS_RATES.search(promql))
