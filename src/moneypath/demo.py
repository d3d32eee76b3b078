"""`moneypath demo` (and `make demo`): a provider outage, end to end, on this machine.

Steady payments through the reference service; globex goes down through the simulator's
fault API; the pages arrive from Alertmanager as on-call would get them; the fault clears.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from pathlib import Path

import httpx

from moneypath import stack
from moneypath.catalog import Catalog
from moneypath.tokens import issue


def _drive(service_url: str, token: str, stop: threading.Event, counts: dict, rate: float = 20.0) -> None:
    with httpx.Client(base_url=service_url, timeout=10) as client:
        i = 0
        while not stop.is_set():
            try:
                r = client.post("/v1/payments/authorize",
                                headers={"authorization": f"Bearer {token}", "idempotency-key": uuid.uuid4().hex},
                                json={"amount_minor": 1000 + i % 9000, "currency": "EUR",
                                      "provider": ("acme", "globex")[i % 2], "reference": f"demo-{i}"})
                counts[r.status_code] = counts.get(r.status_code, 0) + 1
            except httpx.HTTPError:
                counts["unreachable"] = counts.get("unreachable", 0) + 1
            i += 1
            stop.wait(1 / rate)


def run_demo(c: Catalog, state_dir: Path, fault_s: float = 150.0) -> int:
    stack.down(state_dir, progress=lambda *_: None)  # a previous demo interrupted hard
    # Start clean: old pages and Prometheus' restored alert state would blur this run's timeline.
    shutil.rmtree(state_dir, ignore_errors=True)
    state = stack.up(c, state_dir, [], fast=True, services=True, faults=True)
    secrets = stack.read_secrets(state_dir.resolve())
    secret = secrets["token_secret"].encode()
    merchant = issue(secret, "demo_merchant", ["payments:write", "payments:read"], ttl_s=3600)
    admin = {"authorization": f"Bearer {issue(secret, 'demo_ops', ['admin:faults'], ttl_s=3600)}"}
    sim, service, pager = state.url("providersim"), state.url("refservice"), state.url("pager")
    stop, counts = threading.Event(), {}
    load = threading.Thread(target=_drive, args=(service, merchant, stop, counts), daemon=True)
    started = time.time()

    def say(text: str) -> None:
        print(f"[{time.time() - started:6.1f} s] {text}", flush=True)

    seen: set[tuple] = set()

    def show_pages() -> list[dict]:
        pages = httpx.get(f"{pager}/pages", timeout=5).json()
        for p in pages:
            key = (p["alertname"], p["receiver"], p["status"], p.get("fingerprint"))
            if key not in seen:
                seen.add(key)
                detail = ", ".join(f"{k}={p['labels'][k]}" for k in ("provider", "reason", "slo", "long_window")
                                   if k in p["labels"])
                say(f"PAGE {p['status']:<8} {p['alertname']} [{detail}] → {p['receiver']} "
                    f"({p['labels'].get('severity')})")
        return pages

    try:
        load.start()
        say("steady payments: 20/s across acme and globex")
        time.sleep(20)
        show_pages()
        say(f"FAULT globex fails every call (PUT {sim}/admin/faults/error_rate)")
        httpx.put(f"{sim}/admin/faults/error_rate", json={"provider": "globex", "rate": 1.0}, headers=admin,
                  timeout=5).raise_for_status()
        fault_at = time.time()
        outage = c.alert_name("ProviderPartialOutage")
        while time.time() - fault_at < fault_s:
            pages = show_pages()
            if any(p["alertname"] == outage and p["status"] == "firing" for p in pages):
                break
            time.sleep(1)
        say("CLEAR the fault (DELETE /admin/faults/error_rate)")
        httpx.delete(f"{sim}/admin/faults/error_rate", headers=admin, timeout=5).raise_for_status()
        time.sleep(20)
        show_pages()
        say(f"responses by status: {dict(sorted(counts.items(), key=str))}")
        say(f"every page is also in {state_dir / 'pages.jsonl'}")
        say("note: this Prometheus holds seconds of history, so the SLO burn pages fire within seconds; with a full "
            "healthy hour behind it a 50 % error rate takes about 2 minutes")
    finally:
        stop.set()
        load.join(timeout=15)
        stack.down(state_dir, progress=lambda *_: None)
    return 0
