"""End to end: provider simulator and reference service as real processes, the stack with
1 s intervals, steady payments; a provider outage injected through the fault API must page
on-call through Prometheus and Alertmanager, and resolve once the fault clears."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from moneypath.protocol.tokens import issue
from moneypath.stack import local as stack
from tests.conftest import CATALOG_PATH, free_port, http_ok, wait_for
from tests.support.reference_processes import start
from tests.support.stack_traffic import authorize_until

SECRET = "e2e-secret"




@pytest.fixture
def money_path(tmp_path):
    sim_port, svc_port = free_port(), free_port()
    env = {"MONEYPATH_TOKEN_SECRET": SECRET, "MONEYPATH_WEBHOOK_SECRET": "hooks", "MONEYPATH_CATALOG": str(CATALOG_PATH),
           "MONEYPATH_DB_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
           "MONEYPATH_PROVIDER_URL": f"http://127.0.0.1:{sim_port}"}
    procs = [start("moneypath.reference.providersim", sim_port, env, "--enable-faults", "--latency-scale", "0.1",
                   "--settlement-dir", str(tmp_path / "settlements")),
             start("moneypath.reference.refservice", svc_port, env)]
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{sim_port}/healthz"), 30, "the provider simulator")
        wait_for(lambda: http_ok(f"http://127.0.0.1:{svc_port}/healthz"), 30, "the reference service")
        yield f"http://127.0.0.1:{sim_port}", f"127.0.0.1:{svc_port}"
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)


def test_provider_outage_pages_and_resolves(catalog, money_path, tmp_path):
    sim_url, service = money_path
    state = stack.up(catalog, tmp_path / "stack", stack.StackSpec([service], fast=True), progress=lambda *_: None)
    stop = threading.Event()
    load = threading.Thread(target=authorize_until, args=(f"http://{service}", SECRET.encode(), stop, 20.0),
                            daemon=True)
    load.start()
    admin = {"authorization": f"Bearer {issue(SECRET.encode(), 'ops', ['admin:faults'], ttl_s=3600)}"}
    alert = catalog.alert_name("ProviderPartialOutage")
    pager = f"{state.url('pager')}/pages"

    def pages(event):  # every record of that kind, as received: when the page (or resolve) arrived
        return [p for p in httpx.get(pager, params={"alertname": alert, "event": event}, timeout=5).json()
                if p["labels"].get("provider") == "globex"]

    try:
        prom = state.url("prometheus")
        auth = catalog.metric("authorizations_total")
        wait_for(lambda: httpx.get(f"{prom}/api/v1/query", params={"query": f"sum(rate({auth}[1m])) > 5"},
                                   timeout=5).json()["data"]["result"], 60, "steady traffic in Prometheus")
        fault_at = time.time()
        httpx.put(f"{sim_url}/admin/faults/error_rate", json={"provider": "globex", "rate": 1.0}, headers=admin,
                  timeout=5).raise_for_status()
        fired = wait_for(lambda: pages("firing"), 240, f"{alert} for globex", interval_s=1)
        page_after = min(p["received_at"] for p in fired) - fault_at
        assert {p["receiver"] for p in fired} == {catalog.routes.page}
        assert all(p["labels"]["severity"] == "page" for p in fired)

        clear_at = time.time()
        httpx.delete(f"{sim_url}/admin/faults/error_rate", headers=admin, timeout=5).raise_for_status()
        resolved = wait_for(lambda: [p for p in pages("resolved") if p["labels"].get("reason") == "circuit_open"],
                            120, "the circuit-open page to resolve", interval_s=1)
        resolve_after = min(p["received_at"] for p in resolved) - clear_at
        alert_for = 120  # the catalog's for: 2m
        floor = 1 + 1 + alert_for + 1
        print(f"\nfault → page {page_after:.1f} s (floor {floor} s = scrape 1 + eval 1 + for {alert_for} + group_wait 1; "
              f"{page_after / floor:.2f}x); clear → resolve {resolve_after:.1f} s")
    finally:
        stop.set()
        load.join(timeout=15)
        stack.down(tmp_path / "stack", progress=lambda *_: None)
