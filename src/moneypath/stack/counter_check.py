"""Scrape targets whose counters go backwards (moneypath.check.counter_resets): `up` reads each --target's /metrics
a few times itself (what it can see before Prometheus has a history), `status` asks Prometheus over a window."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath.check.counter_resets import START_TIME, AlternatingTarget, find, instance_selector, is_counter_name

STATUS_WINDOW = "5m"
PROBES = 12
MAX_NAMES = 200


def _read(target: str) -> dict[tuple, float] | None:
    """One scrape, on a connection of its own (a pool would keep talking to one worker)."""
    try:
        text = httpx.get(f"http://{target}/metrics", timeout=2, headers={"connection": "close"}).text
        families = list(text_string_to_metric_families(text))
    except (httpx.HTTPError, ValueError):
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families
            if f.type == "counter" or f.name == START_TIME for s in f.samples if not s.name.endswith("_created")}


def probe(target: str, probes: int = PROBES) -> str | None:
    """Why `target`'s counters are not data, from `probes` scrapes in a row: its process start time went backwards,
    or a counter went down while the start time did not move forward (a restart); None when nothing showed (a
    service without traffic and without the process collector shows nothing yet: `status` watches later)."""
    before = None
    for _ in range(probes):
        now = _read(target)
        if now is None:
            continue  # a read that failed proves nothing either way
        if before is not None:
            start_then, start_now = before.get((START_TIME, ())), now.get((START_TIME, ()))
            if start_then is not None and start_now is not None and start_now < start_then:
                return "its process start time went backwards between two scrapes"
            restarted = start_then is not None and start_now is not None and start_now > start_then
            dropped = next((k[0] for k, v in now.items() if k[0] != START_TIME and v < before.get(k, v)), None)
            if dropped and not restarted:
                return f"{dropped} went down between two scrapes while the process did not restart"
        before = now
    return None


def probe_text(target: str, why: str) -> str:
    return (f"warning: target {target}: {why}: several processes answer its scrapes in turn (workers without "
            "prometheus-client's multiprocess mode: set PROMETHEUS_MULTIPROC_DIR, see docs/instrumenting.md); "
            "its rates are not data")


def alternating(prom_url: str, instances: list[str], window: str = STATUS_WINDOW) -> list[AlternatingTarget]:
    """The targets among `instances` (host:port) Prometheus saw going backwards over `window`; [] when it does not
    answer. Their counters are whatever they export (names ending _total or _count), at most MAX_NAMES of them."""
    if not instances:
        return []
    try:
        with Prometheus(prom_url, timeout_s=5) as prom:
            names = [n for n in prom.get("/api/v1/label/__name__/values", {"match[]": instance_selector(instances)})
                     if is_counter_name(n)]
            return find(lambda expr: [(r["metric"], float(r["value"][1])) for r in prom.instant(expr)],
                        names[:MAX_NAMES], window, instances)
    except (PrometheusError, KeyError, ValueError, TypeError):
        return []
