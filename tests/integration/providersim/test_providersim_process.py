"""`python -m moneypath.reference.providersim` as a real process on a loopback port: authorize and
capture with acme, flush settlements over HTTP with an admin token, read the CSV; the same for a
foreign catalog's komoju (JPY) with a fault on its knet, and the one-line errors of bad input."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import httpx
import pytest

from moneypath.protocol.tokens import issue
from tests.conftest import FOREIGN_PATH, ROOT, free_port, http_ok, stop_process, wait_for

TOKEN_SECRET = "integration-token-secret"
ENV = {"MONEYPATH_WEBHOOK_SECRET": "integration-webhook-secret", "MONEYPATH_TOKEN_SECRET": TOKEN_SECRET,
       "PYTHONPATH": str(ROOT / "src")}


def start(tmp_path, *options: str):
    """Start the simulator; yield (base URL, settlement dir) and stop it afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MONEYPATH_CATALOG"} | ENV
    proc = subprocess.Popen([sys.executable, "-m", "moneypath.reference.providersim", "--port", str(port),
                             "--settlement-dir", str(tmp_path / "settlements"), "--latency-scale", "0.1",
                             "--seed", "11", *options], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is not None or http_ok(f"{url}/healthz"), 30, "the simulator to start")
        assert proc.poll() is None, f"the simulator exited with {proc.returncode}"
        yield url, tmp_path / "settlements"
    finally:
        stop_process(proc, 15)


@pytest.fixture
def simulator(tmp_path):
    yield from start(tmp_path)


@pytest.fixture
def foreign_simulator(tmp_path):
    yield from start(tmp_path, "--catalog", str(FOREIGN_PATH.relative_to(ROOT)), "--enable-faults")


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


def test_a_foreign_catalogs_providers_over_http(foreign_simulator):
    url, settlement_dir = foreign_simulator
    admin = {"authorization": f"Bearer {issue(TOKEN_SECRET.encode(), 'integration', ['admin:faults'], ttl_s=60)}"}
    with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
        health = client.get("/healthz").json()
        assert health["styles"] == {"komoju": "flat", "knet": "nested"} and health["currencies"] == {"JPY": 0, "KWD": 3}
        for i in range(30):
            auth = client.post("/komoju/v1/authorizations", json={
                "amount_minor": 6235, "currency": "JPY", "reference": f"tix-{i}", "idempotency_key": f"auth-{i}"})
            assert auth.status_code == 201, auth.text
            if auth.json()["status"] == "APPROVED":
                break
        ref = auth.json()["id"]
        assert client.post(f"/komoju/v1/authorizations/{ref}/capture",
                           json={"idempotency_key": f"cap-{i}"}).json() == {"id": ref, "status": "CAPTURED"}

        unknown = client.post("/acme/v1/authorizations", json={})
        assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem+json")
        assert "komoju, knet" in unknown.json()["detail"]

        fault = client.put("/admin/faults/error_rate", json={"provider": "knet", "rate": 1}, headers=admin)
        assert fault.status_code == 200, fault.text
        down = client.post("/knet/api/charges", json={"amount": {"value": 6235, "currency": "KWD"},
                                                      "merchant_ref": "tix-k", "request_id": "k-1"})
        assert down.status_code == 503
        flushed = client.post("/admin/settlements/flush", headers=admin).json()

    assert flushed["lines"] == 1 and flushed["files"][0].startswith("komoju-")
    with (settlement_dir / flushed["files"][0]).open(newline="") as f:
        assert [(r["provider_ref"], r["amount_minor"], r["currency"]) for r in csv.DictReader(f)] == [
            (ref, "6235", "JPY")]


@pytest.mark.parametrize(("options", "words"), [
    (["--catalog", "tests/foreign/moneypath.yaml", "--style", "kmoju=nested"], "did you mean komoju?"),
    (["--catalog", "no/such/moneypath.yaml"], "no/such/moneypath.yaml: file not found"),
])
def test_bad_input_is_one_line_and_exit_2(options, words):
    env = {k: v for k, v in os.environ.items() if k != "MONEYPATH_CATALOG"} | ENV
    done = subprocess.run([sys.executable, "-m", "moneypath.reference.providersim", "--port", str(free_port()),
                           *options], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
