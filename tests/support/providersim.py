"""The provider simulator in process for tests: an app on a temporary directory, a scenario run against it, the
calls each provider takes, and a signed-webhook receiver (the `server` and `receiver` fixtures; each room's
conftest.py offers them)."""

from __future__ import annotations

import asyncio
import csv
import json
import threading

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from moneypath.protocol.tokens import issue
from moneypath.reference.providersim import SimConfig, create_app
from moneypath.reference.signing import HEADER, WebhookSignatureError, WebhookVerifier, secrets_by_provider
from tests.conftest import free_port, wait_for

WEBHOOK_SECRET = b"webhook-secret"
TOKEN_SECRET = b"token-secret"
PROBLEM = "application/problem+json"


def admin_headers(scopes=("admin:faults",), secret=TOKEN_SECRET, **kw) -> dict:
    return {"authorization": f"Bearer {issue(secret, 'ops', list(scopes), **kw)}"}


class Receiver:
    """Records webhooks whose signatures verify; can fail or stall on request."""

    def __init__(self):
        self.lock = threading.Lock()
        self.url = ""
        self.reset()

    def reset(self):
        with self.lock:
            self.verifiers = {}  # provider → WebhookVerifier with the secret that provider signs with
            self.events: list[tuple[str, dict, bytes, str]] = []  # provider, event, raw body, signature header
            self.rejected: list[str] = []
            self.attempts, self.fail_next, self.delay_s = 0, 0, 0.0

    async def hook(self, request: Request):
        body = await request.body()
        with self.lock:
            self.attempts += 1
            delay_s = self.delay_s
            if self.fail_next:
                self.fail_next -= 1
                return Response(status_code=500)
        await asyncio.sleep(delay_s)
        header = request.headers.get(HEADER)
        try:
            provider = request.path_params["provider"]
            with self.lock:
                verifier = self.verifiers.setdefault(provider, WebhookVerifier(
                    secrets_by_provider([provider], WEBHOOK_SECRET, {})[provider]))
            verifier.verify(header, body)
        except WebhookSignatureError as exc:
            with self.lock:
                self.rejected.append(exc.kind)
            return Response(status_code=401)
        with self.lock:
            self.events.append((request.path_params["provider"], json.loads(body), body, header))
        return JSONResponse({"ok": True})


@pytest.fixture(scope="module")
def server():
    receiver, port = Receiver(), free_port()
    app = Starlette(routes=[Route("/hooks/{provider}", receiver.hook, methods=["POST"])])
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                                        lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: srv.started, 10, "the webhook receiver", interval_s=0.02)
        receiver.url = f"http://127.0.0.1:{port}/hooks"
        yield receiver
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture
def receiver(server):
    server.reset()
    return server


def make_app(tmp_path, receiver=None, **kw):
    return create_app(SimConfig(tmp_path / "settlements", receiver.url if receiver else None, WEBHOOK_SECRET,
                                TOKEN_SECRET, latency_scale=kw.pop("latency_scale", 0), **kw))


def run(app, scenario):
    """Run `scenario(client)` against the app, then wait (bounded) for webhooks in flight."""
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
            result = await scenario(client)
            assert await app.state.webhooks.drain(10) == 0
            return result
    return asyncio.run(go())


async def acme_authorize(c, key, amount=1250, currency="USD"):
    return await c.post("/acme/v1/authorizations", json={"amount_minor": amount, "currency": currency,
                                                         "reference": f"ord-{key}", "idempotency_key": key})


async def globex_charge(c, key, amount=4200, currency="EUR"):
    return await c.post("/globex/api/charges", json={"amount": {"value": amount, "currency": currency},
                                                     "merchant_ref": f"ord-{key}", "request_id": key})


async def approved(c, provider, prefix):
    """An approved authorization's id (declines are seeded, so skip past them)."""
    for i in range(30):
        if provider == "acme":
            body = (await acme_authorize(c, f"{prefix}-{i}")).json()
            if body["status"] == "APPROVED":
                return body["id"]
        else:
            charge = (await globex_charge(c, f"{prefix}-{i}")).json()["charge"]
            if charge["result"] == "OK":
                return charge["token"]
    raise AssertionError("no approval in 30 tries")


async def capture(c, provider, ref, key):
    if provider == "acme":
        return await c.post(f"/acme/v1/authorizations/{ref}/capture", json={"idempotency_key": key})
    return await c.post(f"/globex/api/charges/{ref}/settle", json={"request_id": key})


async def set_fault(c, name, **params):
    r = await c.put(f"/admin/faults/{name}", json=params, headers=admin_headers())
    assert r.status_code == 200, r.text
    return r.json()


async def clear_fault(c, name):
    r = await c.delete(f"/admin/faults/{name}", headers=admin_headers())
    assert r.status_code == 200, r.text
    return r.json()


async def flush(c):
    r = await c.post("/admin/settlements/flush", headers=admin_headers())
    assert r.status_code == 200, r.text
    return r.json()


def settlement_rows(tmp_path, names):
    rows = []
    for name in names:
        with (tmp_path / "settlements" / name).open(newline="") as f:
            reader = csv.DictReader(f)
            assert tuple(reader.fieldnames) == ("provider_ref", "reference", "amount_minor", "currency", "status",
                                                "settled_at")
            rows.extend(reader)
    return rows


def assert_problem(response, status, field=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("https://")
    assert "Traceback" not in response.text
    if field is not None:
        assert body["field"] == field and field in body["detail"]
    return body
