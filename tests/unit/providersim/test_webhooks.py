"""The provider simulator's webhooks (moneypath.reference.providersim.webhook_delivery): signed in each vocabulary, given up
after three retries, carrying the caller's correlation id in-process (httpx.ASGITransport), with a real signed-webhook
receiver."""

from __future__ import annotations

import time

from tests.support.providersim import approved, capture, make_app, run


def test_webhooks_are_delivered_signed_in_each_vocabulary(tmp_path, receiver):
    async def scenario(c):
        ref = await approved(c, "acme", "w")
        await capture(c, "acme", ref, "cap")
        await c.post(f"/acme/v1/authorizations/{ref}/refund", json={"amount_minor": 50, "idempotency_key": "rf"})
        await c.post("/acme/v1/payouts", json={"amount_minor": 900, "currency": "GBP", "reference": "po-a",
                                               "idempotency_key": "po"})
        token = await approved(c, "globex", "w")
        await capture(c, "globex", token, "cap")
        await c.post(f"/globex/api/charges/{token}/reverse",
                     json={"amount": {"value": 60, "currency": "EUR"}, "request_id": "rv"})
        await c.post("/globex/api/transfers", json={"amount": {"value": 800, "currency": "USD"},
                                                    "merchant_ref": "po-g", "request_id": "tr"})
        return ref, token

    before = time.time()
    ref, token = run(make_app(tmp_path, receiver), scenario)
    assert receiver.rejected == []  # every signature verified by moneypath.reference.signing.WebhookVerifier
    got = {(p, e["event"]): e for p, e, *_ in receiver.events}
    assert {k: (e["status"], e["amount_minor"], e["currency"]) for k, e in got.items()} == {
        ("acme", "capture.settled"): ("CAPTURED", 1250, "USD"), ("acme", "refund.completed"): ("REFUNDED", 50, "USD"),
        ("acme", "payout.paid"): ("PAID", 900, "GBP"), ("globex", "capture.settled"): ("COMPLETE", 4200, "EUR"),
        ("globex", "refund.completed"): ("REVERSED", 60, "EUR"), ("globex", "payout.paid"): ("OK", 800, "USD")}
    capture_event = got[("acme", "capture.settled")]
    assert capture_event["provider"] == "acme" and capture_event["provider_ref"] == ref
    assert capture_event["reference"].startswith("ord-w-") and before <= capture_event["occurred_at"] <= time.time()
    assert got[("globex", "capture.settled")]["provider_ref"] == token
    assert got[("acme", "payout.paid")]["reference"] == "po-a"


def test_webhook_given_up_after_three_retries(tmp_path, receiver):
    app = make_app(tmp_path, receiver)

    async def scenario(c):
        receiver.fail_next = 100
        await capture(c, "acme", await approved(c, "acme", "x"), "cap")

    run(app, scenario)
    assert receiver.attempts == 4 and receiver.events == [] and app.state.webhooks.failed == 1


def test_the_callers_correlation_id_comes_back_in_the_webhook(tmp_path, receiver):
    async def scenario(c):
        ref = await approved(c, "acme", "cid")
        r = await c.post(f"/acme/v1/authorizations/{ref}/capture", json={"idempotency_key": "cap-cid"},
                         headers={"x-correlation-id": "pay-corr-0001"})
        assert r.status_code == 200

    run(make_app(tmp_path, receiver), scenario)
    events = [e for _, e, *_ in receiver.events if e["event"] == "capture.settled"]
    assert [e["correlation_id"] for e in events] == ["pay-corr-0001"]
