"""The cost meter: provider fees counted once, infrastructure cost and its fault, driven through the HTTP API with the
provider simulator in-process; the background jobs are run by hand (run_once)."""

from __future__ import annotations

import pytest

from moneypath.reference.refservice import ledger
from tests.support.refservice import ACME_HOOK, ADMIN, authorized_payment, call, capture_event, client_for, sample


def fee_usd(catalog, provider, amount_minor) -> float:
    fee = catalog.cost.provider_fees[provider]
    return fee.fixed_usd + amount_minor / 100 * fee.bps / 10_000


def test_a_capture_the_webhook_booked_first_counts_the_fee_once_and_is_a_ledger_write(world, catalog):
    from moneypath.reference.signing import HEADER, sign

    app, _, mp = world
    auth = authorized_payment(app, "race")
    adapter = app.state.adapters["acme"]
    original = adapter.capture

    async def capture_then_webhook(*args):  # the provider's webhook wins the race to the ledger
        result = await original(*args)
        async with await client_for(app) as c:
            event = capture_event(auth)
            hooked = await c.post("/v1/webhooks/acme", content=event, headers={HEADER: sign(ACME_HOOK, event)})
        assert hooked.json()["booked"] is True
        return result

    adapter.capture = capture_then_webhook
    writes = sample(mp, "moneypath_ledger_writes_total", outcome="committed")
    captured = call(app, "POST", f"/v1/payments/{auth['id']}/capture", "race-cap")
    assert captured.status_code == 200 and captured.json()["state"] == "captured"
    with app.state.engine.connect() as conn:
        assert ledger.transactions_for(conn, auth["id"]) == ["capture"]
    assert sample(mp, "moneypath_cost_usd_total", component="provider_fee", provider="acme") == pytest.approx(
        fee_usd(catalog, "acme", auth["amount_minor"]))
    assert sample(mp, "moneypath_ledger_writes_total", outcome="committed") == writes + 2  # webhook, then API


def test_a_failed_ledger_write_then_the_retry_counts_the_capture_fee_once(world, catalog):
    app, _, mp = world
    auth = authorized_payment(app, "fee")
    call(app, "PUT", "/admin/faults/ledger_write_failure", json={"rate": 1}, headers=ADMIN)
    failed = call(app, "POST", f"/v1/payments/{auth['id']}/capture", "fee-cap")
    assert failed.status_code == 503
    assert sample(mp, "moneypath_cost_usd_total", component="provider_fee", provider="acme") == 0
    call(app, "DELETE", "/admin/faults/ledger_write_failure", headers=ADMIN)
    assert call(app, "POST", f"/v1/payments/{auth['id']}/capture", "fee-cap").status_code == 200
    assert sample(mp, "moneypath_cost_usd_total", component="provider_fee", provider="acme") == pytest.approx(
        fee_usd(catalog, "acme", auth["amount_minor"]))


def test_infrastructure_cost_accrues_and_the_cost_fault_multiplies_it(world, catalog):
    app, _, mp = world
    meter = app.state.cost
    clock = [0.0]
    meter._clock, meter._since = (lambda: clock[0]), 0.0
    clock[0] = 3600
    meter.accrue_infrastructure()
    base = catalog.cost.infrastructure_usd_per_hour
    assert sample(mp, "moneypath_cost_usd_total", component="infrastructure", provider="none") == pytest.approx(base)
    call(app, "PUT", "/admin/faults/cost_increase", json={"factor": 3}, headers=ADMIN)
    clock[0] = 7200
    meter.accrue_infrastructure()
    assert sample(mp, "moneypath_cost_usd_total", component="infrastructure", provider="none") == \
        pytest.approx(4 * base)


def test_provider_fees_read_the_amount_in_its_currency_s_exponent():
    from moneypath.catalog import load_catalog
    from moneypath.reference.refservice.cost import CostMeter
    from tests.conftest import CATALOG_PATH

    class Spent:
        def __init__(self):
            self.usd = []

        def add_cost(self, component, usd, provider="none"):
            self.usd.append((component, round(usd, 6), provider))

    c = load_catalog(CATALOG_PATH)
    provider, fee = next(iter(c.cost.provider_fees.items()))
    spent = Spent()
    meter = CostMeter(spent, c)
    for currency in ("EUR", "JPY", "KWD"):
        meter.provider_fee(provider, 6235, currency)
    major = {"EUR": 62.35, "JPY": 6235, "KWD": 6.235}
    assert spent.usd == [("provider_fee", round(fee.fixed_usd + major[cur] * fee.bps / 10_000, 6), provider)
                         for cur in ("EUR", "JPY", "KWD")]
