"""No page while a target boots: `up --target` holds the alert rules until each target has answered a scrape.

Until then the rule engines run the recording rules and the Watchdog alone (the heartbeat goes on), so nothing
can page about a service that has not been seen yet (AuthorizationsSilent's `absent()` would, at `--time-factor
60` within seconds). When every scraper reports each target's health "up" (/api/v1/targets), `up` writes the
full alert rules and reloads the engines (POST /-/reload). Holding the rules rather than silencing in
Alertmanager: nothing to remove afterwards, no alert left pending or firing to reach the pager when a silence
ends, and the same on the vm engine and on an HA pair. A target that never answers within the wait stops `up`
(StackError: one line, exit 1): a stack that never sees the service proves nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath.catalog.conventions import WATCHDOG_SEVERITY
from moneypath.stack.state import StackError

PROGRESS_EVERY_S = 5.0
POLL_S = 0.5


def held_rules(alert_rules: dict) -> dict:
    """The alert rules `up` runs while it holds them: the Watchdog alone (none without a watchdog)."""
    groups = [{**g, "rules": [r for r in g["rules"] if (r.get("labels") or {}).get("severity") == WATCHDOG_SEVERITY]}
              for g in alert_rules["groups"]]
    return {"groups": [g for g in groups if g["rules"]]}


def first_scrape_state(active: Iterable[dict], target: str) -> tuple[bool, str]:
    """(answered, why not) for `target` (host:port) among a scraper's active targets: health "up" is answered."""
    mine = [t for t in active if (t.get("labels") or {}).get("instance") == target
            or urlsplit(t.get("scrapeUrl", "")).netloc == target]
    if not mine:
        return False, "not scraped yet"
    if any(t.get("health") == "up" for t in mine):
        return True, ""
    error = next((t.get("lastError") for t in mine if t.get("lastError")), "")
    return False, error.rsplit(": ", 1)[-1].strip() if error else "not scraped yet"


def wait_first_scrapes(scrapers: list[str], targets: Iterable[str], timeout_s: float,
                       progress: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                       sleep: Callable[[float], None] = time.sleep,
                       active: Callable[[str], list[dict]] | None = None) -> float:
    """Wait until every scraper (Prometheus API URLs) has scraped each target once; seconds it took. A line on
    `progress` every PROGRESS_EVERY_S naming who is still silent; StackError after `timeout_s`."""
    active = active or _active_targets
    pending = list(dict.fromkeys(targets))
    started = next_line = clock()
    why: dict[str, str] = {}
    while True:
        for target in list(pending):
            answered, reason = True, ""
            for url in scrapers:
                ok, reason_here = first_scrape_state(active(url), target)
                if not ok:
                    answered, reason = False, reason_here
                    break
            if answered:
                pending.remove(target)
                progress(f"{target} answered its first scrape after {clock() - started:.0f} s")
            else:
                why[target] = reason
        if not pending:
            return clock() - started
        waited = clock() - started
        if waited > timeout_s:
            target = pending[0]
            raise StackError(f"{target} did not answer its first scrape within {timeout_s:.0f} s ({why[target]}); "
                             "the stack is stopped: start the service first, check --target, or give --target-wait "
                             "SECONDS (0: start without waiting, alert rules on at once)")
        if clock() >= next_line:
            for target in pending:
                progress(f"waiting for {target} to answer its first scrape ({waited:.0f} s; {why[target]})")
            next_line = clock() + PROGRESS_EVERY_S
        sleep(POLL_S)


def release(rule_engines: list[str]) -> None:
    """Reload each rule engine (Prometheus, or vmalert) after the full alert rules were written; StackError."""
    for url in rule_engines:
        try:
            with Prometheus(url, timeout_s=30) as engine:
                engine.reload()
        except PrometheusError as exc:
            raise StackError(f"the alert rules could not be loaded: {exc}") from None


def _active_targets(url: str) -> list[dict]:
    try:
        with Prometheus(url, timeout_s=2) as prom:
            return prom.targets()
    except (PrometheusError, KeyError):
        return []
