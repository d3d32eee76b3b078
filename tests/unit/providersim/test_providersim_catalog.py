"""The provider simulator reads the catalog: a foreign team's providers (komoju, knet) and currencies
(JPY without a minor unit, KWD with three decimals) are what it serves, what it settles and what its
faults hit; the reference catalog's acme and globex keep the styles the reference adapters speak."""

from __future__ import annotations

import re

import pytest

from moneypath.reference.providersim import SimConfig, create_app
from moneypath.reference.providersim.__main__ import main, parse_args
from moneypath.reference.providersim.providers import StyleError, styles_for
from tests.conftest import FOREIGN_PATH
from tests.support.providersim import (
    TOKEN_SECRET,
    WEBHOOK_SECRET,
    admin_headers,
    assert_problem,
    run,
    settlement_rows,
)


@pytest.fixture
def hooks(server):
    server.reset()
    return server


def foreign_app(tmp_path, foreign, receiver=None, styles=None, **kw):
    return create_app(SimConfig.from_catalog(foreign, styles, settlement_dir=tmp_path / "settlements",
                                             webhook_url=receiver.url if receiver else None,
                                             webhook_secret=WEBHOOK_SECRET, token_secret=TOKEN_SECRET,
                                             latency_scale=0, **kw))


async def komoju_authorize(c, key, amount=6235, currency="JPY"):
    return await c.post("/komoju/v1/authorizations", json={"amount_minor": amount, "currency": currency,
                                                           "reference": f"tix-{key}", "idempotency_key": key})


async def knet_charge(c, key, amount=6235, currency="KWD"):
    return await c.post("/knet/api/charges", json={"amount": {"value": amount, "currency": currency},
                                                   "merchant_ref": f"tix-{key}", "request_id": key})


async def komoju_approved(c, prefix):
    for i in range(30):
        body = (await komoju_authorize(c, f"{prefix}-{i}")).json()
        if body["status"] == "APPROVED":
            return body["id"]
    raise AssertionError("no komoju approval in 30 tries")


async def knet_approved(c, prefix):
    for i in range(30):
        charge = (await knet_charge(c, f"{prefix}-{i}")).json()["charge"]
        if charge["result"] == "OK":
            return charge["token"]
    raise AssertionError("no knet approval in 30 tries")


# --- which style each provider speaks ---------------------------------------------------------------------------


def test_style_rule_reference_names_then_alternating_in_catalog_order():
    assert styles_for(["acme", "globex"]) == {"acme": "flat", "globex": "nested"}
    assert styles_for(["komoju", "knet"]) == {"komoju": "flat", "knet": "nested"}
    # acme and globex keep theirs wherever they stand; the others go by position (even flat, odd nested).
    assert styles_for(["globex", "acme", "komoju", "knet", "paypay"]) == {
        "globex": "nested", "acme": "flat", "komoju": "flat", "knet": "nested", "paypay": "flat"}
    assert styles_for(["komoju", "knet"], {"komoju": "nested"}) == {"komoju": "nested", "knet": "nested"}
    assert styles_for(["acme", "globex"], {"globex": "flat"}) == {"acme": "flat", "globex": "flat"}


@pytest.mark.parametrize(("chosen", "words"), [
    ({"kommoju": "nested"}, ["kommoju is not a provider of the catalog", "komoju, knet", "did you mean komoju?"]),
    ({"acme": "flat"}, ["acme is not a provider of the catalog", "(known: komoju, knet)"]),
    ({"knet": "nestd"}, ["nestd is not a style", "(known: flat, nested)", "did you mean nested?"]),
])
def test_an_unknown_provider_or_style_is_refused_with_a_hint(chosen, words):
    with pytest.raises(StyleError) as exc:
        styles_for(["komoju", "knet"], chosen)
    assert "\n" not in str(exc.value) and all(w in str(exc.value) for w in words), str(exc.value)


def test_the_in_process_default_is_the_shipped_catalog(tmp_path, catalog):
    config = SimConfig(tmp_path, None, WEBHOOK_SECRET, TOKEN_SECRET)
    assert config.providers == tuple(catalog.providers)
    assert dict(config.currencies) == {code: catalog.exponent(code) for code in catalog.currencies}
    assert SimConfig.from_catalog(catalog, settlement_dir=tmp_path, webhook_url=None, webhook_secret=WEBHOOK_SECRET,
                                  token_secret=TOKEN_SECRET) == config


# --- a foreign catalog served -----------------------------------------------------------------------------------


def test_foreign_providers_are_served_in_their_styles_and_currencies(tmp_path, foreign):
    app = foreign_app(tmp_path, foreign)

    async def scenario(c):
        health = (await c.get("/healthz")).json()
        assert health["providers"] == ["knet", "komoju"]
        assert health["styles"] == {"komoju": "flat", "knet": "nested"}
        assert health["currencies"] == {"JPY": 0, "KWD": 3}

        ref = await komoju_approved(c, "k")  # flat style, JPY
        assert re.fullmatch(r"komoju_auth_[0-9a-f]+", ref)
        r = await c.post(f"/komoju/v1/authorizations/{ref}/capture", json={"idempotency_key": "cap-1"})
        assert r.status_code == 200 and r.json() == {"id": ref, "status": "CAPTURED"}
        r = await c.post(f"/komoju/v1/authorizations/{ref}/refund", json={"amount_minor": 235, "idempotency_key": "rf"})
        assert r.status_code == 200 and r.json() == {"id": ref, "status": "REFUNDED", "amount_minor": 235}
        assert app.state.providers["komoju"].charges[ref].refunded_minor == 235
        r = await c.post("/komoju/v1/payouts", json={"amount_minor": 1000, "currency": "JPY", "reference": "po",
                                                     "idempotency_key": "po"})
        assert r.status_code == 200 and r.json()["status"] == "PAID"

        token = await knet_approved(c, "n")  # nested style, KWD: 6235 minor units are KWD 6.235
        assert re.fullmatch(r"knet_[0-9a-f]+", token)
        r = await c.post(f"/knet/api/charges/{token}/settle", json={"request_id": "settle-1"})
        assert r.json() == {"charge": {"token": token, "result": "COMPLETE"}}
        r = await c.post(f"/knet/api/charges/{token}/reverse",
                         json={"amount": {"value": 6235, "currency": "KWD"}, "request_id": "rev"})
        assert r.status_code == 200 and r.json()["result"] == "REVERSED"
        r = await c.post(f"/knet/api/charges/{token}/reverse",
                         json={"amount": {"value": 1, "currency": "KWD"}, "request_id": "rev-2"})
        assert "0 left to refund" in assert_problem(r, 409)["detail"]
        return ref, token, await flush(c)

    ref, token, flushed = run(app, scenario)
    assert sorted(re.sub(r"-\d{14}-\d{4}\.csv$", "", f) for f in flushed["files"]) == ["knet", "komoju"]
    rows = settlement_rows(tmp_path, flushed["files"])
    assert sorted((r["provider_ref"], r["amount_minor"], r["currency"], r["status"]) for r in rows) == sorted(
        [(ref, "6235", "JPY", "SETTLED"), (token, "6235", "KWD", "COMPLETE")])


def test_the_reference_providers_are_unknown_to_a_foreign_simulator(tmp_path, foreign):
    async def scenario(c):
        for path in ("/acme/v1/authorizations", "/globex/api/charges"):
            body = assert_problem(await c.post(path, json={}), 404)
            assert body["type"].endswith("/unknown-provider") and "komoju, knet" in body["detail"], body
        body = assert_problem(await c.post("/komoj/v1/authorizations", json={}), 404)
        assert "did you mean komoju?" in body["detail"]
        # A provider of the catalog spoken to in the other style: the 404 says which paths it has.
        body = assert_problem(await c.post("/komoju/api/charges", json={}), 404)
        assert "komoju speaks the flat style" in body["detail"] and "/komoju/v1/authorizations" in body["detail"]
        assert_problem(await c.get("/komoju/v1/authorizations"), 405)

    run(foreign_app(tmp_path, foreign), scenario)


def test_only_the_catalogs_currencies_are_accepted_in_their_own_minor_units(tmp_path, foreign):
    async def scenario(c):
        body = assert_problem(await komoju_authorize(c, "usd", currency="USD"), 422, "currency")
        assert body["detail"] == "currency: must be one of JPY, KWD"
        # 6.235 is how KWD reads, not what it is sent as: the detail says what one KWD is in minor units.
        body = assert_problem(await knet_charge(c, "frac", amount=6.235), 422, "amount.value")
        assert body["detail"] == "amount.value: must be a positive integer in minor units of KWD (KWD 1.000 is 1000)"
        body = assert_problem(await komoju_authorize(c, "jpy", amount=0), 422, "amount_minor")
        assert body["detail"].endswith("minor units of JPY (JPY 1 is 1)")
        assert (await komoju_authorize(c, "kwd", amount=6235, currency="KWD")).status_code == 201
        assert (await knet_charge(c, "big", amount=1_000_000, currency="JPY")).status_code == 200

    run(foreign_app(tmp_path, foreign), scenario)


def test_a_style_can_be_chosen_per_provider(tmp_path, foreign):
    async def scenario(c):
        assert (await c.get("/healthz")).json()["styles"] == {"komoju": "nested", "knet": "nested"}
        r = await c.post("/komoju/api/charges", json={"amount": {"value": 500, "currency": "JPY"},
                                                      "merchant_ref": "t", "request_id": "t"})
        assert r.status_code == 200 and r.json()["charge"]["token"].startswith("komoju_")
        assert_problem(await komoju_authorize(c, "flat"), 404)

    run(foreign_app(tmp_path, foreign, styles={"komoju": "nested"}), scenario)
    with pytest.raises(StyleError, match="did you mean komoju"):
        foreign_app(tmp_path, foreign, styles={"komojo": "nested"})


# --- faults hit the catalog's providers -------------------------------------------------------------------------


def test_faults_target_the_catalogs_providers(tmp_path, foreign):
    app = foreign_app(tmp_path, foreign, enable_faults=True)

    async def scenario(c):
        h = admin_headers()
        body = assert_problem(await c.put("/admin/faults/error_rate", json={"provider": "acme", "rate": 1}, headers=h),
                              422, "provider")
        assert body["detail"] == "provider: must be one of komoju, knet"
        r = await c.put("/admin/faults/error_rate", json={"provider": "knet", "rate": 1}, headers=h)
        assert r.status_code == 200, r.text
        assert "knet is failing" in assert_problem(await knet_charge(c, "down"), 503)["detail"]
        assert app.state.providers["knet"].charges == {}
        assert (await komoju_authorize(c, "up")).status_code == 201  # the other provider is healthy
        r = await c.put("/admin/faults/settlement_alter", json={"provider": "komoju", "rate": 1, "delta_minor": -35},
                        headers=h)
        assert r.status_code == 200, r.text
        ref = await komoju_approved(c, "alt")
        await c.post(f"/komoju/v1/authorizations/{ref}/capture", json={"idempotency_key": "cap"})
        listed = (await c.get("/admin/faults", headers=h)).json()["faults"]
        assert sorted((f["name"], f["provider"]) for f in listed) == [("error_rate", "knet"),
                                                                       ("settlement_alter", "komoju")]
        return await flush(c)

    flushed = run(app, scenario)
    assert [r["amount_minor"] for r in settlement_rows(tmp_path, flushed["files"])] == ["6200"]


def test_webhooks_go_to_each_catalog_provider(tmp_path, foreign, hooks):
    async def scenario(c):
        ref = await komoju_approved(c, "w")
        await c.post(f"/komoju/v1/authorizations/{ref}/capture", json={"idempotency_key": "cap"})
        token = await knet_approved(c, "w")
        await c.post(f"/knet/api/charges/{token}/settle", json={"request_id": "cap"})

    run(foreign_app(tmp_path, foreign, hooks), scenario)
    assert hooks.rejected == []
    assert sorted((p, e["provider"], e["currency"], e["amount_minor"], e["status"]) for p, e, *_ in hooks.events) == [
        ("knet", "knet", "KWD", 6235, "COMPLETE"), ("komoju", "komoju", "JPY", 6235, "CAPTURED")]


async def flush(c):
    r = await c.post("/admin/settlements/flush", headers=admin_headers())
    assert r.status_code == 200, r.text
    return r.json()


# --- command line -----------------------------------------------------------------------------------------------


@pytest.fixture
def env_secrets(monkeypatch):
    monkeypatch.setenv("MONEYPATH_WEBHOOK_SECRET", "w")
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "t")


def test_the_catalog_defaults_to_the_environments_then_moneypath_yaml(monkeypatch):
    monkeypatch.setenv("MONEYPATH_CATALOG", str(FOREIGN_PATH))
    assert parse_args([]).catalog == str(FOREIGN_PATH)
    assert parse_args(["--catalog", "x.yaml"]).catalog == "x.yaml"
    monkeypatch.delenv("MONEYPATH_CATALOG")
    assert parse_args([]).catalog == "moneypath.yaml"


@pytest.mark.parametrize(("args", "words"), [
    (["--style", "kommoju=nested"], ["--style 'kommoju=nested': kommoju is not a provider", "did you mean komoju?"]),
    (["--style", "komoju=nestd"], ["--style 'komoju=nestd': nestd is not a style", "did you mean nested?"]),
    (["--style", "komoju"], ["--style 'komoju': expected PROVIDER=STYLE, e.g. komoju=nested"]),
    (["--style", "knet=flat", "--style", "knet=nested"], ["knet was given the flat style already"]),
])
def test_bad_styles_are_one_line_and_exit_2(env_secrets, capsys, args, words):
    assert main(["--catalog", str(FOREIGN_PATH), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("providersim: error: --style "), err
    assert all(w in err for w in words), err


def test_a_catalog_that_does_not_load_is_one_line_and_exit_2(env_secrets, capsys, tmp_path):
    assert main(["--catalog", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert err == f"providersim: error: {tmp_path / 'nope.yaml'}: file not found\n"
    broken = tmp_path / "broken.yaml"
    broken.write_text(FOREIGN_PATH.read_text().replace("currencies: [JPY, KWD]", "currencies: []")
                      .replace("service: tickets", "service: ''"))
    assert main(["--catalog", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"providersim: error: {broken}:"), err
    assert re.search(r"\(and \d+ more: moneypath catalog check --catalog ", err), err


def test_help_names_the_catalog_and_the_styles(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert exit_.value.code == 0
    for words in ("--catalog PATH", "$MONEYPATH_CATALOG", "--style PROVIDER=STYLE", "flat or nested",
                  "acme is flat, globex nested"):
        assert words in out, words
