"""kill -9 of the reference service under load, then a restart on the same database: nothing
that was acknowledged is lost, every acknowledged capture has its postings, the ledger
balances, and a client retrying an unanswered request with its key gets a clean answer."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid

import httpx
import pytest

from moneypath.protocol.tokens import issue
from tests.conftest import CATALOG_PATH, ROOT, free_port, http_ok, wait_for
from tests.docs_examples import code_block, env_of, fill, shell, substitute
from tests.support.reference_processes import start

pytestmark = pytest.mark.integration
SECRET = "crash-secret"


def start_service(port: int, env: dict) -> subprocess.Popen:
    """docs/reference-service.md's command, on this interpreter and a free port; the secret and the rest in env."""
    [line] = shell(code_block("docs/reference-service.md", "Running it", "sh"))
    assert env_of(line) == {"MONEYPATH_TOKEN_SECRET": "…"}
    argv = fill(substitute(line[1:], {".venv/bin/python": sys.executable}), port=str(port))
    return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)})


def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path):
    sim_port, svc_port = free_port(), free_port()
    db = tmp_path / "ledger.db"
    env = {"MONEYPATH_TOKEN_SECRET": SECRET, "MONEYPATH_WEBHOOK_SECRET": "hooks", "MONEYPATH_CATALOG": str(CATALOG_PATH),
           "MONEYPATH_DB_URL": f"sqlite:///{db}",
           "MONEYPATH_PROVIDER_URL": f"http://127.0.0.1:{sim_port}"}
    sim = start("moneypath.reference.providersim", sim_port, env, "--latency-scale", "0.05",
                "--settlement-dir", str(tmp_path / "settlements"))
    service = start_service(svc_port, env)
    procs = [sim, service]
    headers = {"authorization": f"Bearer {issue(SECRET.encode(), 'merchant_1', ['payments:write', 'payments:read'], 3600)}"}
    acknowledged: list[tuple[str, str]] = []  # (operation, payment id)
    unanswered: list[tuple[str, dict]] = []  # (idempotency key, body) of authorizations cut off by the crash
    lock, stop = threading.Lock(), threading.Event()

    def client_loop(n: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{svc_port}", timeout=5, headers=headers) as c:
            i = 0
            while not stop.is_set():
                i += 1
                key = uuid.uuid4().hex
                body = {"amount_minor": 1000 + i, "currency": "EUR", "provider": ("acme", "globex")[i % 2],
                        "reference": f"crash-{n}-{i}"}
                try:
                    auth = c.post("/v1/payments/authorize", json=body, headers={"idempotency-key": key})
                except httpx.TransportError:
                    with lock:
                        unanswered.append((key, body))
                    return
                if auth.status_code != 201:
                    continue
                payment = auth.json()
                with lock:
                    acknowledged.append(("authorize", payment["id"]))
                if payment["state"] != "authorized":
                    continue
                try:
                    cap = c.post(f"/v1/payments/{payment['id']}/capture", headers={"idempotency-key": f"c-{key}"})
                except httpx.TransportError:
                    return
                if cap.status_code == 200:
                    with lock:
                        acknowledged.append(("capture", payment["id"]))

    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{sim_port}/healthz"), 30, "the provider simulator")
        wait_for(lambda: http_ok(f"http://127.0.0.1:{svc_port}/healthz"), 30, "the reference service")
        threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: sum(op == "capture" for op, _ in acknowledged) >= 40, 60, "captures under load", 0.05)
        os.kill(service.pid, signal.SIGKILL)  # mid-flight: no shutdown hook runs
        service.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        assert acknowledged, "no request was acknowledged before the crash"
        print(f"crash: {len(acknowledged)} acknowledged, {len(unanswered)} authorizations cut off")

        service = start_service(svc_port, env)
        procs[1] = service
        wait_for(lambda: http_ok(f"http://127.0.0.1:{svc_port}/healthz"), 30, "the restarted service")

        with httpx.Client(base_url=f"http://127.0.0.1:{svc_port}", timeout=10, headers=headers) as c:
            for operation, payment_id in acknowledged:
                found = c.get(f"/v1/payments/{payment_id}")
                assert found.status_code == 200, f"acknowledged {operation} of {payment_id} was lost"
                if operation == "capture":
                    assert found.json()["state"] == "captured"
            # A request the crash cut off is answered on retry with its key: done once, or still locked (409)
            # until the claim's TTL, never a 5xx and never a second effect.
            for key, body in unanswered:
                retry = c.post("/v1/payments/authorize", json=body, headers={"idempotency-key": key})
                assert retry.status_code in (201, 409), retry.text

        conn = sqlite3.connect(db)
        try:
            captured = {pid for op, pid in acknowledged if op == "capture"}
            rows = conn.execute("SELECT payment_id FROM ledger_transactions WHERE kind = 'capture'").fetchall()
            booked = [pid for (pid,) in rows]
            assert captured <= set(booked), "an acknowledged capture has no postings"
            assert len(booked) == len(set(booked)), "a capture was booked twice"
            sums = conn.execute("SELECT currency, SUM(amount_minor) FROM ledger_postings GROUP BY currency").fetchall()
            assert all(total == 0 for _, total in sums), sums
        finally:
            conn.close()
    finally:
        stop.set()
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except Exception:
                    p.kill()
