"""`python -m moneypath.reference.refservice --workers 2`: both processes serve one port and one SQLite
ledger, every acknowledged payment is booked once, and /metrics adds up both workers (on the API port, and on
--metrics-port, served by the parent process)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from moneypath.protocol.tokens import issue
from tests.conftest import CATALOG_PATH, ROOT, free_port, http_ok, wait_for
from tests.support.reference_processes import start

pytestmark = pytest.mark.integration
SECRET = "workers-secret"


def test_two_workers_share_the_port_and_the_ledger_and_metrics_add_up(tmp_path, catalog):
    sim_port, svc_port, metrics_port = free_port(), free_port(), free_port()
    mp_dir = tmp_path / "metrics-mp"
    env = {"MONEYPATH_TOKEN_SECRET": SECRET, "MONEYPATH_WEBHOOK_SECRET": "hooks", "MONEYPATH_CATALOG": str(CATALOG_PATH),
           "MONEYPATH_DB_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
           "MONEYPATH_PROVIDER_URL": f"http://127.0.0.1:{sim_port}", "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    mp_dir.mkdir()
    (mp_dir / "counter_999999.db").write_bytes(b"stale")  # from an earlier run: must be wiped at start
    procs = [start("moneypath.reference.providersim", sim_port, env, "--latency-scale", "0",
                   "--settlement-dir", str(tmp_path / "settlements")),
             start("moneypath.reference.refservice", svc_port, env, "--workers", "2", "--metrics-port",
                   str(metrics_port))]
    base = f"http://127.0.0.1:{svc_port}"
    headers = {"authorization": f"Bearer {issue(SECRET.encode(), 'merchant_1', ['payments:write'], 3600)}"}
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{sim_port}/healthz"), 30, "the provider simulator")
        wait_for(lambda: http_ok(f"{base}/healthz"), 60, "the reference service")

        def client(n: int) -> list[str]:
            ids = []
            for i in range(25):
                with httpx.Client(base_url=base, timeout=10, headers=headers) as c:  # a fresh connection each time
                    r = c.post("/v1/payments/authorize", headers={"idempotency-key": uuid.uuid4().hex},
                               json={"amount_minor": 100 + i, "currency": "EUR", "provider": ("acme", "globex")[i % 2],
                                     "reference": f"w-{n}-{i}"})
                    assert r.status_code == 201, r.text
                    ids.append(r.json()["id"])
            return ids

        with ThreadPoolExecutor(8) as pool:
            ids = [i for batch in pool.map(client, range(8)) for i in batch]
        assert len(set(ids)) == 200

        writers = {name.rsplit("_", 1)[1] for name in os.listdir(mp_dir) if name.startswith("counter_")}
        assert "999999.db" not in writers and len(writers) == 2, f"expected both workers to serve: {writers}"
        for url in (f"{base}/metrics", f"http://127.0.0.1:{metrics_port}/metrics"):
            text = httpx.get(url, timeout=10).text
            served = sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                         if s.name == catalog.metric("http_requests_total")
                         and s.labels.get("route") == "/v1/payments/authorize")
            assert served == 200, url
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        rows = conn.execute("SELECT id FROM payments").fetchall()
        completed = conn.execute("SELECT count(*) FROM idempotency_keys WHERE state = 'completed'").fetchone()[0]
    assert sorted(r[0] for r in rows) == sorted(ids) and completed == 200


def test_workers_out_of_range_is_one_line_and_exit_2():
    env = {**os.environ, "MONEYPATH_TOKEN_SECRET": SECRET}
    done = subprocess.run([sys.executable, "-m", "moneypath.reference.refservice", "--workers", "0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--workers 0" in done.stderr
