"""Fuzz the reference service's OpenAPI with schemathesis, in-process (ASGI, no network),
against the provider simulator: no input may produce a 5xx, and every answer conforms to the
document (schemathesis' checks: a status code it declares, its content type, its response schema
and headers), so every error is the declared problem+json and every success the declared body.

Each operation gets schema-conforming (positive) and schema-violating (negative) cases, sent
with a valid token and a fresh Idempotency-Key, a reused key, no key, the key schemathesis
generated from the document, a read-only token or no token; payment ids are random or those of
real payments, and provider and currency are often real ones, so that cases get past those checks
to the provider. Derandomized and bounded, so a run is the same every time and takes seconds.
A positive case that stays valid by the document (a fresh key) must also be taken, not refused as bad
input (schemathesis' positive_data_acceptance): the document declares what the service enforces — the
catalog's providers and currencies as enums, integer bounds, path segments without control characters
or slashes, no other body fields.

schemathesis generates and serializes the requests; httpx's ASGITransport delivers them.
(schemathesis' own ASGI client goes through `requests`, which broke when urllib3-future, once
pulled in by grafana-client → niquests, replaced urllib3 in the same environment.)
"""

from __future__ import annotations

import asyncio
import itertools
import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from schemathesis import checks

from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.protocol.tokens import issue
from moneypath.reference.providersim.simulator_app import SimConfig
from moneypath.reference.providersim.simulator_app import create_app as create_sim
from moneypath.reference.refservice.app import ServiceConfig, create_app

SECRET = b"fuzz-secret"
CONFORMANCE = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
               checks.response_schema_conformance, checks.response_headers_conformance]
EXAMPLES = 75  # per operation and generation mode
OPERATIONS = [
    ("POST", "/v1/payments/authorize"),
    ("POST", "/v1/payments/{payment_id}/capture"),
    ("POST", "/v1/payments/{payment_id}/refund"),
    ("POST", "/v1/payouts"),
    ("POST", "/v1/webhooks/{provider}"),
    ("GET", "/v1/payments/{payment_id}"),
    ("GET", "/healthz"),
]
TOKENS = {
    "write": issue(SECRET, "merchant_1", ["payments:write", "payments:read"], ttl_s=3600),
    "read": issue(SECRET, "merchant_1", ["payments:read"], ttl_s=3600),
    "other-merchant": issue(SECRET, "merchant_2", ["payments:write", "payments:read"], ttl_s=3600),
}


@pytest.fixture(scope="module")
def service(catalog, tmp_path_factory):
    """The app, its schema and the ids of real payments (authorized, captured, payout)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    sim = create_sim(SimConfig(settlement_dir=tmp / "settlements", webhook_url=None, webhook_secret=b"w",
                               token_secret=SECRET, latency_scale=0))
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    app = create_app(ServiceConfig(db_url=f"sqlite:///{tmp / 'ledger.db'}", token_secret=SECRET,
                                   webhook_secret=b"hook-secret", provider_url="http://sim", background_jobs=False),
                     mp=mp, provider_transport=httpx.ASGITransport(app=sim))

    async def setup() -> list[str]:
        headers = {"authorization": f"Bearer {TOKENS['write']}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            async def post(path, key, json=None):
                response = await client.post(path, json=json, headers={**headers, "idempotency-key": key})
                assert response.status_code in (200, 201), response.text
                return response.json()["id"]
            body = {"amount_minor": 2500, "currency": "EUR", "provider": "acme", "reference": "fuzz-1"}
            authorized = await post("/v1/payments/authorize", "setup-1", body)
            captured = await post("/v1/payments/authorize", "setup-2", {**body, "reference": "fuzz-2"})
            await post(f"/v1/payments/{captured}/capture", "setup-3")
            payout = await post("/v1/payouts", "setup-4", {**body, "provider": "globex"})
            return [authorized, captured, payout]

    ids = asyncio.run(setup())
    # Loaded over ASGITransport rather than with from_asgi, which would run (and end) the app's lifespan.
    openapi = asyncio.run(_get(app, "/openapi.json")).json()
    return app, schemathesis.openapi.from_dict(openapi), ids


async def _get(app, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        return await client.get(path)


def test_every_operation_in_the_schema_is_fuzzed(service):
    _, schema, _ = service
    found = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert found == set(OPERATIONS)


# Those with a body: a string path parameter alone leaves a negative generator nothing to violate.
NEGATIVE_OPERATIONS = [op for op in OPERATIONS if op[1] in ("/v1/payments/authorize", "/v1/payments/{payment_id}/refund",
                                                            "/v1/payouts")]


def send(app, case) -> httpx.Response:
    """The case as schemathesis serializes it, delivered in-process."""
    kwargs = case.as_transport_kwargs(base_url="http://svc")
    content = kwargs.get("data")
    if "json" in kwargs:  # as `requests` sends it: ASCII-escaped, so lone surrogates survive the trip
        content = json.dumps(kwargs["json"]).encode()

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            return await client.request(kwargs["method"], kwargs["url"], headers=kwargs["headers"],
                                        params=kwargs.get("params") or None, content=content)
    return asyncio.run(go())


def check(case, response: httpx.Response, valid: bool = False) -> None:
    """The document's contract (schemathesis), then what a schema cannot say. `valid`: the request is one the
    document allows (positive, with a fresh Idempotency-Key): the service must take it, not refuse it as bad
    input (positive_data_acceptance: 401, 403, 404 and 409 are fine, 400 and 422 are not)."""
    case.validate_response(response, checks=CONFORMANCE + ([checks.positive_data_acceptance] if valid else []))
    if response.status_code >= 400:
        assert response.json()["status"] == response.status_code
        assert "Traceback" not in response.text


@pytest.mark.parametrize("mode, method, path",
                         [(schemathesis.GenerationMode.POSITIVE, *op) for op in OPERATIONS]
                         + [(schemathesis.GenerationMode.NEGATIVE, *op) for op in NEGATIVE_OPERATIONS],
                         ids=lambda value: value.value if isinstance(value, schemathesis.GenerationMode) else value)
def test_no_input_makes_the_service_fail(service, method, path, mode):
    app, schema, ids = service
    operation = schema[path][method]
    keys = itertools.count()

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode),
           token=st.sampled_from([*TOKENS, "none", "garbage"]),
           key=st.sampled_from(["fresh", "fresh", "reused", "none", "long", "generated"]),
           real_id=st.sampled_from([None, *ids]),
           provider=st.sampled_from([None, "acme", "globex"]),
           currency=st.sampled_from([None, "EUR", "USD", "GBP"]))
    def fuzz(case, token, key, real_id, provider, currency):
        generated = {name.lower(): value for name, value in (case.headers or {}).items()}
        headers = {}
        if token in TOKENS:
            headers["authorization"] = f"Bearer {TOKENS[token]}"
        elif token == "garbage":
            headers["authorization"] = "Bearer not.a-token"
        if key == "generated" and "idempotency-key" in generated:
            headers["idempotency-key"] = generated["idempotency-key"]
        elif key in ("fresh", "reused", "long"):
            fresh = f"{mode.value}:{method}:{path}:{next(keys)}"
            headers["idempotency-key"] = {"fresh": fresh, "reused": "fuzz-reused", "long": fresh.ljust(255, "k")}[key]
        case.headers = headers
        if real_id is not None and case.path_parameters and "payment_id" in case.path_parameters:
            case.path_parameters["payment_id"] = real_id
        if isinstance(case.body, dict):  # random strings are never a known provider: let some cases reach one
            for field, value in (("provider", provider), ("currency", currency)):
                if value is not None and field in case.body:
                    case.body[field] = value
        # positive and still valid by the document: our own mutations kept to those it allows (a missing key is
        # not; a reused or generated one may be a key used before with another request, a 422 it declares)
        valid = mode == schemathesis.GenerationMode.POSITIVE and (key in ("fresh", "long") or "idempotency-key"
                                                                  not in generated)
        check(case, send(app, case), valid)
        accepted.append(valid)

    accepted: list[bool] = []
    fuzz()
    if mode == schemathesis.GenerationMode.POSITIVE:
        assert sum(accepted) >= EXAMPLES // 4, "too few document-valid cases to hold the service to its document"
