"""The Django shop (tests/foreign/djangoshop) works as its team runs it, instrumented with moneypath: the three-step
GraphQL checkout over HTTP against 2 uvicorn workers, the capture done by a Celery prefork worker on Redis
and found in the provider's records, and a provider failure answered as GraphQL answers it (HTTP 200, the
mutation's `errors`, no order). The database is a throwaway PostgreSQL cluster."""

from __future__ import annotations

import time

import pytest

from tests.conftest import wait_for
from tests.support.djangoshop import running_shop

pytestmark = pytest.mark.integration

# One document, an operation chosen by name per request: how the shop's storefront sends them.
DOCUMENT = """
fragment Money on Money { amount currency }
fragment OrderFields on Order {
  id paymentStatus total { ...Money }
  payment { id provider status pspReference capturedAt amount { ...Money } }
}
mutation CheckoutCreate($lines: [CheckoutLineInput!]!, $currency: String!, $email: String!) {
  checkoutCreate(lines: $lines, currency: $currency, email: $email) {
    checkout { id total { ...Money } }
    errors { field code message }
  }
}
mutation CheckoutPaymentCreate($checkoutId: ID!, $provider: String!, $amount: Decimal!) {
  checkoutPaymentCreate(checkoutId: $checkoutId, provider: $provider, amount: $amount) {
    payment { id status amount { ...Money } }
    errors { field code message }
  }
}
mutation CheckoutComplete($checkoutId: ID!) {
  checkoutComplete(checkoutId: $checkoutId) {
    order { ...OrderFields }
    errors { field code message }
  }
}
query Order($id: ID!) { order(id: $id) { ...OrderFields } }
"""


@pytest.fixture(scope="module")
def database(pg_server):
    name = pg_server.create_database()
    yield pg_server, name
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def shop(database, tmp_path_factory):
    server, name = database
    with running_shop(server.url(name), tmp_path_factory.mktemp("djangoshop")) as shop:
        yield shop


def call(shop, operation: str, **variables) -> dict:
    """One operation's payload; any transport or GraphQL-level error fails the test."""
    answer = shop.graphql(DOCUMENT, operation, **variables)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert not body.get("errors"), body
    return next(iter(body["data"].values()))


def checkout(shop, provider: str, currency: str, unit_price: str, quantity: int = 2) -> dict:
    """checkoutCreate -> checkoutPaymentCreate -> checkoutComplete for the checkout's total; the last payload."""
    created = call(shop, "CheckoutCreate", lines=[{"sku": "TEE-01", "quantity": quantity, "unitPrice": unit_price}],
                   currency=currency, email="buyer@example.com")
    assert created["errors"] == [], created
    checkout_id, total = created["checkout"]["id"], created["checkout"]["total"]
    paid = call(shop, "CheckoutPaymentCreate", checkoutId=checkout_id, provider=provider, amount=total["amount"])
    assert paid["errors"] == [] and paid["payment"]["status"] == "PENDING", paid
    return call(shop, "CheckoutComplete", checkoutId=checkout_id)


def payment_rows(database, checkout_total_currency: str) -> list[tuple]:
    import psycopg

    server, name = database
    with psycopg.connect(server.conninfo(name)) as conn:
        return conn.execute("SELECT provider, amount_minor, currency, status, error FROM payments "
                            "WHERE currency = %s ORDER BY created_at", (checkout_total_currency,)).fetchall()


@pytest.mark.parametrize(("provider", "currency", "unit_price", "total", "minor"), [
    ("paystack", "JPY", "750", "1500", 1500),      # exponent 0: no minor unit
    ("mollie", "USD", "6.17", "12.34", 1234),
])
def test_checkout_authorizes_then_the_worker_captures(shop, provider, currency, unit_price, total, minor):
    completed = checkout(shop, provider, currency, unit_price)
    assert completed["errors"] == [], completed
    order = completed["order"]
    assert order["paymentStatus"] == "AUTHORIZED" and order["total"] == {"amount": total, "currency": currency}
    reference = order["payment"]["pspReference"]
    assert reference and order["payment"]["provider"] == provider

    def captured():
        found = call(shop, "Order", id=order["id"])
        return found if found["paymentStatus"] == "CAPTURED" else None

    found = wait_for(captured, 20, "the Celery worker's capture", interval_s=0.1)
    assert found["payment"]["capturedAt"] and found["payment"]["status"] == "CAPTURED"
    charge = shop.charge(provider, reference)
    assert (charge["amount"], charge["currency"], charge["status"]) == (minor, currency, "captured")
    assert charge["reference"] == order["payment"]["id"]
    assert [c["amount"] for c in charge["captures"]] == [minor], charge  # captured once


@pytest.mark.parametrize(("mode", "error"), [("error", "provider_error"), ("decline", "declined"),
                                             ("slow", "timeout")])
def test_provider_failure_is_http_200_with_errors_and_no_order(shop, database, mode, error):
    shop.fault("mollie", mode, delay_s=8.0)
    try:
        started = time.monotonic()
        completed = checkout(shop, "mollie", "EUR", "9.99", quantity=1)
        elapsed = time.monotonic() - started
    finally:
        shop.fault("mollie", "none")
    assert completed["order"] is None
    assert [(e["code"], e["field"]) for e in completed["errors"]] == [("PAYMENT_ERROR", "payment")], completed
    assert error in completed["errors"][0]["message"]
    if mode == "slow":  # the client's read timeout (3 s), not the provider's delay (8 s)
        assert 2.9 < elapsed < 6.0, elapsed
    assert payment_rows(database, "EUR")[-1] == ("mollie", 999, "EUR", "failed", error)


def test_step_errors_name_their_code_and_field(shop):
    created = call(shop, "CheckoutCreate", lines=[{"sku": "MUG", "quantity": 1, "unitPrice": "10.005"}],
                   currency="USD", email="buyer@example.com")
    assert [(e["code"], e["field"]) for e in created["errors"]] == [("INVALID", "lines")] and not created["checkout"]
    created = call(shop, "CheckoutCreate", lines=[{"sku": "MUG", "quantity": 1, "unitPrice": "1000"}],
                   currency="JPY", email="buyer@example.com")
    checkout_id = created["checkout"]["id"]
    partial = call(shop, "CheckoutPaymentCreate", checkoutId=checkout_id, provider="paystack", amount="999")
    assert [e["code"] for e in partial["errors"]] == ["PARTIAL_PAYMENT_NOT_ALLOWED"]
    unknown = call(shop, "CheckoutPaymentCreate", checkoutId=checkout_id, provider="acme", amount="1000")
    assert [e["code"] for e in unknown["errors"]] == ["NOT_SUPPORTED_GATEWAY"]
    unpaid = call(shop, "CheckoutComplete", checkoutId=checkout_id)
    assert unpaid["order"] is None and [e["code"] for e in unpaid["errors"]] == ["CHECKOUT_NOT_FULLY_PAID"]
    missing = call(shop, "CheckoutComplete", checkoutId="not-a-checkout")
    assert [e["code"] for e in missing["errors"]] == ["NOT_FOUND"]
    assert call(shop, "Order", id="00000000-0000-0000-0000-000000000000") is None
    # a document the schema rejects: HTTP 200 as well, GraphQL's own top-level `errors` and no `data`
    answer = shop.graphql("query Broken { order }", "Broken")
    assert answer.status_code == 200 and answer.json()["errors"] and not answer.json().get("data")


def test_the_same_shop_under_gunicorn(database, tmp_path):
    """The WSGI entry point: `gunicorn -w 2 djangoshop.wsgi`, the same checkout and capture."""
    server, name = database
    with running_shop(server.url(name), tmp_path, web="gunicorn") as shop:
        order = checkout(shop, "paystack", "KWD", "1.250")["order"]
        assert order["total"] == {"amount": "2.500", "currency": "KWD"}  # exponent 3
        wait_for(lambda: call(shop, "Order", id=order["id"])["paymentStatus"] == "CAPTURED", 20,
                 "the Celery worker's capture", interval_s=0.1)
        assert [c["amount"] for c in shop.charge("paystack", order["payment"]["pspReference"])["captures"]] == [2500]
