"""The reference service's API contract where no provider is involved: auth, idempotency
keys, validation and errors as problem+json, never a stack trace."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import CollectorRegistry

from moneypath.instrument.prometheus import PrometheusBackend
from moneypath.instrument.signals import MoneyPath
from moneypath.refservice.app import ServiceConfig, create_app
from moneypath.tokens import issue

SECRET = b"test-token-secret"


@pytest.fixture
def app(catalog, tmp_path):
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    return create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=SECRET,
                                    provider_url="http://127.0.0.1:9"), mp=mp)


def token(*scopes: str, ttl_s: int = 600) -> dict:
    return {"authorization": f"Bearer {issue(SECRET, 'merchant_1', list(scopes), ttl_s=ttl_s)}"}


def call(app, method: str, path: str, **kwargs) -> httpx.Response:
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            return await client.request(method, path, **kwargs)
    return asyncio.run(go())


AUTHORIZE = {"amount_minor": 1999, "currency": "EUR", "provider": "acme", "method": "card", "reference": "order-1"}


def assert_problem(response: httpx.Response, status: int, type_suffix: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/" + type_suffix) and body["status"] == status and body["detail"]
    assert "Traceback" not in response.text
    return body


def test_missing_expired_and_wrong_scope_tokens(app):
    assert_problem(call(app, "POST", "/v1/payments/authorize", json=AUTHORIZE), 401, "token-invalid")
    expired = token("payments:write", ttl_s=-1)
    assert_problem(call(app, "POST", "/v1/payments/authorize", json=AUTHORIZE, headers=expired), 401, "token-expired")
    read_only = {**token("payments:read"), "idempotency-key": "k1"}
    assert_problem(call(app, "POST", "/v1/payments/authorize", json=AUTHORIZE, headers=read_only), 403,
                   "token-insufficient-scope")


def test_state_changes_need_an_idempotency_key(app):
    response = call(app, "POST", "/v1/payments/authorize", json=AUTHORIZE, headers=token("payments:write"))
    assert_problem(response, 400, "idempotency-key-required")


@pytest.mark.parametrize("change, where", [
    ({"amount_minor": 0}, "amount_minor"),
    ({"amount_minor": 19.99}, "amount_minor"),
    ({"currency": "eur"}, "currency"),
    ({"method": "crypto"}, "method"),
])
def test_invalid_bodies_name_the_field(app, change, where):
    headers = {**token("payments:write"), "idempotency-key": "k-invalid"}
    body = assert_problem(call(app, "POST", "/v1/payments/authorize", json={**AUTHORIZE, **change}, headers=headers),
                          422, "invalid-request")
    assert body["detail"].startswith(where)


def test_unknown_provider_and_unknown_payment(app):
    headers = {**token("payments:write", "payments:read"), "idempotency-key": "k-unknown"}
    assert_problem(call(app, "POST", "/v1/payments/authorize", json={**AUTHORIZE, "provider": "initech"},
                        headers=headers), 422, "unknown-provider")
    assert_problem(call(app, "GET", "/v1/payments/pay_missing", headers=headers), 404, "payment-not-found")


def test_openapi_and_metrics_are_served(app):
    assert "/v1/payments/authorize" in call(app, "GET", "/openapi.json").json()["paths"]
    metrics = call(app, "GET", "/metrics").text
    assert "moneypath_provider_circuit_state" in metrics
