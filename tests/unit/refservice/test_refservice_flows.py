"""Money movements end to end through the service, its adapters and the provider simulator
(in-process): booked once, balanced, measured; provider trouble degrades cleanly."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import CollectorRegistry

from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.reference.providersim.simulator_app import SimConfig
from moneypath.reference.providersim.simulator_app import create_app as create_sim
from moneypath.reference.refservice import ledger
from moneypath.reference.refservice.app import ServiceConfig, create_app
from tests.support.refservice import SECRET, WRITE, client_for, sample, set_fault


@pytest.fixture
def world(catalog, tmp_path):
    sim = create_sim(SimConfig(settlement_dir=tmp_path / "settlements", webhook_url=None, webhook_secret=b"w",
                               token_secret=SECRET, enable_faults=True, latency_scale=0))
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    app = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=SECRET,
                                   provider_url="http://sim", provider_timeout_s=0.5),
                     mp=mp, provider_transport=httpx.ASGITransport(app=sim))
    for adapter in app.state.adapters.values():  # no real sleeping between retries in unit tests
        adapter.retry = type(adapter.retry)(max_attempts=3, base_s=0.001, cap_s=0.002)
    return app, sim, mp






def post(app, path, key, json=None):
    async def go():
        async with await client_for(app) as c:
            return await c.post(path, json=json, headers={**WRITE, "idempotency-key": key})
    return asyncio.run(go())


@pytest.mark.parametrize("provider", ["acme", "globex"])
def test_authorize_capture_refund_books_balanced_money_and_metrics(world, provider):
    app, sim, mp = world
    sim.state.providers[provider].decline_rate = 0.0  # the flow under test is an approval: never a skip on a decline
    auth = post(app, "/v1/payments/authorize", f"a-{provider}",
                {"amount_minor": 2500, "currency": "EUR", "provider": provider, "reference": "order-9"})
    assert auth.status_code == 201, auth.text
    payment = auth.json()
    assert payment["state"] == "authorized", payment
    captured = post(app, f"/v1/payments/{payment['id']}/capture", f"c-{provider}")
    assert captured.status_code == 200 and captured.json()["state"] == "captured"
    refunded = post(app, f"/v1/payments/{payment['id']}/refund", f"r-{provider}", {"amount_minor": 2500})
    assert refunded.status_code == 200 and refunded.json()["state"] == "refunded"
    with app.state.engine.connect() as conn:
        assert ledger.transactions_for(conn, payment["id"]) == ["capture", "refund"]
        assert ledger.imbalance(conn) == {"EUR": 0}
        assert ledger.balances(conn)[(f"provider_receivable:{provider}", "EUR")] == 0
    assert sample(mp, "moneypath_authorizations_total", provider=provider, method="card", outcome="approved") == 1
    assert sample(mp, "moneypath_provider_requests_total", provider=provider, operation="capture",
                  outcome="success") == 1
    assert sample(mp, "moneypath_ledger_writes_total", outcome="committed") == 3
    assert sample(mp, "moneypath_cost_usd_total", component="provider_fee", provider=provider) > 0


def test_retry_storm_one_key_one_charge_identical_responses(world):
    app, sim, mp = world
    body = {"amount_minor": 4200, "currency": "USD", "provider": "acme", "reference": "storm"}

    async def storm():
        async with await client_for(app) as c:
            return await asyncio.gather(*[
                c.post("/v1/payments/authorize", json=body, headers={**WRITE, "idempotency-key": "storm-1"})
                for _ in range(20)])

    responses = asyncio.run(storm())
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses if r.status_code != 201]
    assert len({r.text for r in responses}) == 1
    assert sample(mp, "moneypath_authorizations_total", provider="acme", method="card", outcome="approved") \
        + sample(mp, "moneypath_authorizations_total", provider="acme", method="card", outcome="declined") == 1
    assert sample(mp, "moneypath_idempotent_replays_total", operation="authorize") == 19
    replay = post(app, "/v1/payments/authorize", "storm-1", body)
    assert replay.headers["idempotent-replayed"] == "true" and replay.text == responses[0].text
    changed = post(app, "/v1/payments/authorize", "storm-1", {**body, "amount_minor": 1})
    assert changed.status_code == 422 and changed.json()["type"].endswith("/idempotency-key-reused")




def test_provider_outage_retries_then_opens_the_circuit(world):
    app, sim, mp = world
    set_fault(sim, "error_rate", {"provider": "globex", "rate": 1.0})
    body = {"amount_minor": 1000, "currency": "EUR", "provider": "globex", "reference": "outage"}
    first = post(app, "/v1/payments/authorize", "o-1", body)
    assert first.status_code == 502 and first.json()["type"].endswith("/provider-error")
    assert sample(mp, "moneypath_provider_retries_total", provider="globex", operation="authorize") == 2
    second = post(app, "/v1/payments/authorize", "o-2", body)  # 3 more failures: 5 in a row opens the circuit
    assert second.status_code in (502, 503)
    third = post(app, "/v1/payments/authorize", "o-3", body)
    assert third.status_code == 503 and third.json()["type"].endswith("/provider-circuit-open")
    assert sample(mp, "moneypath_provider_circuit_state", provider="globex") == 2
    assert sample(mp, "moneypath_provider_requests_total", provider="globex", operation="authorize",
                  outcome="circuit_open") >= 1
    assert sample(mp, "moneypath_authorizations_total", provider="globex", method="card", outcome="error") == 3
    # The failed keys were released: the same key retried later is a fresh attempt, not a stored failure.
    assert post(app, "/v1/payments/authorize", "o-1", body).status_code == 503


def test_a_slow_provider_is_a_timeout_for_the_caller_and_the_metrics(world):
    app, sim, mp = world
    set_fault(sim, "latency", {"provider": "acme", "extra_ms": 1500})
    response = post(app, "/v1/payments/authorize", "slow-1",
                    {"amount_minor": 500, "currency": "GBP", "provider": "acme", "reference": "slow"})
    assert response.status_code == 504 and response.json()["type"].endswith("/provider-timeout")
    assert sample(mp, "moneypath_authorizations_total", provider="acme", method="card", outcome="timeout") == 1
    # One deadline for the whole operation: a timed-out attempt leaves no time for a retry (3 x 1 s before).
    assert sample(mp, "moneypath_provider_requests_total", provider="acme", operation="authorize",
                  outcome="timeout") == 1
