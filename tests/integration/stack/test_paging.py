"""The paging path for real: an instrumented service → Prometheus (1 s scrape and rule
evaluation) → Alertmanager → `moneypath pager`. A ledger imbalance pages on-call and
compliance, and both get the resolve once it is cleared."""

from __future__ import annotations

import time

import httpx
import pytest

from moneypath.stack import local as stack
from tests.conftest import wait_for


@pytest.fixture
def running_stack(catalog, service, tmp_path):
    state = stack.up(catalog, tmp_path / "stack", stack.StackSpec([service[0]], fast=True), progress=lambda *_: None)
    try:
        yield state, service[1]
    finally:
        stack.down(tmp_path / "stack", progress=lambda *_: None)


def pages(state, **filters):
    return httpx.get(f"{state.url('pager')}/pages", params=filters, timeout=5).json()


def test_ledger_imbalance_pages_oncall_and_compliance_then_resolves(catalog, running_stack):
    state, service_url = running_stack
    prom = state.url("prometheus")
    wait_for(lambda: httpx.get(f"{prom}/api/v1/query", params={"query": "up"}, timeout=5).json()["data"]["result"],
             30, "the first scrape")
    alert = catalog.alert_name("LedgerImbalance")
    receivers = set(catalog.routes.money_loss)

    fault_at = time.time()
    httpx.post(f"{service_url}/imbalance", params={"minor": 250}, timeout=5).raise_for_status()
    fired = wait_for(lambda: (r := pages(state, alertname=alert, event="firing"))
                     and {p["receiver"] for p in r} >= receivers and r, 60, f"{alert} to page {sorted(receivers)}")
    first = min(p["received_at"] for p in fired)
    page = fired[0]
    assert page["labels"]["currency"] == "EUR" and page["labels"]["severity"] == "page"
    assert page["annotations"]["runbook_url"] == catalog.runbook_url("LedgerImbalance")
    assert "sum to 250 minor units" in page["annotations"]["description"]

    clear_at = time.time()
    httpx.post(f"{service_url}/imbalance", params={"minor": 0}, timeout=5).raise_for_status()
    resolved = wait_for(lambda: (r := pages(state, alertname=alert, event="resolved"))
                        and {p["receiver"] for p in r} >= receivers and r, 60, f"{alert} to resolve")
    floor = 1 + 1 + 0 + 1  # scrape + evaluation + for + group_wait, seconds
    print(f"\nfault → page {first - fault_at:.1f} s (floor {floor} s, {(first - fault_at) / floor:.2f}x); "
          f"clear → resolve {min(p['received_at'] for p in resolved) - clear_at:.1f} s")
    unexpected = [p["alertname"] for p in pages(state, event="firing") if p["alertname"] != alert]
    assert unexpected == []
    assert [p for p in pages(state, alertname=alert, status="firing")] == []  # resolved: not firing now
