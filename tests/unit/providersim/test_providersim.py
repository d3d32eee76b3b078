"""The provider simulator in-process (httpx.ASGITransport), with a real signed-webhook receiver."""

from __future__ import annotations

import asyncio
import re
import statistics
import time

import pytest

from moneypath.reference.providersim.__main__ import main
from moneypath.reference.providersim.providers import Acme, Globex
from tests.support.providersim import (
    acme_authorize,
    admin_headers,
    approved,
    assert_problem,
    capture,
    clear_fault,
    flush,
    globex_charge,
    make_app,
    run,
    set_fault,
    settlement_rows,
)

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


# --- webhooks -------------------------------------------------------------------------------------------------


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
    assert receiver.rejected == []  # every signature verified by moneypath.reference.signing.Verifier
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


# --- settlement files -----------------------------------------------------------------------------------------


def test_settlement_files_list_captures_once_and_atomically(tmp_path):
    async def scenario(c):
        refs = [await approved(c, "acme", f"s{i}") for i in range(2)]
        for ref in refs:
            await capture(c, "acme", ref, f"cap-{ref}")
        await approved(c, "acme", "not-captured")
        await c.post("/acme/v1/payouts", json={"amount_minor": 5, "currency": "USD", "reference": "p",
                                               "idempotency_key": "p"})
        token = await approved(c, "globex", "s")
        await capture(c, "globex", token, "cap")
        first = await flush(c)
        again = await flush(c)
        return refs, token, first, again

    refs, token, first, again = run(make_app(tmp_path), scenario)
    assert first["lines"] == 3 and len(first["files"]) == 2 and again == {"files": [], "lines": 0}
    assert all(re.fullmatch(r"(acme|globex)-\d{14}-\d{4}\.csv", name) for name in first["files"])
    assert sorted(p.name for p in (tmp_path / "settlements").iterdir()) == sorted(first["files"])  # no temp files
    rows = settlement_rows(tmp_path, first["files"])
    assert sorted((r["provider_ref"], r["amount_minor"], r["currency"], r["status"]) for r in rows) == sorted(
        [(refs[0], "1250", "USD", "SETTLED"), (refs[1], "1250", "USD", "SETTLED"), (token, "4200", "EUR", "COMPLETE")])
    assert all(r["reference"].startswith("ord-") and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["settled_at"])
               for r in rows)


def test_failed_settlement_write_leaves_nothing_and_keeps_the_lines(tmp_path, monkeypatch):
    import moneypath._common.atomic as atomic  # the settlement file is written through it

    app = make_app(tmp_path)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    async def scenario(c):
        await capture(c, "acme", await approved(c, "acme", "f"), "cap")
        with monkeypatch.context() as m:
            m.setattr(atomic.os, "replace", broken_replace)
            assert_problem(await c.post("/admin/settlements/flush", headers=admin_headers()), 500)
            assert list((tmp_path / "settlements").iterdir()) == []  # no partial file, no temp file
        return await flush(c)

    result = run(app, scenario)
    assert result["lines"] == 1 and len(settlement_rows(tmp_path, result["files"])) == 1


def test_settlement_files_are_also_written_periodically(tmp_path):
    app = make_app(tmp_path, settlement_interval_s=0.05)

    async def scenario(c):
        async with app.router.lifespan_context(app):
            await capture(c, "globex", await approved(c, "globex", "p"), "cap")
            for _ in range(100):
                if list((tmp_path / "settlements").glob("globex-*.csv")):
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("no periodic settlement file within 2 s")

    run(app, scenario)
    assert not list((tmp_path / "settlements").glob(".*"))


# --- faults ---------------------------------------------------------------------------------------------------


def test_fault_error_rate_returns_503_without_effect_and_clears(tmp_path):
    app = make_app(tmp_path, enable_faults=True)

    async def scenario(c):
        await set_fault(c, "error_rate", provider="acme", rate=1)
        assert_problem(await acme_authorize(c, "e1"), 503)
        assert app.state.providers["acme"].charges == {}
        assert (await globex_charge(c, "e1")).status_code == 200  # the other provider is healthy
        await clear_fault(c, "error_rate")
        assert (await acme_authorize(c, "e1")).status_code == 201

    run(app, scenario)


def test_fault_duplicate_webhooks_sends_the_same_body_twice_and_clears(tmp_path, receiver):
    async def scenario(c):
        await set_fault(c, "duplicate_webhooks", provider="acme", rate=1)
        await capture(c, "acme", await approved(c, "acme", "d1"), "cap1")
        await clear_fault(c, "duplicate_webhooks")
        await capture(c, "acme", await approved(c, "acme", "d2"), "cap2")

    run(make_app(tmp_path, receiver, enable_faults=True), scenario)
    assert receiver.rejected == []
    by_ref: dict[str, list] = {}
    for _, event, body, signature in receiver.events:
        by_ref.setdefault(event["provider_ref"], []).append((body, signature))
    assert sorted(len(v) for v in by_ref.values()) == [1, 2]  # the second capture, after clearing, sent once
    (a, b), = (v for v in by_ref.values() if len(v) == 2)
    assert a[0] == b[0] and a[1] != b[1]  # same body, fresh signature (so the receiver's replay check passes)


def test_fault_out_of_order_webhooks_reverses_pairs_and_clearing_releases(tmp_path, receiver):
    app = make_app(tmp_path, receiver, enable_faults=True)

    async def scenario(c):
        refs = [await approved(c, "acme", f"o{i}") for i in range(4)]
        await set_fault(c, "out_of_order_webhooks", provider="acme")
        for i in range(3):
            await capture(c, "acme", refs[i], f"cap{i}")
        await app.state.webhooks.drain(10)
        held_back = [e["provider_ref"] for _, e, *_ in receiver.events]
        await clear_fault(c, "out_of_order_webhooks")  # releases the third
        await app.state.webhooks.drain(10)
        await capture(c, "acme", refs[3], "cap3")
        return refs, held_back

    refs, held_back = run(app, scenario)
    assert held_back == [refs[1], refs[0]]  # the first pair, reversed; the third is held for a partner
    assert [e["provider_ref"] for _, e, *_ in receiver.events] == [refs[1], refs[0], refs[2], refs[3]]


def test_fault_duplicate_capture_writes_two_lines_and_clears(tmp_path):
    async def scenario(c):
        await set_fault(c, "duplicate_capture", provider="acme", rate=1)
        dup = await approved(c, "acme", "dc1")
        assert (await capture(c, "acme", dup, "cap1")).json()["status"] == "CAPTURED"
        await clear_fault(c, "duplicate_capture")
        single = await approved(c, "acme", "dc2")
        await capture(c, "acme", single, "cap2")
        return dup, single, await flush(c)

    dup, single, result = run(make_app(tmp_path, enable_faults=True), scenario)
    refs = [r["provider_ref"] for r in settlement_rows(tmp_path, result["files"])]
    assert sorted(refs) == sorted([dup, dup, single])


def test_fault_settlement_drop_omits_lines_and_clears(tmp_path):
    async def scenario(c):
        await set_fault(c, "settlement_drop", provider="globex", rate=1)
        await capture(c, "globex", await approved(c, "globex", "sd1"), "cap1")
        dropped = await flush(c)
        await clear_fault(c, "settlement_drop")
        await capture(c, "globex", await approved(c, "globex", "sd2"), "cap2")
        return dropped, await flush(c)

    dropped, kept = run(make_app(tmp_path, enable_faults=True), scenario)
    assert dropped["lines"] == 0 and settlement_rows(tmp_path, dropped["files"]) == []
    assert kept["lines"] == 1 and len(settlement_rows(tmp_path, kept["files"])) == 1


def test_fault_settlement_alter_changes_amounts_and_clears(tmp_path):
    async def scenario(c):
        await set_fault(c, "settlement_alter", provider="acme", rate=1, delta_minor=-7)
        await capture(c, "acme", await approved(c, "acme", "sa1"), "cap1")
        altered = await flush(c)
        await clear_fault(c, "settlement_alter")
        await capture(c, "acme", await approved(c, "acme", "sa2"), "cap2")
        return altered, await flush(c)

    altered, exact = run(make_app(tmp_path, enable_faults=True), scenario)
    assert [r["amount_minor"] for r in settlement_rows(tmp_path, altered["files"])] == ["1243"]
    assert [r["amount_minor"] for r in settlement_rows(tmp_path, exact["files"])] == ["1250"]


def test_fault_registry_lists_validates_and_clears_per_provider(tmp_path):
    async def scenario(c):
        h = admin_headers()
        assert_problem(await c.put("/admin/faults/meteor", json={"provider": "acme"}, headers=h), 404)
        assert_problem(await c.delete("/admin/faults/meteor", headers=h), 404)
        for body, field in [({"provider": "acme", "rate": 2}, "rate"), ({"provider": "acme", "rate": "0.5"}, "rate"),
                            ({"rate": 0.5}, "provider"), ({"provider": "initech", "rate": 0.5}, "provider"),
                            ({"provider": "acme", "rate": 0.5, "burst": 1}, "burst"), ({"provider": "acme"}, "rate")]:
            assert_problem(await c.put("/admin/faults/error_rate", json=body, headers=h), 422, field)
        assert_problem(await c.put("/admin/faults/settlement_alter", json={"provider": "acme", "rate": 1}, headers=h),
                       422, "delta_minor")
        assert_problem(await c.put("/admin/faults/latency", content=b"nope", headers=h), 422, "body")
        assert (await c.get("/admin/faults", headers=h)).json() == {"faults": []}
        await set_fault(c, "error_rate", provider="acme", rate=0.5)
        await set_fault(c, "error_rate", provider="globex", rate=0.25)
        assert len((await c.get("/admin/faults", headers=h)).json()["faults"]) == 2
        r = await c.delete("/admin/faults/error_rate", params={"provider": "acme"}, headers=h)
        assert [f | {"ends_in_s": 0} for f in r.json()["cleared"]] == [
            {"name": "error_rate", "provider": "acme", "rate": 0.5, "ends_in_s": 0}]
        left = (await c.get("/admin/faults", headers=h)).json()["faults"]
        assert len(left) == 1 and 899 < left[0].pop("ends_in_s") <= 900  # the default duration: 15 minutes
        assert left == [{"name": "error_rate", "provider": "globex", "rate": 0.25}]

    run(make_app(tmp_path, enable_faults=True), scenario)


def test_admin_endpoints_require_a_valid_token_with_the_scope(tmp_path):
    async def scenario(c):
        assert_problem(await c.get("/admin/faults"), 401)
        r = await c.get("/admin/faults", headers={"authorization": "Bearer junk"})
        assert assert_problem(r, 401) and r.headers["www-authenticate"].startswith("Bearer")
        assert_problem(await c.get("/admin/faults", headers=admin_headers(secret=b"other")), 401)
        expired = assert_problem(await c.get("/admin/faults", headers=admin_headers(ttl_s=60, now=time.time() - 120)),
                                 401)
        assert "expired" in expired["detail"]
        assert_problem(await c.get("/admin/faults", headers=admin_headers(scopes=["payments:write"])), 403)
        assert_problem(await c.post("/admin/settlements/flush"), 401)
        assert_problem(await c.post("/admin/settlements/flush", headers=admin_headers(scopes=["payments:read"])), 403)

    run(make_app(tmp_path, enable_faults=True), scenario)


def test_faults_are_refused_unless_enabled(tmp_path):
    async def scenario(c):
        for request in (c.get("/admin/faults", headers=admin_headers()),
                        c.put("/admin/faults/error_rate", json={"provider": "acme", "rate": 1}, headers=admin_headers()),
                        c.delete("/admin/faults/error_rate", headers=admin_headers())):
            assert "--enable-faults" in assert_problem(await request, 403)["detail"]
        assert (await c.post("/admin/settlements/flush", headers=admin_headers())).status_code == 200
        assert (await acme_authorize(c, "still-works")).status_code == 201

    run(make_app(tmp_path), scenario)


# --- command line ---------------------------------------------------------------------------------------------


def test_main_needs_both_secrets(monkeypatch, capsys):
    monkeypatch.delenv("MONEYPATH_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "t")
    assert main(["--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MONEYPATH_WEBHOOK_SECRET" in err and "MONEYPATH_TOKEN_SECRET" not in err


def test_main_help_describes_every_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for option in ("--host", "--port", "--settlement-dir", "--webhook-url", "--enable-faults", "--latency-scale",
                   "--seed", "--settlement-interval", "MONEYPATH_TOKEN_SECRET"):
        assert option in out


def test_the_callers_correlation_id_comes_back_in_the_webhook(tmp_path, receiver):
    async def scenario(c):
        ref = await approved(c, "acme", "cid")
        r = await c.post(f"/acme/v1/authorizations/{ref}/capture", json={"idempotency_key": "cap-cid"},
                         headers={"x-correlation-id": "pay-corr-0001"})
        assert r.status_code == 200

    run(make_app(tmp_path, receiver), scenario)
    events = [e for _, e, *_ in receiver.events if e["event"] == "capture.settled"]
    assert [e["correlation_id"] for e in events] == ["pay-corr-0001"]


def test_the_simulator_process_settles_its_heap_and_freezes_what_it_keeps(monkeypatch, tmp_path):
    import gc

    import uvicorn

    from moneypath.reference.providersim.__main__ import HEAP_FREEZE_INTERVAL_S, main

    monkeypatch.setenv("MONEYPATH_WEBHOOK_SECRET", "w" * 32)
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "t" * 32)
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, options=options))
    thresholds = gc.get_threshold()
    try:
        assert main(["--port", "1", "--settlement-dir", str(tmp_path)]) == 0
        assert gc.get_threshold()[0] > thresholds[0] and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert served["app"].state.config.heap_freeze_interval_s == HEAP_FREEZE_INTERVAL_S > 0
