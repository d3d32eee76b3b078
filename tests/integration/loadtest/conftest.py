"""What the load-test integration modules share: the catalog (the shipped one with a latency SLO threshold of 1 s
instead of 300 ms, see test_session.py) and the reference service each module loads (`money_path`, one per module
that asks for it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from moneypath.protocol.tokens import issue
from moneypath.stack import local as stack
from tests.conftest import CATALOG_PATH, ROOT, free_port, http_ok, wait_for
from tests.integration.loadtest.helpers import LATENCY_SLO, SECRET, THRESHOLD_MS


@pytest.fixture(scope="module")
def gate_catalog(tmp_path_factory) -> Path:
    text = CATALOG_PATH.read_text()
    assert LATENCY_SLO in text, "the catalog's latency SLO changed: update this test"
    path = tmp_path_factory.mktemp("catalog") / "moneypath.yaml"
    path.write_text(text.replace(LATENCY_SLO, LATENCY_SLO.replace("0.3", str(THRESHOLD_MS / 1000))))
    return path


def _start(module: str, port: int, env: dict, log: Path, *args: str) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", module, "--port", str(port), *args], cwd=ROOT,
                                env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def money_path(tmp_path_factory, catalog, gate_catalog):
    """Simulator (latency x0.1, faults on, settlements every 2 s) + service (reconciling every
    second) + a stack without services whose Prometheus scrapes the service."""
    tmp = tmp_path_factory.mktemp("loadtest")
    sim_port, svc_port = free_port(), free_port()
    env = {"MONEYPATH_TOKEN_SECRET": SECRET, "MONEYPATH_WEBHOOK_SECRET": "hooks", "MONEYPATH_CATALOG": str(CATALOG_PATH),
           "MONEYPATH_DB_URL": f"sqlite:///{tmp / 'ledger.db'}", "MONEYPATH_PROVIDER_URL": f"http://127.0.0.1:{sim_port}",
           "MONEYPATH_SETTLEMENT_DIR": str(tmp / "settlements"), "MONEYPATH_RECONCILE_INTERVAL_S": "1",
           "MONEYPATH_RECONCILE_GRACE_S": "5", "MONEYPATH_MISSING_AFTER_S": "30", "MONEYPATH_ENABLE_FAULTS": "1"}
    procs = [_start("moneypath.reference.providersim", sim_port, env, tmp / "sim.log", "--enable-faults",
                    "--latency-scale", "0.1",
                    "--settlement-dir", str(tmp / "settlements"), "--settlement-interval", "2",
                    "--webhook-url", f"http://127.0.0.1:{svc_port}/v1/webhooks"),
             _start("moneypath.reference.refservice", svc_port, env, tmp / "service.log")]
    state_dir = tmp / "stack"
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{sim_port}/healthz"), 30, "the provider simulator")
        wait_for(lambda: http_ok(f"http://127.0.0.1:{svc_port}/healthz"), 30, "the reference service")
        state = stack.up(catalog, state_dir, stack.StackSpec([f"127.0.0.1:{svc_port}"], fast=True),
                         progress=lambda *_: None)
        warm_up(f"http://127.0.0.1:{svc_port}")
        yield {"catalog": gate_catalog, "host": f"http://127.0.0.1:{svc_port}", "sim": f"http://127.0.0.1:{sim_port}",
               "prometheus": state.url("prometheus"), "state_dir": state_dir, "db": tmp / "ledger.db", "tmp": tmp}
    finally:
        stack.down(state_dir, progress=lambda *_: None)
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


@pytest.fixture
def secret_env(monkeypatch):
    """Tokens minted from the module service's secret; none given by the environment."""
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", SECRET)
    for name in ("MONEYPATH_TOKEN", "MONEYPATH_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def warm_up(service: str) -> None:
    """A few payments first: the first requests of a fresh service pay for imports and caches."""
    token = issue(SECRET.encode(), "warm_up", ["payments:write"], ttl_s=600)
    with httpx.Client(base_url=service, timeout=10) as client:
        for i in range(10):
            client.post("/v1/payments/authorize", json={"amount_minor": 1000, "currency": "EUR",
                                                        "provider": ("acme", "globex")[i % 2], "reference": f"w{i}"},
                        headers={"authorization": f"Bearer {token}", "idempotency-key": f"warm-up-{i}"})
