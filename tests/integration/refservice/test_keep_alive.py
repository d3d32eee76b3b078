"""`python -m moneypath.reference.refservice` keeps an idle connection open past uvicorn's 5 s: a client pool that
reuses a connection after 6 s idle gets its answer, not a reset (bench_overload's recovery: resets at uvicorn's 5 s)."""

from __future__ import annotations

import http.client
import time

import pytest

from tests.conftest import CATALOG_PATH, free_port, http_ok, wait_for
from tests.support.reference_processes import start

pytestmark = pytest.mark.integration


def test_an_idle_connection_is_still_served_after_six_seconds(tmp_path):
    port = free_port()
    env = {"MONEYPATH_TOKEN_SECRET": "keep-alive-secret", "MONEYPATH_CATALOG": str(CATALOG_PATH),
           "MONEYPATH_DB_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    proc = start("moneypath.reference.refservice", port, env)
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), 60, "the reference service")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/healthz")
        first = conn.getresponse()
        assert first.status == 200 and first.read()
        sock = conn.sock
        time.sleep(6)  # uvicorn's default closes an idle connection after 5
        conn.request("GET", "/healthz")  # http.client does not reconnect: a closed socket fails here or below
        again = conn.getresponse()
        assert again.status == 200 and again.read() and conn.sock is sock
        conn.close()
    finally:
        proc.terminate()
        proc.wait(10)
