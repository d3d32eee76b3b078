"""`python -m moneypath.reference.refservice --metrics-port N`: /metrics from a thread with its own HTTP server, answered
while the event loop is held (what `moneypath up` scrapes, so an overloaded service is still seen), without `_created`
series; /metrics on the API port stays; a bad --metrics-port is one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from moneypath.protocol.tokens import issue
from tests.conftest import CATALOG_PATH, ROOT, free_port, http_ok, wait_for
from tests.support.reference_processes import start

pytestmark = pytest.mark.integration
SECRET = "metrics-port-secret"
HELD_MS = 250  # the request_cost fault: each admitted API request holds the loop this long
READS = 12     # requests holding it together: ~3 s of loop held


def test_the_metrics_port_answers_while_the_loop_is_held(tmp_path, catalog):
    port, metrics_port = free_port(), free_port()
    env = {"MONEYPATH_TOKEN_SECRET": SECRET, "MONEYPATH_CATALOG": str(CATALOG_PATH), "MONEYPATH_ENABLE_FAULTS": "1",
           "MONEYPATH_DB_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    proc = start("moneypath.reference.refservice", port, env, "--metrics-port", str(metrics_port))
    base = f"http://127.0.0.1:{port}"
    token = issue(SECRET.encode(), "ops", ["admin:faults", "payments:read"], 600)
    headers = {"authorization": f"Bearer {token}"}
    try:
        wait_for(lambda: http_ok(f"{base}/healthz"), 60, "the reference service")
        httpx.put(f"{base}/admin/faults/request_cost", json={"extra_ms": HELD_MS}, headers=headers,
                  timeout=5).raise_for_status()
        statuses: list[int] = []

        def read(i: int) -> None:
            r = httpx.get(f"{base}/v1/payments/pay_{i}", headers=headers, timeout=30)
            statuses.append(r.status_code)

        readers = [threading.Thread(target=read, args=(i,)) for i in range(READS)]
        held_from = time.monotonic()
        for t in readers:
            t.start()
        time.sleep(0.5)  # the reads are in; the loop sleeps HELD_MS for each in turn
        asked = time.monotonic()
        scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        scraped_in = time.monotonic() - asked
        for t in readers:
            t.join()
        held = time.monotonic() - held_from
        admitted = sum(1 for s in statuses if s != 503)
        # The loop was held for the scrape's whole duration (admitted reads x HELD_MS after it), yet it answered.
        assert admitted * HELD_MS / 1000 > 1.5 and held > 1.5, (statuses, held)
        assert scrape.status_code == 200 and scraped_in < 0.5, (scraped_in, held)
        families = list(text_string_to_metric_families(scrape.text))
        assert catalog.metric("http_requests_total").removesuffix("_total") in {f.name for f in families}
        # Counters and histograms without their `_created` series (a third of the lines to render each scrape).
        created = [f.name for f in families if any(s.name.endswith("_created") for s in f.samples)]
        assert not created, created
        httpx.delete(f"{base}/admin/faults/request_cost", headers=headers, timeout=30).raise_for_status()
        # Both ports serve the same registry: the API port's /metrics stays.
        api = httpx.get(f"{base}/metrics", timeout=10)
        assert api.status_code == 200 and catalog.metric("http_requests_total") in api.text
        print(f"\nscrape on the metrics port in {scraped_in * 1000:.0f} ms while the loop was held {held:.1f} s "
              f"({admitted} of {READS} reads admitted)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("args", [["--port", "8123", "--metrics-port", "8123"], ["--metrics-port", "0"]])
def test_a_bad_metrics_port_is_one_line_and_exit_2(args):
    env = {**os.environ, "MONEYPATH_TOKEN_SECRET": SECRET}
    done = subprocess.run([sys.executable, "-m", "moneypath.reference.refservice", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--metrics-port" in done.stderr, done.stderr
