"""`python -m moneypath.reference.providersim` as a real process on a loopback port: authorize and
capture with acme, flush settlements over HTTP with an admin token, read the CSV."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import httpx
import pytest

from moneypath._common.tokens import issue
from tests.conftest import ROOT, free_port, http_ok, stop_process, wait_for

TOKEN_SECRET = "integration-token-secret"


@pytest.fixture
def simulator(tmp_path):
    port = free_port()
    env = {**os.environ, "MONEYPATH_WEBHOOK_SECRET": "integration-webhook-secret",
           "MONEYPATH_TOKEN_SECRET": TOKEN_SECRET, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "moneypath.reference.providersim", "--port", str(port),
                             "--settlement-dir", str(tmp_path / "settlements"), "--latency-scale", "0.1",
                             "--seed", "11"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is not None or http_ok(f"{url}/healthz"), 30, "the simulator to start")
        assert proc.poll() is None, f"the simulator exited with {proc.returncode}"
        yield url, tmp_path / "settlements"
    finally:
        stop_process(proc, 15)


def test_authorize_capture_and_settle_over_http(simulator):
    url, settlement_dir = simulator
    with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
        for i in range(30):
            auth = client.post("/acme/v1/authorizations", json={
                "amount_minor": 1999, "currency": "EUR", "reference": f"order-{i}", "idempotency_key": f"auth-{i}"})
            assert auth.status_code == 201, auth.text
            if auth.json()["status"] == "APPROVED":
                break
        ref, reference = auth.json()["id"], f"order-{i}"
        captured = client.post(f"/acme/v1/authorizations/{ref}/capture", json={"idempotency_key": f"cap-{i}"})
        assert captured.json() == {"id": ref, "status": "CAPTURED"}

        assert client.post("/admin/settlements/flush").status_code == 401
        token = issue(TOKEN_SECRET.encode(), "integration", ["admin:faults"], ttl_s=60)
        flushed = client.post("/admin/settlements/flush", headers={"authorization": f"Bearer {token}"})
        assert flushed.status_code == 200, flushed.text
        # Faults were not enabled on the command line.
        assert client.get("/admin/faults", headers={"authorization": f"Bearer {token}"}).status_code == 403

    result = flushed.json()
    assert result["lines"] == 1 and len(result["files"]) == 1 and result["files"][0].startswith("acme-")
    assert [p.name for p in settlement_dir.iterdir()] == result["files"]
    with (settlement_dir / result["files"][0]).open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["provider_ref"], r["reference"], r["amount_minor"], r["currency"], r["status"]) for r in rows] == [
        (ref, reference, "1999", "EUR", "SETTLED")]


def test_missing_secret_is_a_one_line_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYPATH_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run([sys.executable, "-m", "moneypath.reference.providersim", "--port", str(free_port())],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "MONEYPATH_WEBHOOK_SECRET" in done.stderr
