"""Amount-limited operations hold their amount before the provider is asked: concurrent refunds and
captures never send the provider more than the payment allows, the losers get a 409 and no provider
call, and a failed call gives its amount back. Run on SQLite by tests/unit/refservice/test_refservice_reservations.py
and on PostgreSQL by tests/integration/refservice/test_refservice_reservations_postgresql.py (where the service
runs its transactions in 16 threads, so the row lock is what keeps them apart)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.protocol.tokens import issue
from moneypath.reference.providersim.simulator_app import SimConfig
from moneypath.reference.providersim.simulator_app import create_app as create_sim
from moneypath.reference.refservice.app import ServiceConfig, create_app
from moneypath.reference.refservice.db import payments, reservations

SECRET = b"reservations-secret"
WRITE = f"Bearer {issue(SECRET, 'merchant_1', ['payments:write', 'payments:read'], ttl_s=3 * 3600)}"
PROBLEM_BASE = "https://moneypath.dev/problems/"


class CountingTransport(httpx.AsyncBaseTransport):
    """The simulator behind a counter of the service's provider calls; can fail the next N of a kind."""

    def __init__(self, app):
        self.inner = httpx.ASGITransport(app=app)
        self.calls = {"authorize": 0, "capture": 0, "refund": 0}
        self.fail = {"refund": 0}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        kind = next((k for k in ("capture", "refund") if request.url.path.endswith(k)), "authorize")
        self.calls[kind] += 1
        if self.fail.get(kind):
            self.fail[kind] -= 1
            return httpx.Response(503, json={"title": "unavailable"})
        return await self.inner.handle_async_request(request)


@pytest.fixture
def service(ledger_url, catalog, tmp_path):
    # latency_scale: a provider call takes a few ms, so concurrent requests really overlap at the provider
    sim = create_sim(SimConfig(settlement_dir=tmp_path / "settlements", webhook_url=None, webhook_secret=b"w",
                               token_secret=SECRET, latency_scale=0.05))
    transport = CountingTransport(sim)
    app = create_app(ServiceConfig(db_url=ledger_url, token_secret=SECRET, provider_url="http://sim", background_jobs=False),
                     mp=MoneyPath(catalog, PrometheusBackend(CollectorRegistry())), provider_transport=transport)
    yield app, transport
    app.state.engine.dispose()


async def _post(client, path, key, json=None):
    return await client.post(path, json=json, headers={"authorization": WRITE, "idempotency-key": key})


def _run(app, scenario):
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            return await scenario(client)
    return asyncio.run(go())


async def _captured(client, amount: int) -> str:
    auth = await _post(client, "/v1/payments/authorize", "auth", {"amount_minor": amount, "currency": "EUR",
                                                                  "provider": "acme", "reference": "order-r"})
    assert auth.status_code == 201 and auth.json()["state"] == "authorized", auth.text
    pid = auth.json()["id"]
    assert (await _post(client, f"/v1/payments/{pid}/capture", "cap")).status_code == 200
    return pid


def _row(app, pid) -> dict:
    with app.state.engine.connect() as conn:
        return dict(conn.execute(select(payments).where(payments.c.id == pid)).mappings().one())


def _held(app) -> int:
    with app.state.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(reservations)).scalar_one()


def _server_errors(app) -> float:
    registry = app.state.mp.registry
    return sum(registry.get_sample_value("moneypath_http_requests_total",
                                         {"route": route, "method": "POST", "status_class": "5xx"}) or 0
               for route in ("/v1/payments/{payment_id}/refund", "/v1/payments/{payment_id}/capture"))


def test_concurrent_refunds_never_ask_the_provider_for_more_than_remains(service):
    app, transport = service

    async def scenario(client):
        pid = await _captured(client, 1000)
        assert (await _post(client, f"/v1/payments/{pid}/refund", "first", {"amount_minor": 100})).status_code == 200
        answers = await asyncio.gather(*(_post(client, f"/v1/payments/{pid}/refund", f"r{i}", {"amount_minor": 300})
                                         for i in range(10)))
        return pid, answers

    pid, answers = _run(app, scenario)
    assert sorted(a.status_code for a in answers) == [200] * 3 + [409] * 7, [a.text for a in answers]
    for lost in (a for a in answers if a.status_code == 409):
        assert lost.headers["content-type"] == "application/problem+json"
        assert lost.json()["type"] == PROBLEM_BASE + "payment-not-refundable"
    assert transport.calls["refund"] == 1 + 3  # the losers never reached the provider
    row = _row(app, pid)
    assert (row["refunded_minor"], row["state"]) == (1000, "refunded")
    assert _held(app) == 0 and _server_errors(app) == 0


def test_concurrent_captures_reach_the_provider_once(service):
    app, transport = service

    async def scenario(client):
        auth = await _post(client, "/v1/payments/authorize", "auth", {"amount_minor": 700, "currency": "EUR",
                                                                      "provider": "acme", "reference": "order-c"})
        pid = auth.json()["id"]
        return pid, await asyncio.gather(*(_post(client, f"/v1/payments/{pid}/capture", f"c{i}") for i in range(5)))

    pid, answers = _run(app, scenario)
    codes = sorted(a.status_code for a in answers)
    assert codes[0] == 200 and set(codes[1:]) <= {200, 409}, [a.text for a in answers]
    assert transport.calls["capture"] == 1
    assert _row(app, pid)["state"] == "captured" and _held(app) == 0 and _server_errors(app) == 0


def test_a_failed_provider_call_gives_the_amount_back(service):
    app, transport = service

    async def scenario(client):
        pid = await _captured(client, 500)
        transport.fail["refund"] = 100  # every attempt of the adapter's retries fails
        failed = await _post(client, f"/v1/payments/{pid}/refund", "fails", {"amount_minor": 500})
        transport.fail["refund"] = 0
        held_after_failure = _held(app)
        again = await _post(client, f"/v1/payments/{pid}/refund", "again", {"amount_minor": 500})
        over = await _post(client, f"/v1/payments/{pid}/refund", "over", {"amount_minor": 1})
        return pid, failed, held_after_failure, again, over

    pid, failed, held_after_failure, again, over = _run(app, scenario)
    assert failed.status_code == 502 and held_after_failure == 0
    assert again.status_code == 200 and over.status_code == 409
    assert _row(app, pid)["refunded_minor"] == 500


def test_a_refund_of_another_principals_payment_is_not_found(service):
    app, transport = service
    other = f"Bearer {issue(SECRET, 'merchant_2', ['payments:write'], ttl_s=3600)}"

    async def scenario(client):
        pid = await _captured(client, 300)
        return await client.post(f"/v1/payments/{pid}/refund", json={"amount_minor": 1},
                                 headers={"authorization": other, "idempotency-key": "x"})

    answer = _run(app, scenario)
    assert answer.status_code == 404 and answer.json()["type"] == PROBLEM_BASE + "payment-not-found"
    assert transport.calls["refund"] == 0 and _held(app) == 0
