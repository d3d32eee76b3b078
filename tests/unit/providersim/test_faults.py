"""The provider simulator's faults (moneypath.reference.providersim.simulator_faults) and their admin API: each fault takes
effect and clears; the registry validates; tokens and the enable switch guard it in-process (httpx.ASGITransport),
with a real signed-webhook receiver."""

from __future__ import annotations

import time

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
