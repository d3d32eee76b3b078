"""The fault proxy's admin API (moneypath.stack.faultproxy.admin): off by default, a token with the admin scope,
setting, listing and clearing faults, every malformed request a 4xx problem, in-process on loopback between a test
client and a small recording upstream and webhook receiver (aiohttp; tests/support/faultproxy.py). The real process:
tests/integration/stack/test_faultproxy_process.py."""

from __future__ import annotations

from tests.support.faultproxy import admin_headers, problem_of, put, run


def test_the_admin_api_is_off_by_default():
    async def body(client, komoju, knet, service, app):
        for method, path in (("PUT", "/admin/faults/error_rate"), ("DELETE", "/admin/faults/error_rate"),
                             ("GET", "/admin/faults")):
            async with client.request(method, path, json={"provider": "komoju", "rate": 1},
                                      headers=admin_headers()) as r:
                assert r.status == 403
                assert "faults are not enabled" in (await problem_of(r))["detail"]
        async with client.post("/komoju/x") as r:
            assert r.status == 201

    run(body, enable_faults=False)


def test_the_admin_api_needs_a_token_with_the_admin_scope():
    async def body(client, komoju, knet, service, app):
        fault = {"provider": "komoju", "rate": 1}
        async with client.put("/admin/faults/error_rate", json=fault) as r:
            assert (r.status, r.headers["WWW-Authenticate"]) == (401, 'Bearer realm="faultproxy"')
            await problem_of(r)
        async with client.put("/admin/faults/error_rate", json=fault, headers=admin_headers(secret=b"other")) as r:
            assert r.status == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        async with client.delete("/admin/faults/error_rate", headers=admin_headers(["payments:write"])) as r:
            assert r.status == 403 and 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
            assert (await problem_of(r))["detail"] == "the token lacks the scope admin:faults"
        async with client.get("/admin/faults") as r:
            assert r.status == 401
        async with client.get("/admin/faults", headers=admin_headers()) as r:
            assert (r.status, await r.json()) == (200, {"faults": []})

    run(body)


def test_setting_listing_and_clearing_faults():
    async def body(client, komoju, knet, service, app):
        h = admin_headers()
        assert await put(client, "latency", provider="knet", extra_ms=1) == {
            "name": "latency", "provider": "knet", "extra_ms": 1, "ends_in_s": 900.0}
        await put(client, "latency", provider="komoju", extra_ms=1, duration_s=60)
        await put(client, "error_rate", provider="komoju", rate=0)
        async with client.get("/admin/faults", headers=h) as r:
            assert sorted((f["name"], f["provider"]) for f in (await r.json())["faults"]) == [
                ("error_rate", "komoju"), ("latency", "knet"), ("latency", "komoju")]
        async with client.delete("/admin/faults/latency?provider=knet", headers=h) as r:
            assert [f["provider"] for f in (await r.json())["cleared"]] == ["knet"]
        async with client.delete("/admin/faults/error_rate", headers=h) as r:  # every provider
            assert [f["provider"] for f in (await r.json())["cleared"]] == ["komoju"]
        async with client.get("/admin/faults", headers=h) as r:
            assert [f["name"] for f in (await r.json())["faults"]] == ["latency"]

        async with client.put("/admin/faults/meltdown", json={}, headers=h) as r:
            assert r.status == 404 and "known: error_rate, latency" in (await problem_of(r))["detail"]
        for bad, field in (({"provider": "stripe", "rate": 1}, "provider"), ({"provider": "knet", "rate": 2}, "rate"),
                           ({"provider": "knet"}, "rate"), ({"provider": "knet", "rate": 1, "colour": 1}, "colour"),
                           ({"provider": "knet", "rate": 1, "status": 200}, "status"),
                           ({"provider": "knet", "rate": 1, "duration_s": 0}, "duration_s")):
            async with client.put("/admin/faults/error_rate", json=bad, headers=h) as r:
                assert (r.status, (await problem_of(r))["field"]) == (422, field)
        async with client.put("/admin/faults/error_rate", data=b"{nope", headers=h) as r:
            assert (r.status, (await problem_of(r))["field"]) == (422, "body")
        async with client.post("/admin/faults/error_rate", headers=h) as r:
            assert (r.status, r.headers["Allow"]) == (405, "PUT, DELETE")

    run(body)


# --- hostile input to the admin API: every malformed request a 4xx problem, never a 500 -----------


DEEP = b"[" * 100_000 + b"]" * 100_000


def test_every_malformed_admin_request_is_a_4xx_problem_and_nothing_is_logged_as_a_failure(caplog):
    h = admin_headers()
    cases = [  # (method, path, body, status, words in the detail)
        ("PUT", "/admin/faults/error_rate", DEEP, 422, "nested too deeply"),
        ("PUT", "/admin/faults/error_rate", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 422, "nested too deeply"),
        ("PUT", "/admin/faults/error_rate", b"", 422, "not valid JSON"),
        ("PUT", "/admin/faults/error_rate", b"\xff\xfe", 422, "not UTF-8"),
        ("PUT", "/admin/faults/error_rate", b"[1, 2]", 422, "must be a JSON object"),
        ("PUT", "/admin/faults/error_rate", b'"komoju"', 422, "must be a JSON object"),
        ("PUT", "/admin/faults/error_rate", b"9" * 5000, 422, "not valid JSON"),
        ("PUT", "/admin/faults/error_rate", b'{"provider": "knet", "rate": NaN}', 422, "rate"),
        ("PUT", "/admin/faults/error_rate", b'{"provider": "knet", "rate": 1, "duration_s": Infinity}', 422,
         "duration_s"),
        ("PUT", "/admin/faults/error_rate", b'{"provider": "knet", "provider": "komoju", "rate": 1}', 422,
         "appears twice"),
        ("PUT", "/admin/faults/error_rate", b'{"provider": "komjuu", "rate": 1}', 422, "did you mean komoju?"),
        ("PUT", "/admin/faults/error_rate", b'{"provider": ["knet"], "rate": 1}', 422, "provider"),
        ("PUT", "/admin/faults/error_rate?provider=knet", b'{"provider": "knet", "rate": 1}', 400,
         "takes no query"),
        ("PUT", "/admin/faults/eror_rate", b"{}", 404, "did you mean error_rate?"),
        ("PUT", "/admin/faults/%ff%00", b"{}", 404, "no fault named"),
        ("DELETE", "/admin/faults/error_rate?provider=stripe", b"", 404, "known: komoju, knet"),
        ("DELETE", "/admin/faults/error_rate?provider=knett", b"", 404, "did you mean knet?"),
        ("DELETE", "/admin/faults/error_rate?provider=", b"", 404, "no such provider"),
        ("DELETE", "/admin/faults/error_rate?provider=knet&provider=komoju", b"", 400, "more than once"),
        ("DELETE", "/admin/faults/error_rate?providr=knet", b"", 400, "did you mean provider?"),
        ("DELETE", "/admin/faults/latencyy?provider=knet", b"", 404, "did you mean latency?"),
        ("GET", "/admin/faults?verbose=1", b"", 400, "takes no query"),
    ]

    async def body(client, komoju, knet, service, app):
        await put(client, "error_rate", provider="knet", rate=0)
        for method, path, data, status, words in cases:
            async with client.request(method, path, data=data, headers=h) as r:
                assert r.status == status, (method, path[:60], await r.text())
                detail = (await problem_of(r))["detail"]
                assert words in detail and "Traceback" not in detail, (path[:60], detail)
        async with client.get("/admin/faults", headers=h) as r:  # none of it cleared or changed the fault
            assert [(f["name"], f["provider"], f["rate"]) for f in (await r.json())["faults"]] == [
                ("error_rate", "knet", 0)]

    with caplog.at_level("WARNING", logger="moneypath.faultproxy"):
        run(body)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_an_unknown_provider_in_a_clear_is_a_404_naming_the_known_ones():
    async def body(client, komoju, knet, service, app):
        async with client.delete("/admin/faults/error_rate?provider=globex", headers=admin_headers()) as r:
            assert r.status == 404
            problem = await problem_of(r)
            assert problem["type"].endswith("/unknown-provider") and problem["known"] == ["komoju", "knet"]
        async with client.delete("/admin/faults/error_rate?provider=komoju", headers=admin_headers()) as r:
            assert r.status == 200 and (await r.json()) == {"cleared": []}  # a known provider with nothing set

    run(body)
