"""`moneypath status`: how each part of the local stack is doing, and whether scrape targets answer."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath.protocol.audit.checkpoint import FILE as CHECKPOINT_FILE
from moneypath.stack import processes
from moneypath.stack.counter_check import alternating
from moneypath.stack.state import load_state

TARGET_WAIT_S = 3.0  # how long `up` gives a --target to answer before it says so (a service still starting)


def unanswered_targets(targets: list[str], wait_s: float = TARGET_WAIT_S) -> list[tuple[str, str]]:
    """(target, why) for each host:port whose /metrics does not answer 2xx within `wait_s` (asked again every
    half second): what the first scrape would find."""
    reasons: dict[str, str] = {}
    pending = list(targets)
    deadline = time.monotonic() + wait_s
    while pending:
        for target in list(pending):
            try:
                r = httpx.get(f"http://{target}/metrics", timeout=max(0.2, min(1.0, deadline - time.monotonic())))
            except httpx.ConnectError:
                reasons[target] = "connection refused"
            except httpx.TimeoutException:
                reasons[target] = "no answer in time"
            except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # not a host:port a URL can hold
                reasons[target] = type(exc).__name__
            else:
                if r.is_success:
                    pending.remove(target)
                    reasons.pop(target, None)
                else:
                    reasons[target] = f"/metrics answered HTTP {r.status_code}"
        if not pending or time.monotonic() + 0.5 > deadline:
            break
        time.sleep(0.5)
    return [(t, reasons[t]) for t in pending]


def status(state_dir: Path) -> list[tuple[str, str, bool, str]]:
    """(part, url, healthy, detail) for every part; empty when nothing runs."""
    state = load_state(state_dir.resolve())
    if state is None:
        return []
    rows = []
    instances = state.service_urls()
    for part in state.parts:
        ok = processes.alive(part.pid) and processes.healthy(part)
        detail = f"pid {part.pid}" if ok else (f"not answering; see {part.log}" if processes.alive(part.pid) else "exited")
        if ok and (part.name.startswith("prometheus") or part.name == "victoriametrics"):
            detail += _targets_summary(part.url)
            detail += _backwards_summary(part.url, state.targets or [urlsplit(u).netloc for u in instances])
        if ok and part.name == "pager":
            detail += _watchdog_summary(part.url)
        if len(instances) > 1 and part.url in instances:
            i = instances.index(part.url)
            detail += (f", instance {i} of {len(instances)} on one {state.db_url.split(':', 1)[0]} database"
                       + (" (runs the once-per-database jobs)" if i == 0 else ""))
        if part.name == "refservice" and state.audit_checkpoints:
            detail += _checkpoints_summary(Path(state.audit_checkpoints))
        rows.append((part.name, part.url, ok, detail))
    return rows

def _watchdog_summary(pager_url: str) -> str:
    try:
        beat = httpx.get(f"{pager_url}/watchdog", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return ""
    if beat.get("status") == "never":
        return ", watchdog: no heartbeat yet"
    silent = [f"replica {name} silent {r['age_s']} s" for name, r in (beat.get("replicas") or {}).items()
              if r.get("status") == "late"]
    return (f", watchdog {beat.get('status')} (last {beat.get('age_s')} s ago, timeout {beat.get('timeout_s'):g} s)"
            + "".join(f", {line}" for line in silent))


def _checkpoints_summary(directory: Path) -> str:
    """How many checkpoints the service signed and up to which seq (the file names say; `audit verify` checks)."""
    try:
        seqs = [int(m[1]) for p in directory.iterdir() if (m := CHECKPOINT_FILE.fullmatch(p.name))]
    except OSError:
        seqs = []
    if not seqs:
        return f", audit checkpoints: none yet in {directory}"
    return f", audit checkpoints: {len(seqs)} in {directory} (newest seq {max(seqs)})"


def _targets_summary(prom_url: str) -> str:
    try:
        with Prometheus(prom_url, timeout_s=2) as prom:
            active = prom.targets()
    except (PrometheusError, KeyError):
        return ""
    up_count = sum(1 for t in active if t.get("health") == "up")
    down = [f"{(t.get('labels') or {}).get('instance', t.get('scrapeUrl', '?'))} "
            f"({_short_error(t.get('lastError', '')) or 'no answer'})" for t in active if t.get("health") == "down"]
    return f", targets up {up_count}/{len(active)}" + (f"; down: {', '.join(down)}" if down else "")


def _backwards_summary(prom_url: str, services: list[str]) -> str:
    """The service targets whose counters went backwards (moneypath.stack.counter_check), each with its reason."""
    return "".join(f"; COUNTERS NOT DATA: {t.reason()}" for t in alternating(prom_url, services))


def _short_error(error: str) -> str:
    """'Get "http://127.0.0.1:9/metrics": dial tcp 127.0.0.1:9: connect: connection refused' → 'connection refused'."""
    return error.rsplit(": ", 1)[-1].strip()
