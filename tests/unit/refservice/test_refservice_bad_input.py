"""Bad input to the reference service: every case gets a 4xx problem+json with a stable
`type`, and nothing is written — not a payment, not a ledger posting, not an idempotency key.

The service runs in-process against the provider simulator, so a request that slipped past
validation would really move (simulated) money and show up in the row counts.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from moneypath.catalog.conventions import Key
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.protocol.tokens import issue
from moneypath.reference.providersim.simulator_app import SimConfig
from moneypath.reference.providersim.simulator_app import create_app as create_sim
from moneypath.reference.refservice import limits
from moneypath.reference.refservice.app import ServiceConfig, create_app
from moneypath.reference.refservice.db import metadata

SECRET = b"bad-input-secret"
PROBLEM_BASE = "https://moneypath.dev/problems/"
LIMIT = limits.MAX_BODY_BYTES
AUTHORIZE = {"amount_minor": 1999, "currency": "EUR", "provider": "acme", "method": "card", "reference": "order-1"}
PAYOUT = {"amount_minor": 900, "currency": "GBP", "provider": "globex", "reference": "po-1"}
BIG = LIMIT + 1  # first size over the limit


# minted when the module is collected: valid longer than any test session
def token(*scopes: str, ttl_s: int = 3 * 3600) -> str:
    return f"Bearer {issue(SECRET, 'merchant_1', list(scopes), ttl_s=ttl_s)}"


WRITE = token("payments:write", "payments:read")


@pytest.fixture
def svc(catalog, tmp_path):
    sim = create_sim(SimConfig(settlement_dir=tmp_path / "settlements", webhook_url=None, webhook_secret=b"w",
                               token_secret=SECRET, latency_scale=0))
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    return create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=SECRET,
                                    webhook_secret=b"hook-secret", provider_url="http://sim", background_jobs=False),
                      mp=mp, provider_transport=httpx.ASGITransport(app=sim))


def send(app, method: str, path: str, **kwargs) -> httpx.Response:
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            return await client.request(method, path, **kwargs)
    return asyncio.run(go())


def rows(app) -> dict[str, int]:
    with app.state.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables}


def assert_problem(response: httpx.Response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEM_BASE + type_, body
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in response.text and "File \"" not in response.text
    return body


@pytest.fixture
def captured(svc):
    """A captured EUR 19.99 acme payment (the simulator's seed approves the first acme charge)."""
    auth = send(svc, "POST", "/v1/payments/authorize", json=AUTHORIZE,
                headers={"authorization": WRITE, "idempotency-key": "setup-auth"})
    assert auth.status_code == 201 and auth.json()["state"] == "authorized", auth.text
    payment_id = auth.json()["id"]
    capture = send(svc, "POST", f"/v1/payments/{payment_id}/capture",
                   headers={"authorization": WRITE, "idempotency-key": "setup-capture"})
    assert capture.status_code == 200, capture.text
    return payment_id


def raw(body: bytes, content_type: str | None = "application/json", **headers) -> dict:
    """Request kwargs for a literal body (content type None: no Content-Type header)."""
    h = {"authorization": WRITE, "idempotency-key": "k-bad", **headers}
    if content_type is not None:
        h["content-type"] = content_type
    return {"content": body, "headers": h}


def body(payload: dict, **headers) -> dict:
    return {"json": payload, "headers": {"authorization": WRITE, "idempotency-key": "k-bad", **headers}}


async def _chunks(total: int, size: int = 8192):
    sent = 0
    while sent < total:
        sent += size
        yield b" " * size


# (id, method, path ("{id}": a captured payment), request kwargs, status, problem type, detail starts with)
CASES = [
    # Not JSON, or not the JSON this API takes.
    ("truncated-json", "POST", "/v1/payments/authorize", raw(b'{"amount_minor": 1999,'), 400, "malformed-json", "body"),
    ("trailing-garbage", "POST", "/v1/payouts", raw(json.dumps(PAYOUT).encode() + b" x"), 400, "malformed-json", "body"),
    ("not-utf8", "POST", "/v1/payments/authorize", raw(b'{"reference": "\xff\xfe"}'), 400, "malformed-json",
     "body: is not UTF-8"),
    ("nan", "POST", "/v1/payments/authorize", raw(b'{"amount_minor": NaN}'), 400, "malformed-json", "body: NaN"),
    ("infinity", "POST", "/v1/payments/{id}/refund", raw(b'{"amount_minor": -Infinity}'), 400, "malformed-json",
     "body"),
    ("nested-too-deep", "POST", "/v1/payments/authorize", raw(b"[" * 30_000 + b"]" * 30_000), 400, "malformed-json",
     "body: nested too deeply"),
    ("json-array", "POST", "/v1/payments/authorize", raw(b"[1999, \"EUR\"]"), 422, "invalid-request",
     "body: must be a JSON object"),
    ("json-string", "POST", "/v1/payments/{id}/refund", raw(b'"100"'), 422, "invalid-request", "body: must be"),
    ("json-null", "POST", "/v1/payouts", raw(b"null"), 422, "invalid-request", "body: must be a JSON object"),
    ("non-ascii-key", "POST", "/v1/payments/authorize", body({**AUTHORIZE, "amöunt_minor": 1}), 422, "invalid-request",
     "body: field names are ASCII"),
    ("duplicate-key", "POST", "/v1/payments/authorize",
     raw(b'{"amount_minor": 1, "amount_minor": 999999, "currency": "EUR", "provider": "acme", "reference": "r"}'),
     422, "invalid-request", "body: field 'amount_minor' appears twice"),
    ("5000-digit-number", "POST", "/v1/payments/authorize",
     raw(b'{"amount_minor": ' + b"9" * 5000 + b', "currency": "EUR", "provider": "acme", "reference": "r"}'),
     422, "invalid-request", "body: a number has more than"),
    ("text-plain", "POST", "/v1/payments/authorize", raw(json.dumps(AUTHORIZE).encode(), "text/plain"), 415,
     "unsupported-media-type", "send the body"),
    ("form-encoded", "POST", "/v1/payouts", raw(b"amount_minor=900", "application/x-www-form-urlencoded"), 415,
     "unsupported-media-type", "send the body"),
    ("no-content-type", "POST", "/v1/payments/{id}/refund", raw(b'{"amount_minor": 5}', None), 415,
     "unsupported-media-type", "send the body"),
    ("control-char-in-path", "GET", "/v1/payments/pay_%00", {"headers": {"authorization": WRITE}}, 400,
     "invalid-path", "the path"),
    # Idempotency-Key (missing on authorize is in test_refservice_api).
    ("key-missing-payout", "POST", "/v1/payouts", {"json": PAYOUT, "headers": {"authorization": WRITE}}, 400,
     "idempotency-key-required", "send an Idempotency-Key"),
    ("key-missing-capture", "POST", "/v1/payments/{id}/capture", {"headers": {"authorization": WRITE}}, 400,
     "idempotency-key-required", "send an Idempotency-Key"),
    ("key-empty-refund", "POST", "/v1/payments/{id}/refund", body({"amount_minor": 5}, **{"idempotency-key": ""}),
     400, "idempotency-key-required", "send an Idempotency-Key"),
    ("key-256-chars", "POST", "/v1/payments/authorize", body(AUTHORIZE, **{"idempotency-key": "k" * 256}), 400,
     "idempotency-key-required", "send an Idempotency-Key"),
    # Amounts: only a JSON integer (a number with no fractional part: 1000.0 and 1e3 are 1000) in 1..10**12.
    *[(f"amount-{name}-{op}", "POST", path, body({**payload, "amount_minor": value}), 422, "invalid-request",
       "amount_minor")
      for op, path, payload in (("authorize", "/v1/payments/authorize", AUTHORIZE), ("payout", "/v1/payouts", PAYOUT),
                                ("refund", "/v1/payments/{id}/refund", {}))
      for name, value in (("negative", -1), ("zero", 0), ("10e30", 10**30), ("over-limit", 10**12 + 1),
                          ("fraction", 12.5), ("string-100", "100"), ("true", True), ("null", None),
                          ("zero-float", 0.0), ("1e13", 1e13))],
    # No fields but the document's (a misspelt optional field was ignored: "methd": "wallet" charged a card).
    ("unknown-field", "POST", "/v1/payments/authorize", body({**AUTHORIZE, "methd": "wallet"}), 422, "invalid-request",
     "methd: Extra inputs are not permitted"),
    ("unknown-field-refund", "POST", "/v1/payments/{id}/refund", body({"amount_minor": 5, "reason": "x"}), 422,
     "invalid-request", "reason: Extra inputs are not permitted"),
    ("amount-missing", "POST", "/v1/payouts", body({k: v for k, v in PAYOUT.items() if k != "amount_minor"}), 422,
     "invalid-request", "amount_minor: Field required"),
    # Currency and reference.
    ("currency-unknown", "POST", "/v1/payments/authorize", body({**AUTHORIZE, "currency": "XYZ"}), 422,
     "unknown-currency", "currency must be one of EUR, GBP, USD"),
    ("currency-unknown-payout", "POST", "/v1/payouts", body({**PAYOUT, "currency": "JPY"}), 422, "unknown-currency",
     "currency must be one of"),
    ("currency-number", "POST", "/v1/payouts", body({**PAYOUT, "currency": 978}), 422, "invalid-request", "currency"),
    ("reference-blank", "POST", "/v1/payments/authorize", body({**AUTHORIZE, "reference": "   "}), 422,
     "invalid-request", "reference"),
    ("reference-nul", "POST", "/v1/payouts", body({**PAYOUT, "reference": "po\u0000"}), 422, "invalid-request",
     "reference"),
    ("reference-too-long", "POST", "/v1/payments/authorize", body({**AUTHORIZE, "reference": "r" * 129}), 422,
     "invalid-request", "reference"),
    ("reference-card-number", "POST", "/v1/payments/authorize",
     body({**AUTHORIZE, "reference": "card 4111 1111 1111 1111"}), 422, "invalid-request",
     "reference: must not contain a card number"),
    ("reference-card-number-payout", "POST", "/v1/payouts", body({**PAYOUT, "reference": "po-5555555555554444"}),
     422, "invalid-request", "reference: must not contain a card number"),
    # Separators and digits a reader still sees as a card number (they used to reach the provider).
    *[(f"reference-card-number-{name}", "POST", "/v1/payments/authorize", body({**AUTHORIZE, "reference": ref}), 422,
       "invalid-request", "reference: must not contain a card number")
      for name, ref in (("slashes", "4111/1111/1111/1111"), ("commas", "4111,1111,1111,1111"),
                        ("double-spaces", "4111  1111  1111  1111"), ("full-width", "４１１１１１１１１１１１１１１１"),
                        ("full-width-spaced", "card ４１１１ １１１１ １１１１ １１１１"),
                        # glued to letters (they used to be stored in the ledger and sent to the provider)
                        ("glued-ord", "ord4111111111111111"), ("glued-x", "x4111111111111111"),
                        ("glued-after", "4111111111111111ord"), ("glued-spaced", "ref4111 1111 1111 1111"))],
    # Body size: over the limit whether Content-Length tells the truth, lies or is absent.
    ("oversized-with-length", "POST", "/v1/payments/authorize", raw(b" " * BIG), 413, "body-too-large",
     f"request bodies are limited to {LIMIT} bytes"),
    ("oversized-lying-length", "POST", "/v1/payouts", raw(b" " * BIG, **{"content-length": "64"}), 413,
     "body-too-large", "request bodies are limited"),
    ("oversized-chunked", "POST", "/v1/payments/{id}/refund", {"content": "chunks", "headers": raw(b"")["headers"]},
     413, "body-too-large", "request bodies are limited"),
    ("oversized-webhook", "POST", "/v1/webhooks/acme", {"content": b"{}" + b" " * LIMIT}, 413, "body-too-large",
     "request bodies are limited"),
    ("content-length-not-a-number", "POST", "/v1/payouts", raw(json.dumps(PAYOUT).encode(), **{"content-length": "9x"}),
     400, "invalid-content-length", "Content-Length"),
    # Tokens.
    ("token-missing", "POST", "/v1/payouts", {"json": PAYOUT, "headers": {"idempotency-key": "k"}}, 401,
     "token-invalid", "send Authorization"),
    ("token-expired", "POST", "/v1/payments/{id}/refund",
     body({"amount_minor": 5}, authorization=token("payments:write", ttl_s=-1)), 401, "token-expired", "the token"),
    ("token-forged", "POST", "/v1/payments/{id}/capture",
     {"headers": {"authorization": token("payments:write")[:-4] + "AAAA", "idempotency-key": "k"}}, 401,
     "token-invalid", "the token"),
    ("token-not-bearer", "GET", "/v1/payments/{id}", {"headers": {"authorization": "Basic bWU6cHc="}}, 401,
     "token-invalid", "send Authorization"),
    ("scope-read-only-payout", "POST", "/v1/payouts", body(PAYOUT, authorization=token("payments:read")), 403,
     "token-insufficient-scope", "the token lacks the scope payments:write"),
    ("scope-read-only-refund", "POST", "/v1/payments/{id}/refund",
     body({"amount_minor": 5}, authorization=token("payments:read")), 403, "token-insufficient-scope", "the token"),
    ("scope-write-only-read", "GET", "/v1/payments/{id}", {"headers": {"authorization": token("payments:write")}},
     403, "token-insufficient-scope", "the token lacks the scope payments:read"),
]


@pytest.mark.parametrize("method, path, kwargs, status, type_, detail", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_refused_and_nothing_is_written(svc, captured, method, path, kwargs, status, type_, detail):
    before = rows(svc)
    kwargs = {**kwargs, "content": _chunks(LIMIT * 4)} if kwargs.get("content") == "chunks" else kwargs
    response = send(svc, method, path.replace("{id}", captured), **kwargs)
    problem = assert_problem(response, status, type_)
    assert problem["detail"].startswith(detail), problem["detail"]
    assert rows(svc) == before


def test_unknown_currency_lists_the_catalog_currencies(svc, catalog):
    problem = assert_problem(send(svc, "POST", "/v1/payouts", **body({**PAYOUT, "currency": "CHF"})), 422,
                             "unknown-currency")
    assert problem["currencies"] == sorted(catalog.currencies)


def test_an_oversized_stream_is_cut_off_not_read_to_the_end(svc):
    pulled = 0

    async def endless():
        nonlocal pulled
        while pulled < 1000:  # 8 MiB if it were read to the end
            pulled += 1
            yield b"x" * 8192

    response = send(svc, "POST", "/v1/payouts", content=endless(), headers=raw(b"")["headers"])
    assert_problem(response, 413, "body-too-large")
    assert pulled <= LIMIT // 8192 + 2


def test_refusals_are_measured_as_4xx(svc):
    send(svc, "POST", "/v1/payouts", **raw(b" " * BIG))
    value = svc.state.mp.registry.get_sample_value("moneypath_http_requests_total",
                                                   {"route": "other", "method": "POST", "status_class": "4xx"})
    assert value == 1


def test_an_amount_with_no_fractional_part_is_that_integer_as_the_documents_json_schema_says(svc):
    # OpenAPI 3.1 (JSON Schema 2020-12): 2500.0 and 2.5e3 are the integer 2500, valid by the document
    for i, literal in enumerate((b"2500.0", b"2.5e3")):
        payload = json.dumps({**PAYOUT, "reference": f"po-{i}"}).replace('"amount_minor": 900', '"amount_minor": X')
        response = send(svc, "POST", "/v1/payouts", **raw(payload.encode().replace(b"X", literal),
                                                          **{"idempotency-key": f"whole-{i}"}))
        assert response.status_code == 201 and response.json()["amount_minor"] == 2500, response.text


def test_a_refused_card_number_is_counted_never_echoed(svc):
    for ref in ("ord4111111111111111", "card 5555 5555 5555 4444"):
        problem = assert_problem(send(svc, "POST", "/v1/payments/authorize", **body({**AUTHORIZE, "reference": ref})),
                                 422, "invalid-request")
        assert "4111" not in json.dumps(problem) and "5555" not in json.dumps(problem)
    send(svc, "POST", "/v1/payments/authorize", **body({**AUTHORIZE, "reference": "   "}))  # refused, not a card
    counted = svc.state.mp.registry.get_sample_value(
        svc.state.mp.catalog.metric(Key.CARD_NUMBERS_TOTAL), {"source": "api", "action": "refused"})
    assert counted == 2
    assert rows(svc)["payments"] == 0


def test_a_card_number_of_any_first_digit_is_refused_by_the_request_models_and_counted(svc):
    # 1 (UATP), 7, 8 and 9 lead no 2-6 network's cards, but a Luhn-valid 13-19 digits is a card number all the same
    from pydantic import ValidationError

    from moneypath.reference.refservice.routers.payments import AuthorizeRequest
    from moneypath.reference.refservice.routers.payouts import PayoutRequest

    refs = ("card 1234567812345670", "ord7992739871300008", "INV800000000000002", "x9000000000000001")
    for ref in refs:
        for model, fields in ((AuthorizeRequest, AUTHORIZE), (PayoutRequest, PAYOUT)):
            with pytest.raises(ValidationError) as refused:
                model.model_validate({**fields, "reference": ref})
            assert [e["type"] for e in refused.value.errors()] == [limits.CARD_NUMBER_ERROR], ref
        problem = assert_problem(send(svc, "POST", "/v1/payments/authorize", **body({**AUTHORIZE, "reference": ref})),
                                 422, "invalid-request")
        assert problem["detail"] == "reference: must not contain a card number" and ref[-6:] not in json.dumps(problem)
    counted = svc.state.mp.registry.get_sample_value(
        svc.state.mp.catalog.metric(Key.CARD_NUMBERS_TOTAL), {"source": "api", "action": "refused"})
    assert counted == len(refs) and rows(svc)["payments"] == 0


def test_an_idempotency_key_holding_a_card_number_is_kept_as_its_digest_and_counted(svc):
    # the key is stored with its answer (idempotency_keys) and sent on to the provider inside its own key; refused,
    # it would refuse ~0.2 % of uuid4().hex keys (a Luhn-valid run between hex letters)
    from moneypath.reference.refservice.db import idempotency_keys

    headers = {"idempotency-key": "idem4111111111111111"}
    first = send(svc, "POST", "/v1/payments/authorize", **body({**AUTHORIZE, "reference": "order-k"}, **headers))
    assert first.status_code == 201, first.text
    replay = send(svc, "POST", "/v1/payments/authorize", **body({**AUTHORIZE, "reference": "order-k"}, **headers))
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first.json()
    other = send(svc, "POST", "/v1/payments/authorize", **body({**AUTHORIZE, "reference": "order-x"}, **headers))
    assert_problem(other, 422, "idempotency-key-reused")  # the digest stands for the key
    with svc.state.engine.connect() as conn:
        stored = " ".join(map(str, conn.execute(select(idempotency_keys)).all()))
    assert "4111" not in stored and "sha256:" in stored
    counted = svc.state.mp.registry.get_sample_value(
        svc.state.mp.catalog.metric(Key.CARD_NUMBERS_TOTAL), {"source": "api", "action": "redacted"})
    assert counted == 3 and rows(svc)["payments"] == 1
    ordinary = send(svc, "POST", "/v1/payments/authorize", **body(AUTHORIZE, **{"idempotency-key": "ord-1234567890123"}))
    assert ordinary.status_code == 201, ordinary.text
    assert counted == svc.state.mp.registry.get_sample_value(
        svc.state.mp.catalog.metric(Key.CARD_NUMBERS_TOTAL), {"source": "api", "action": "redacted"})


def test_limits_leave_good_requests_alone(svc):
    """Bodies up to the limit, a JSON media type with parameters, a 255-character key (the
    provider gets a shorter one derived from it) and non-ASCII text in values all still work."""
    padded = json.dumps({**PAYOUT, "reference": "café ☕"}).encode()
    padded += b" " * (LIMIT - len(padded))
    response = send(svc, "POST", "/v1/payouts", **raw(padded, "application/json; charset=utf-8",
                                                      **{"idempotency-key": "k" * 255}))
    assert response.status_code == 201, response.text
    assert response.json()["reference"] == "café ☕"
    assert rows(svc)["payments"] == 1
    replay = send(svc, "POST", "/v1/payouts", **raw(padded, "application/json", **{"idempotency-key": "k" * 255}))
    assert replay.json() == response.json() and replay.headers["idempotent-replayed"] == "true"


def test_provider_keys_are_stable_and_short():
    assert limits.provider_key("merchant_1", "abc") == "merchant_1:abc"
    long_key = limits.provider_key("merchant_1", "k" * 255)
    assert long_key == limits.provider_key("merchant_1", "k" * 255) != limits.provider_key("merchant_2", "k" * 255)
    assert len(long_key) <= limits.PROVIDER_KEY_MAX
