"""The reference service's API contract where no provider is involved: auth, idempotency
keys, validation and errors as problem+json, never a stack trace."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest
from prometheus_client import CollectorRegistry

from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.protocol.tokens import issue
from moneypath.reference.refservice.app import ServiceConfig, create_app
from moneypath.reference.signing import secrets_by_provider

SECRET = b"test-token-secret"


@pytest.fixture
def app(catalog, tmp_path):
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    return create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=SECRET,
                                    provider_url="http://127.0.0.1:9"), mp=mp)


# minted when the module is collected: valid longer than any test session
def token(*scopes: str, ttl_s: int = 3 * 3600) -> dict:
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


def test_long_lived_tokens_and_oversized_subjects_are_refused(catalog, tmp_path):
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    app = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=SECRET,
                                   provider_url="http://127.0.0.1:9", token_max_lifetime_s=3600), mp=mp)
    headers = {"idempotency-key": "k1"}
    year = {**headers, **token("payments:write", ttl_s=365 * 86400)}
    body = assert_problem(call(app, "POST", "/v1/payments/authorize", json=AUTHORIZE, headers=year), 401,
                          "token-invalid")
    assert "lives longer than" in body["detail"]
    two_hours = {**headers, **token("payments:write", ttl_s=7200)}  # under the default, over this service's
    assert_problem(call(app, "POST", "/v1/payments/authorize", json=AUTHORIZE, headers=two_hours), 401,
                   "token-invalid")
    long_subject = {**headers, "authorization": f"Bearer {issue(SECRET, 'm' * 65, ['payments:write'])}"}
    assert_problem(call(app, "POST", "/v1/payments/authorize", json=AUTHORIZE, headers=long_subject), 401,
                   "token-invalid")
    assert ServiceConfig.from_env({"MONEYPATH_TOKEN_SECRET": "s"}).token_max_lifetime_s == 86400
    assert ServiceConfig.from_env({"MONEYPATH_TOKEN_SECRET": "s",
                                   "MONEYPATH_TOKEN_MAX_LIFETIME_S": "900"}).token_max_lifetime_s == 900


@pytest.mark.parametrize("path, body", [("/v1/payments/authorize", AUTHORIZE),
                                        ("/v1/payments/pay_1/capture", None),
                                        ("/v1/payments/pay_1/refund", {"amount_minor": 100}),
                                        ("/v1/payouts", {k: v for k, v in AUTHORIZE.items() if k != "method"})])
@pytest.mark.parametrize("key", [None, "", "k" * 256])
def test_state_changes_need_an_idempotency_key(app, path, body, key):
    """A 400 from the service's own check, not FastAPI's 422: the OpenAPI document declares the header
    without FastAPI validating it."""
    headers = token("payments:write") if key is None else {**token("payments:write"), "idempotency-key": key}
    assert_problem(call(app, "POST", path, json=body, headers=headers), 400, "idempotency-key-required")


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


# (method, path): the audit action and the scope each state change declares
STATE_CHANGES = {
    ("post", "/v1/payments/authorize"): ("authorize", "payments:write", "201"),
    ("post", "/v1/payments/{payment_id}/capture"): ("capture", "payments:write", "200"),
    ("post", "/v1/payments/{payment_id}/refund"): ("refund", "payments:write", "200"),
    ("post", "/v1/payouts"): ("payout", "payments:write", "201"),
}
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_openapi_declares_auth_idempotency_audit_and_answers_of_every_state_change(app):
    document = call(app, "GET", "/openapi.json").json()
    components = document["components"]
    assert components["securitySchemes"]["bearerToken"]["type"] == "http"
    assert components["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    problem = components["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert "currencies" in problem["properties"]  # the extension member unknown-currency answers with
    for (method, path), (action, scope, success) in STATE_CHANGES.items():
        operation = document["paths"][path][method]
        key = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
        assert key["in"] == "header" and key["required"] is True
        assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)
        assert operation["security"] == [{"bearerToken": [scope]}]
        assert operation["x-audit"]["action"] == action
        answered = operation["responses"][success]
        body = answered["content"]["application/json"]["schema"]
        assert components["schemas"][body["$ref"].rsplit("/", 1)[1]]["properties"], f"{path}: a body with no fields"
        assert "Idempotent-Replayed" in answered["headers"]
        for status in ("400", "401", "403", "409", "413", "415", "422", "500", "502", "503", "504"):
            assert operation["responses"][status]["content"] == PROBLEM_CONTENT, f"{method} {path} {status}"
        assert set(operation["responses"]) <= {success, *(str(s) for s in range(400, 600))}
    webhook = document["paths"]["/v1/webhooks/{provider}"]["post"]
    assert webhook["security"] == [{"webhookSignature": []}] and webhook["x-audit"]["action"] == "webhook"
    assert document["paths"]["/v1/payments/{payment_id}"]["get"]["security"] == [{"bearerToken": ["payments:read"]}]
    assert "HTTPValidationError" not in components["schemas"]  # every 422 is problem+json, not FastAPI's shape


def test_a_wrong_method_is_405_with_the_allowed_methods(app):
    response = call(app, "GET", "/v1/payouts")
    assert_problem(response, 405, "http-error")
    assert response.headers["allow"] == "POST"
    response = call(app, "DELETE", "/v1/payments/pay_1", headers=token("payments:read"))
    assert_problem(response, 405, "http-error")
    assert response.headers["allow"] == "GET"


@pytest.fixture
def hooked(catalog, tmp_path):
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    app = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=SECRET,
                                   webhook_secret=b"hook-secret", provider_url="http://127.0.0.1:9"), mp=mp)
    return app, mp


def test_webhooks_are_verified_deduplicated_and_counted(hooked):
    import json as jsonlib

    from moneypath.reference.signing import HEADER, sign

    app, mp = hooked
    secret = secrets_by_provider(["acme"], b"hook-secret", {})["acme"]  # what acme signs with
    event = jsonlib.dumps({"provider": "acme", "event": "capture.settled", "provider_ref": "acme_auth_1",
                           "reference": "order-1", "amount_minor": 1999, "currency": "EUR",
                           "status": "CAPTURED", "occurred_at": 1.0}).encode()

    def deliver(body, header):
        return call(app, "POST", "/v1/webhooks/acme", content=body, headers={HEADER: header})

    assert deliver(event, sign(secret, event)).json() == {"accepted": True, "duplicate": False, "booked": False}
    assert deliver(event, sign(secret, event)).json() == {"accepted": False, "duplicate": True, "booked": False}
    header = sign(secret, event)
    deliver(event, header)
    assert_problem(deliver(event, header), 409, "webhook-replayed")
    assert_problem(deliver(event, sign(b"wrong", event)), 401, "webhook-invalid-signature")
    assert_problem(deliver(event, sign(secret, event, now=1000)), 400, "webhook-stale")
    assert_problem(deliver(b"[]", sign(secret, b"[]")), 400, "webhook-malformed")
    utf16 = event.decode().encode("utf-16")
    assert_problem(deliver(utf16, sign(secret, utf16)), 400, "webhook-malformed")
    long_ref = event.replace(b"acme_auth_1", b"x" * 200)
    assert_problem(deliver(long_ref, sign(secret, long_ref)), 400, "webhook-malformed")

    def count(outcome):
        return mp.registry.get_sample_value("moneypath_webhooks_total", {"provider": "acme", "outcome": outcome})
    assert (count("accepted"), count("duplicate"), count("replayed"), count("stale")) == (1, 2, 1, 1)
    assert count("invalid_signature") == 4  # the forged one and the three malformed ones


def _acme_event(ref: str = "acme_auth_9") -> bytes:
    import json as jsonlib
    return jsonlib.dumps({"provider": "acme", "event": "capture.settled", "provider_ref": ref, "reference": "o-9",
                          "amount_minor": 5, "currency": "EUR", "status": "CAPTURED", "occurred_at": 1.0}).encode()


def test_each_provider_has_its_own_webhook_secret_and_unknown_providers_are_not_found(hooked):
    from moneypath.reference.refservice.db import webhook_events
    from moneypath.reference.signing import HEADER, sign

    app, mp = hooked
    secrets = secrets_by_provider(["acme", "globex"], b"hook-secret", {})
    assert secrets["acme"] != secrets["globex"] != b"hook-secret"
    event = _acme_event()
    # signed by acme, sent to globex's URL: refused; the master secret itself signs for nobody
    assert_problem(call(app, "POST", "/v1/webhooks/globex", content=event,
                        headers={HEADER: sign(secrets["acme"], event)}), 401, "webhook-invalid-signature")
    assert_problem(call(app, "POST", "/v1/webhooks/acme", content=event,
                        headers={HEADER: sign(b"hook-secret", event)}), 401, "webhook-invalid-signature")
    # a provider the catalog does not name: 404 before any signature work, counted, nothing stored
    for name in ("evilpay", "other"):
        assert_problem(call(app, "POST", f"/v1/webhooks/{name}", content=event,
                            headers={HEADER: sign(b"hook-secret", event)}), 404, "webhook-unknown-provider")
    assert mp.registry.get_sample_value("moneypath_webhooks_total",
                                        {"provider": "other", "outcome": "unknown_provider"}) == 2
    assert call(app, "POST", "/v1/webhooks/acme", content=event,
                headers={HEADER: sign(secrets["acme"], event)}).json()["accepted"] is True
    with app.state.engine.connect() as conn:
        assert [r.provider for r in conn.execute(webhook_events.select())] == ["acme"]


def test_a_providers_own_secret_replaces_the_derived_one(catalog, tmp_path):
    from moneypath.reference.signing import HEADER, secret_env, sign

    config = ServiceConfig.from_env({"MONEYPATH_TOKEN_SECRET": "t", "MONEYPATH_WEBHOOK_SECRET": "hook-secret",
                                     secret_env("acme"): "acme-issued"})
    assert secret_env("acme") == "MONEYPATH_WEBHOOK_SECRET_ACME"
    app = create_app(replace(config, db_url=f"sqlite:///{tmp_path / 'ledger.db'}", provider_url="http://127.0.0.1:9",
                             background_jobs=False), mp=MoneyPath(catalog, PrometheusBackend(CollectorRegistry())))
    event = _acme_event()
    derived = secrets_by_provider(["acme"], b"hook-secret", {})["acme"]
    assert_problem(call(app, "POST", "/v1/webhooks/acme", content=event, headers={HEADER: sign(derived, event)}),
                   401, "webhook-invalid-signature")
    assert call(app, "POST", "/v1/webhooks/acme", content=event,
                headers={HEADER: sign(b"acme-issued", event)}).json()["accepted"] is True
    globex = secrets_by_provider(["globex"], b"hook-secret", {})["globex"]  # globex still derives its own
    assert call(app, "POST", "/v1/webhooks/globex", content=event.replace(b"acme_auth_9", b"gx_1"),
                headers={HEADER: sign(globex, event.replace(b"acme_auth_9", b"gx_1"))}).json()["accepted"] is True


def test_webhooks_without_a_secret_are_refused(app):
    assert_problem(call(app, "POST", "/v1/webhooks/acme", content=b"{}"), 503, "webhooks-disabled")
