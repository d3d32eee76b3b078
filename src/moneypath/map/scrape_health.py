"""Whether the scrape targets an edge's series come from are alive now: Prometheus's own word (`up`, the
targets' health), not the five-minute staleness of a query. A target is dead when its last scrape failed (`up`
0), when it was not scraped for more than two of its scrape intervals, or when Prometheus no longer scrapes it
(its series went stale): an edge reading it is not measured from the first failed scrape on.

The scrape interval is each target's own (/api/v1/targets). A Prometheus API without the targets endpoint
(a query frontend) is read through `up` and `timestamp(up)`, judged against the running config's global interval
when it has one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath.catalog import duration_seconds

STALE_INTERVALS = 2  # a target not scraped for this many of its intervals is dead

Query = Callable[[str], list[tuple[dict, float]]]  # an instant query: (labels, value) pairs


class Suspect(Protocol):
    """A target whose counters are not data (moneypath.check.counter_resets.AlternatingTarget)."""

    job: str
    instance: str

    def reason(self) -> str: ...


NotDataFinder = Callable[[Query], Iterable[Suspect]]


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    instance: str
    up: bool | None  # None: Prometheus has not scraped it yet
    last_scrape: float | None  # Unix seconds
    interval_s: float | None
    error: str = ""

    def dead(self, now: float) -> str | None:
        """Why the target's series are not data now, or None while it is scraped."""
        name = f"target {self.instance} (job {self.job})"
        if self.up is False:
            return f"{name} is down (up 0): {self.error}" if self.error else f"{name} is down (up 0)"
        if self.up is None:
            return f"{name} has not been scraped yet"
        if self.interval_s and self.last_scrape is not None:
            age = now - self.last_scrape
            if age > STALE_INTERVALS * self.interval_s:
                return (f"{name} was last scraped {age:.0f} s ago, more than {STALE_INTERVALS} scrape intervals "
                        f"({STALE_INTERVALS * self.interval_s:g} s): its series are stale")
        return None


def _seconds(text: str | None) -> float | None:
    try:
        return duration_seconds(text) if text else None
    except ValueError:
        return None


def _when(text: str | None) -> float | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
    return when.timestamp() if when and when.year > 1 else None  # 0001-01-01: never scraped


def _from_api(active: list[dict]) -> dict[tuple[str, str], ScrapeTarget]:
    found = {}
    for t in active:
        labels = t.get("labels") or {}
        key = (labels.get("job", ""), labels.get("instance", ""))
        health = t.get("health")
        found[key] = ScrapeTarget(*key, up={"up": True, "down": False}.get(health), last_scrape=_when(t.get("lastScrape")),
                                  interval_s=_seconds(t.get("scrapeInterval")), error=" ".join(str(t.get("lastError") or
                                                                                              "").split()))
    return found


def _from_up(prom: Prometheus, at: float) -> dict[tuple[str, str], ScrapeTarget]:
    try:
        import yaml

        interval = _seconds((yaml.safe_load(prom.config_yaml()) or {}).get("global", {}).get("scrape_interval"))
    except (PrometheusError, ValueError, AttributeError):
        interval = None
    found = {}
    stamps = {(s["metric"].get("job", ""), s["metric"].get("instance", "")): float(s["value"][1])
              for s in prom.instant("timestamp(up)", at)}
    for s in prom.instant("up", at):
        key = (s["metric"].get("job", ""), s["metric"].get("instance", ""))
        found[key] = ScrapeTarget(*key, up=float(s["value"][1]) == 1, last_scrape=stamps.get(key), interval_s=interval)
    return found


def read_targets_health(prom: Prometheus, at: float) -> dict[tuple[str, str], ScrapeTarget]:
    """(job, instance) → each target Prometheus scrapes, with its health. A target it does not list is not
    scraped."""
    try:
        return _from_api(prom.targets())
    except PrometheusError as exc:
        if exc.status is None:
            raise  # not reached: the caller says so
    return _from_up(prom, at)


def query_of(prom: Prometheus, at: float) -> Query:
    """An instant query at `at` as (labels, value) pairs: what moneypath.check.counter_resets reads."""
    return lambda expr: [(s["metric"], float(s["value"][1])) for s in prom.instant(expr, at)]


def edge_problem(seen: set[tuple[str, str]], health: dict[tuple[str, str], ScrapeTarget], at: float,
                 not_data: dict[tuple[str, str], str]) -> tuple[str | None, str | None]:
    """(why the edge's counters are not data, why its targets are not alive), each None when it does not hold,
    over the targets its series came from in the window."""
    suspect = next((not_data[k] for k in sorted(seen) if k in not_data), None)
    dead = None
    for job, instance in sorted(seen):
        if not instance:
            continue  # a series no scrape labelled (federated, remote-written): its target is not known here
        target = health.get((job, instance))
        why = (target.dead(at) if target is not None else
               f"target {instance} (job {job}) is no longer scraped: its series went stale")
        if why is not None:
            dead = why
            break
    return suspect, dead
