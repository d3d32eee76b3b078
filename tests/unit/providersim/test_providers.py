"""The provider simulator's two APIs (moneypath.reference.providersim.providers: acme's and globex's vocabularies,
idempotent replays, seeded declines and latency) and their problems in-process (httpx.ASGITransport), with a real
signed-webhook receiver."""

from __future__ import annotations

import re
import statistics

import pytest

from moneypath.reference.providersim.providers import Acme, Globex
from tests.support.providersim import acme_authorize, approved, assert_problem, capture, globex_charge, make_app, run

# --- the two APIs ---------------------------------------------------------------------------------------------


def test_acme_vocabulary_authorize_capture_refund_payout(tmp_path):
    async def scenario(c):
        ref = await approved(c, "acme", "a")
        assert re.fullmatch(r"acme_auth_[0-9a-f]+", ref)
        r = await capture(c, "acme", ref, "cap-1")
        assert r.status_code == 200 and r.json() == {"id": ref, "status": "CAPTURED"}
        r = await c.post(f"/acme/v1/authorizations/{ref}/refund", json={"amount_minor": 250, "idempotency_key": "rf-1"})
        assert r.status_code == 200 and r.json()["status"] == "REFUNDED"
        r = await c.post("/acme/v1/payouts", json={"amount_minor": 900, "currency": "GBP", "reference": "po-1",
                                                   "idempotency_key": "po-1"})
        assert r.status_code == 200 and r.json()["status"] == "PAID" and r.json()["id"].startswith("acme_")
        first = await acme_authorize(c, "a-0")
        assert first.status_code == 201 and set(first.json()) == {"id", "status", "decline_code"}

    run(make_app(tmp_path), scenario)


def test_globex_vocabulary_charge_settle_reverse_transfer(tmp_path):
    async def scenario(c):
        token = await approved(c, "globex", "g")
        assert re.fullmatch(r"gx_[0-9a-f]+", token)
        r = await capture(c, "globex", token, "settle-1")
        assert r.status_code == 200 and r.json() == {"charge": {"token": token, "result": "COMPLETE"}}
        r = await c.post(f"/globex/api/charges/{token}/reverse",
                         json={"amount": {"value": 200, "currency": "EUR"}, "request_id": "rev-1"})
        assert r.status_code == 200 and r.json()["result"] == "REVERSED"
        r = await c.post("/globex/api/transfers", json={"amount": {"value": 700, "currency": "USD"},
                                                        "merchant_ref": "tr-1", "request_id": "tr-1"})
        assert r.status_code == 200 and r.json()["transfer"]["result"] == "OK"
        first = await globex_charge(c, "g-0")
        assert first.status_code == 200 and set(first.json()) == {"charge"}

    run(make_app(tmp_path), scenario)


def test_idempotent_replay_returns_identical_body_without_second_effect(tmp_path, receiver):
    app = make_app(tmp_path, receiver)
    acme, globex = app.state.providers["acme"], app.state.providers["globex"]

    async def scenario(c):
        a1, a2 = await acme_authorize(c, "k1"), await acme_authorize(c, "k1")
        assert a1.content == a2.content and a2.status_code == 201 and len(acme.charges) == 1
        ref = await approved(c, "acme", "idem")
        c1, c2 = await capture(c, "acme", ref, "cap"), await capture(c, "acme", ref, "cap")
        assert c1.content == c2.content and len(acme.pending) == 1
        refund = {"amount_minor": 100, "idempotency_key": "rf"}
        r1 = await c.post(f"/acme/v1/authorizations/{ref}/refund", json=refund)
        r2 = await c.post(f"/acme/v1/authorizations/{ref}/refund", json=refund)
        assert r1.content == r2.content and acme.charges[ref].refunded_minor == 100
        payout = {"amount_minor": 500, "currency": "USD", "reference": "p", "idempotency_key": "po"}
        p1, p2 = await c.post("/acme/v1/payouts", json=payout), await c.post("/acme/v1/payouts", json=payout)
        assert p1.content == p2.content and len(acme.payouts) == 1
        g1, g2 = await globex_charge(c, "r1"), await globex_charge(c, "r1")
        assert g1.content == g2.content and len(globex.charges) == 1
        token = await approved(c, "globex", "idem")
        s1, s2 = await capture(c, "globex", token, "s"), await capture(c, "globex", token, "s")
        assert s1.content == s2.content and len(globex.pending) == 1
        # The same key for a different request is refused, not silently replayed.
        assert_problem(await acme_authorize(c, "k1", amount=999), 409)
        # A capture with a new key is a second capture attempt: refused, still one line.
        assert_problem(await capture(c, "acme", ref, "cap-again"), 409)
        assert len(acme.pending) == 1

    run(app, scenario)
    # One webhook per effect: capture, refund, payout (acme) and capture (globex); none for replays.
    assert sorted((p, e["event"]) for p, e, *_ in receiver.events) == [
        ("acme", "capture.settled"), ("acme", "payout.paid"), ("acme", "refund.completed"),
        ("globex", "capture.settled")]


def test_seeded_declines_differ_by_provider(tmp_path):
    async def scenario(c):
        acme = [(await acme_authorize(c, f"d{i}")).json() for i in range(200)]
        globex = [(await globex_charge(c, f"d{i}")).json()["charge"] for i in range(200)]
        return acme, globex

    def declines(seed):
        acme, globex = run(make_app(tmp_path, seed=seed), scenario)
        assert all(a["decline_code"] == "insufficient_funds" for a in acme if a["status"] == "DECLINED")
        assert {a["status"] for a in acme} == {"APPROVED", "DECLINED"}
        assert {g["result"] for g in globex} == {"OK", "REFUSED"}
        return sum(a["status"] == "DECLINED" for a in acme), sum(g["result"] == "REFUSED" for g in globex)

    acme, globex = declines(7)
    assert 0 < acme < globex and acme <= 20 and 10 <= globex <= 35
    assert declines(7) == (acme, globex)  # deterministic for a seed


def test_latency_is_seeded_lognormal_with_a_heavier_globex_tail():
    acme, globex = Acme(7), Globex(7)
    a = sorted(acme.latency_s() for _ in range(4000))
    g = sorted(globex.latency_s() for _ in range(4000))
    assert 0.055 < statistics.median(a) < 0.065 and 0.072 < statistics.median(g) < 0.088
    assert g[3960] / statistics.median(g) > 1.2 * (a[3960] / statistics.median(a))  # p99 / p50
    # Healthy providers leave the service headroom: p99 within two thirds of the catalog's 300 ms objective.
    assert a[3960] < 0.2 and g[3960] < 0.2
    assert Acme(7).latency_s() == Acme(7).latency_s() != Acme(8).latency_s()


# --- errors ---------------------------------------------------------------------------------------------------


def test_unknown_ids_and_routes_are_404_problems(tmp_path):
    async def scenario(c):
        assert_problem(await capture(c, "acme", "acme_auth_nope", "k"), 404)
        assert_problem(await capture(c, "globex", "gx_nope", "k"), 404)
        assert_problem(await c.post("/acme/v1/authorizations/acme_auth_nope/refund",
                                    json={"amount_minor": 1, "idempotency_key": "k"}), 404)
        assert_problem(await c.post("/globex/api/charges/gx_nope/reverse",
                                    json={"amount": {"value": 1, "currency": "USD"}, "request_id": "k"}), 404)
        assert_problem(await c.post("/initech/v1/charges", json={}), 404)
        assert_problem(await c.get("/acme/v1/authorizations"), 405)

    run(make_app(tmp_path), scenario)


ACME_AUTH = {"amount_minor": 100, "currency": "USD", "reference": "r", "idempotency_key": "k"}


GLOBEX_CHARGE = {"amount": {"value": 100, "currency": "USD"}, "merchant_ref": "r", "request_id": "k"}


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/acme/v1/authorizations", {**ACME_AUTH, "amount_minor": 0}, "amount_minor"),
    ("/acme/v1/authorizations", {**ACME_AUTH, "amount_minor": "100"}, "amount_minor"),
    ("/acme/v1/authorizations", {**ACME_AUTH, "amount_minor": True}, "amount_minor"),
    ("/acme/v1/authorizations", {**ACME_AUTH, "currency": "JPY"}, "currency"),
    ("/acme/v1/authorizations", {**ACME_AUTH, "reference": ""}, "reference"),
    ("/acme/v1/authorizations", {k: v for k, v in ACME_AUTH.items() if k != "idempotency_key"}, "idempotency_key"),
    ("/acme/v1/payouts", {**ACME_AUTH, "amount_minor": -5}, "amount_minor"),
    ("/acme/v1/authorizations", [ACME_AUTH], "body"),
    ("/acme/v1/authorizations", b"{not json", "body"),
    ("/globex/api/charges", {**GLOBEX_CHARGE, "amount": 100}, "amount"),
    ("/globex/api/charges", {**GLOBEX_CHARGE, "amount": {"value": -1, "currency": "USD"}}, "amount.value"),
    ("/globex/api/charges", {**GLOBEX_CHARGE, "amount": {"value": 1, "currency": "usd"}}, "amount.currency"),
    ("/globex/api/charges", {**GLOBEX_CHARGE, "merchant_ref": 7}, "merchant_ref"),
    ("/globex/api/transfers", {k: v for k, v in GLOBEX_CHARGE.items() if k != "request_id"}, "request_id"),
])
def test_invalid_bodies_are_422_problems_naming_the_field(tmp_path, path, body, field):
    async def scenario(c):
        kw = {"content": body} if isinstance(body, bytes) else {"json": body}
        assert_problem(await c.post(path, **kw), 422, field)

    run(make_app(tmp_path), scenario)


def test_state_conflicts_are_409_and_422_problems(tmp_path):
    app = make_app(tmp_path)

    async def scenario(c):
        declined = None
        for i in range(60):
            body = (await acme_authorize(c, f"c{i}")).json()
            if body["status"] == "DECLINED":
                declined = body["id"]
                break
        assert declined, "seed 7 declines one of the first 60 acme authorizations"
        assert_problem(await capture(c, "acme", declined, "k1"), 409)
        ref = await approved(c, "acme", "ok")
        assert_problem(await c.post(f"/acme/v1/authorizations/{ref}/refund",
                                    json={"amount_minor": 1, "idempotency_key": "early"}), 409)
        await capture(c, "acme", ref, "cap")
        assert_problem(await c.post(f"/acme/v1/authorizations/{ref}/refund",
                                    json={"amount_minor": 1251, "idempotency_key": "too-much"}), 409)
        token = await approved(c, "globex", "ok")
        await capture(c, "globex", token, "cap")
        assert_problem(await c.post(f"/globex/api/charges/{token}/reverse",
                                    json={"amount": {"value": 1, "currency": "USD"}, "request_id": "r"}),
                       422, "amount.currency")

    run(app, scenario)
