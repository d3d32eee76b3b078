"""Half the monitoring down, pages still arrive, once: `moneypath up --ha` (two Prometheus replicas with the
same rules, a two-node Alertmanager cluster gossiping on loopback) in front of the reference service.

A provider outage with everything up pages once: the pair's two copies of the alert are one alert to the
cluster (the replica label is dropped), and the cluster sends one notification. Then one Prometheus and
one Alertmanager are killed and another provider fails: the page still arrives, once, through the
survivors; the pager's watchdog names the silent replica.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import defaultdict

import httpx
import pytest

from moneypath._common.tokens import issue
from moneypath.stack import local as stack
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def drive(service: str, secret: bytes, providers: list[str], currency: str, stop: threading.Event) -> None:
    token = issue(secret, "merchant_1", ["payments:write"], ttl_s=3600)
    with httpx.Client(base_url=service, timeout=10) as client:
        i = 0
        while not stop.is_set():
            client.post("/v1/payments/authorize", headers={"authorization": f"Bearer {token}",
                                                           "idempotency-key": uuid.uuid4().hex},
                        json={"amount_minor": 1000 + i, "currency": currency,
                              "provider": providers[i % len(providers)], "reference": f"ha-{i}"})
            i += 1
            stop.wait(1 / 20)


def deliveries(pager: str, alertname: str, provider: str) -> list[tuple[str, float, frozenset]]:
    """(group key, when, {(fingerprint, status)}) per notification the pager received for the alert."""
    by_delivery: dict[tuple[str, float], set] = defaultdict(set)
    for p in httpx.get(f"{pager}/pages", params={"alertname": alertname}, timeout=5).json():
        if p["labels"].get("provider") == provider:
            by_delivery[(p["group_key"], p["received_at"])].add((p["fingerprint"], p["status"]))
    return sorted((key, t, frozenset(alerts)) for (key, t), alerts in by_delivery.items())


def duplicates(sent: list[tuple[str, float, frozenset]]) -> list[tuple[str, float]]:
    """Notifications that repeat the one before them in their group: what a pair without dedup sends."""
    last: dict[str, frozenset] = {}
    out = []
    for key, t, alerts in sorted(sent, key=lambda d: d[1]):
        if last.get(key) == alerts:
            out.append((key, t))
        last[key] = alerts
    return out


def test_a_page_arrives_once_with_one_prometheus_and_one_alertmanager_gone(catalog, tmp_path):
    state_dir = tmp_path / "stack"
    state = stack.up(catalog, state_dir, [], fast=True, services=True, faults=True, time_factor=60, ha=True,
                     progress=lambda *_: None)
    secret = stack.read_secrets(state_dir)["token_secret"].encode()
    admin = {"authorization": f"Bearer {issue(secret, 'ops', ['admin:faults'], ttl_s=3600)}"}
    sim, service, pager = state.url("providersim"), state.url("refservice"), state.url("pager")
    alert = catalog.alert_name("ProviderPartialOutage")
    first, second = list(catalog.providers)[:2]
    stop = threading.Event()
    load = threading.Thread(target=drive, args=(service, secret, [first, second], catalog.currencies[0], stop),
                            daemon=True)
    load.start()

    def outage(provider: str) -> float:
        """Fail every call to `provider`; seconds until its page arrived."""
        at = time.time()
        httpx.put(f"{sim}/admin/faults/error_rate", json={"provider": provider, "rate": 1.0}, headers=admin,
                  timeout=5).raise_for_status()
        fired = wait_for(lambda: [d for d in deliveries(pager, alert, provider) if ("firing" in {s for _, s in d[2]})],
                         90, f"{alert} for {provider} to page", interval_s=0.5)
        time.sleep(8)  # a duplicate from the other replica or node would arrive within the peer timeout
        httpx.delete(f"{sim}/admin/faults/error_rate", headers=admin, timeout=5).raise_for_status()
        return min(t for _, t, _ in fired) - at

    try:
        wait_for(lambda: set(httpx.get(f"{pager}/watchdog", timeout=5).json()["replicas"]) == {"a", "b"}, 60,
                 "a heartbeat from each Prometheus replica")
        whole = outage(first)
        assert duplicates(deliveries(pager, alert, first)) == []
        pages = httpx.get(f"{pager}/pages", params={"alertname": alert}, timeout=5).json()
        assert pages and not [p for p in pages if "replica" in p["labels"]]  # one alert from the pair, not two

        dead = {p.name: p for p in state.parts if p.name in ("prometheus-b", "alertmanager")}
        for part in dead.values():
            os.killpg(part.pid, signal.SIGKILL)
        half = outage(second)
        sent = deliveries(pager, alert, second)
        assert sent and duplicates(sent) == []
        print(f"\nProviderPartialOutage paged {whole:.1f} s after the fault with the whole stack, {half:.1f} s with "
              "one Prometheus and one Alertmanager killed")

        beat = wait_for(lambda: (b := httpx.get(f"{pager}/watchdog", timeout=5).json())["replicas"]["b"]["status"]
                        == "late" and b, 60, "the watchdog to show replica b silent")
        assert beat["status"] == "ok" and beat["replicas"]["a"]["status"] == "ok"  # a still beats
        rows = {name: (ok, detail) for name, _, ok, detail in stack.status(state_dir)}
        assert not rows["prometheus-b"][0] and not rows["alertmanager"][0] and rows["alertmanager-b"][0]
        assert "replica b silent" in rows["pager"][1]
    finally:
        stop.set()
        load.join(timeout=15)
        stack.down(state_dir, progress=lambda *_: None)
