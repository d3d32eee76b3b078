"""Counters that are not data on the live map: a service under gunicorn with two workers and no multiprocess
directory (tests/integration/map/two_workers_app.py), scraped every second by the local stack's Prometheus while
payments arrive at 8 a second. Each scrape reads one worker's counters, so the rates Prometheus computes are
several times what was sent; `moneypath map --prometheus` used to draw that rate, green. Now the edge reads not
measured, the counter-reset check's reason as its why, and no rate beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from moneypath.catalog import load_catalog
from moneypath.map.graph import build_map
from moneypath.stack import local as stack
from moneypath.stack.spec import StackSpec
from tests.conftest import CATALOG_PATH, ROOT, free_port, run_cli, wait_for
from tests.foreign.harness import _pythonpath

pytestmark = pytest.mark.integration

RATE = 8.0  # payments a second
SECONDS = 10  # of payments before the map is read: a rate of its own to set beside what was sent


def send(url: str, stop: threading.Event, sent: list[int]) -> None:
    """POST /pay at RATE a second, each on a connection of its own (so the workers share them)."""
    while not stop.is_set():
        try:
            httpx.post(f"{url}/pay", timeout=2, headers={"connection": "close"})
            sent[0] += 1
        except httpx.HTTPError:
            pass
        stop.wait(1 / RATE)


def test_counters_from_workers_without_multiprocess_are_not_a_rate_on_the_map(tmp_path):
    catalog = load_catalog(CATALOG_PATH)
    customer = next(e for e in build_map([catalog]).edges if e.source == "payments/customer")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    app = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                            "tests.integration.map.two_workers_app:app"], cwd=ROOT,
                           env={**env, "PYTHONPATH": _pythonpath(), "MAP_CATALOG": str(CATALOG_PATH)},
                           stderr=open(tmp_path / "gunicorn.log", "wb"))
    stop, sent = threading.Event(), [0]
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: app.poll() is None and _answers(url), 20, "gunicorn to answer")
        state = stack.up(catalog, tmp_path / "stack", StackSpec(fast=True, targets=(f"127.0.0.1:{port}",)),
                         progress=lambda *_: None)
        started = time.monotonic()
        threading.Thread(target=send, args=(url, stop, sent), daemon=True).start()
        prom = state.url("prometheus")

        def not_data():
            result = run_cli("map", "--prometheus", prom, "--json", "--out", str(tmp_path / "map"))
            edge = json.loads(result.stdout)["edges"][customer.id]
            return (result.returncode, edge) if "so its rates are not data" in edge["why"] else None

        wait_for(lambda: time.monotonic() - started > SECONDS, SECONDS + 5, f"{SECONDS} s of payments")
        code, edge = wait_for(not_data, 30, "the customer's edge to read its counters as not data", interval_s=1)
        seconds = time.monotonic() - started
        counted = httpx.get(f"{prom}/api/v1/query", timeout=5, params={
            "query": f"sum(rate({catalog.metric('authorizations_total')}[{SECONDS}s]))"}).json()["data"]["result"]
        print(f"\nsent {sent[0] / seconds:.1f}/s; Prometheus's rate over {SECONDS} s: "
              f"{float(counted[0]['value'][1]):.1f}/s; the map: {edge['state']}: {edge['why']}")
        assert code == 3 and edge["state"] == "grey" and edge["outcome"] == "not measured"
        assert edge["figures"] == []  # no rate drawn: the counters are not data
        assert edge["why"].startswith(f"not measured: target 127.0.0.1:{port} (job {catalog.service}): ")
        assert edge["why"].endswith("several processes answer its scrapes in turn (workers without "
                                    "prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR), so its "
                                    "rates are not data")
    finally:
        stop.set()
        stack.down(tmp_path / "stack", progress=lambda *_: None)
        app.terminate()
        app.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/metrics", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
