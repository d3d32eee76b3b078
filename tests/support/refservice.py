"""The reference service in process for tests, its provider simulator behind an ASGI transport: the tokens it
takes, calls through its API, the `world` fixture (every optional domain on; tests/unit and tests/integration
refservice conftest.py offer it) and the metrics it records."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry

from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.protocol.tokens import issue
from moneypath.reference.providersim.simulator_app import SimConfig
from moneypath.reference.providersim.simulator_app import create_app as create_sim
from moneypath.reference.refservice.app import ServiceConfig, create_app
from moneypath.reference.refservice.risk import RiskPolicy
from moneypath.reference.signing import secrets_by_provider

SECRET = b"flow-secret"
WRITE = {"authorization": f"Bearer {issue(SECRET, 'merchant_1', ['payments:write', 'payments:read'], ttl_s=3600)}"}
ADMIN = {"authorization": f"Bearer {issue(SECRET, 'ops', ['admin:faults'], ttl_s=3600)}"}


async def client_for(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc", timeout=30)


def sample(mp, name, **labels):
    return mp.registry.get_sample_value(name, labels) or 0


def set_fault(sim, name, params):
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://sim") as c:
            r = await c.put(f"/admin/faults/{name}", json=params, headers=ADMIN)
            assert r.status_code in (200, 201, 204), r.text
    asyncio.run(go())


ACME_HOOK = secrets_by_provider(["acme"], b"hook", {})["acme"]  # what acme signs with when the service has b"hook"


@pytest.fixture
def world(catalog, tmp_path):
    settlements = tmp_path / "settlements"
    sim = create_sim(SimConfig(settlement_dir=settlements, webhook_url=None, webhook_secret=b"w",
                               token_secret=SECRET, enable_faults=True, latency_scale=0))
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    config = ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=SECRET, provider_url="http://sim",
                           provider_timeout_s=0.5, enable_faults=True, settlement_dir=str(settlements),
                           reconcile_grace_s=10, missing_after_s=600, outbox_max_attempts=3,
                           risk=RiskPolicy(timeout_s=0.05, fallback="allow", allow_limit_minor=5000),
                           background_jobs=False, webhook_secret=b"hook")
    app = create_app(config, mp=mp, provider_transport=httpx.ASGITransport(app=sim))
    for adapter in app.state.adapters.values():
        adapter.retry = type(adapter.retry)(max_attempts=3, base_s=0.001, cap_s=0.002)
    return app, sim, mp


def call(app, method, path, key=None, json=None, headers=WRITE):
    async def go():
        async with await client_for(app) as c:
            extra = {"idempotency-key": key} if key else {}
            return await c.request(method, path, json=json, headers={**headers, **extra})
    return asyncio.run(go())


def authorize(app, key, amount=2000, provider="acme", reference=None, currency="EUR"):
    return call(app, "POST", "/v1/payments/authorize", key, {"amount_minor": amount, "currency": currency,
                                                             "provider": provider, "reference": reference or key})


def captured_payment(app, key, **kw) -> dict:
    """Authorize and capture; retries with fresh references until the seeded provider approves."""
    for attempt in range(10):
        auth = authorize(app, f"{key}-{attempt}", **kw)
        assert auth.status_code == 201, auth.text
        if auth.json()["state"] == "authorized":
            cap = call(app, "POST", f"/v1/payments/{auth.json()['id']}/capture", f"{key}-cap-{attempt}")
            assert cap.status_code == 200, cap.text
            return cap.json()
    raise AssertionError("the simulator declined ten payments in a row")


def flush(sim):
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://sim") as c:
            r = await c.post("/admin/settlements/flush", headers=ADMIN)
            assert r.status_code == 200, r.text
    asyncio.run(go())


def authorized_payment(app, key) -> dict:
    for i in range(10):
        auth = authorize(app, f"{key}-{i}").json()
        if auth["state"] == "authorized":
            return auth
    raise AssertionError("the simulator declined ten payments in a row")


def capture_event(auth: dict) -> bytes:
    import json as jsonlib
    return jsonlib.dumps({"provider": "acme", "event": "capture.settled", "provider_ref": auth["provider_ref"],
                          "reference": auth["reference"], "amount_minor": auth["amount_minor"],
                          "currency": auth["currency"], "status": "CAPTURED", "occurred_at": time.time()}).encode()


def post_raw(app, path, body: bytes, headers: dict):
    async def go():
        async with await client_for(app) as c:
            return await c.post(path, content=body, headers=headers)
    return asyncio.run(go())
