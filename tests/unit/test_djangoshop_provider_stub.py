"""The Django shop's provider stub (tests/foreign/djangoshop/provider_stub.py) prices every capture as a stripe-like
provider reports it (a fee in US cents on each capture), and its fault switch makes captures dearer by a factor, a
canary drill's dearer release, without touching its other fault mode."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.foreign.djangoshop.provider_stub import ProviderServer, fee_cents


@contextmanager
def stub() -> Iterator[str]:
    server = ProviderServer(("127.0.0.1", 0), "paystack")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _capture(client: httpx.Client, url: str, amount: int, currency: str) -> dict:
    charge = client.post(f"{url}/v1/charges", json={"amount": amount, "currency": currency}).json()
    return client.post(f"{url}/v1/charges/{charge['id']}/capture", json={"amount": amount}).json()["captures"][-1]


@pytest.mark.parametrize(("amount", "currency", "cents"), [
    (10_000, "USD", 320),   # 100 USD: 2.9 % is 290 cents, plus 30
    (5_000, "EUR", 187),    # 50 EUR at 1.08: 54 USD, 157 + 30
    (15_000, "JPY", 321),   # 15,000 JPY (no minor digits) at 0.0067: 100.5 USD, 291 + 30
    (1_000, "KWD", 39),     # 1 KWD (3 minor digits) at 3.25: 3.25 USD, 9 + 30
])
def test_a_capture_costs_2_9_percent_of_its_usd_value_plus_30_cents(amount, currency, cents):
    assert fee_cents(amount, currency) == cents
    assert abs(fee_cents(amount, currency, 2) - 2 * cents) <= 1  # the factor multiplies the whole fee


def test_the_fee_factor_makes_captures_dearer_and_keeps_the_mode():
    with stub() as url, httpx.Client(timeout=5) as client:
        assert _capture(client, url, 10_000, "USD") | {"id": "", "created": 0} == {
            "id": "", "created": 0, "amount": 10_000, "fee": 320, "fee_currency": "usd"}
        client.post(f"{url}/admin/fault", json={"mode": "slow", "delay_s": 0.01}).raise_for_status()
        client.post(f"{url}/admin/fault", json={"fee_factor": 1.2}).raise_for_status()
        fault = client.get(f"{url}/admin/fault").json()
        assert (fault["mode"], fault["fee_factor"]) == ("slow", 1.2)
        assert _capture(client, url, 10_000, "USD")["fee"] == 384
        client.post(f"{url}/admin/fault", json={"fee_factor": 1}).raise_for_status()
        assert _capture(client, url, 10_000, "USD")["fee"] == 320
        for bad in ("dear", -1, True):
            answer = client.post(f"{url}/admin/fault", json={"fee_factor": bad})
            assert answer.status_code == 400 and "fee_factor" in answer.text, answer.text
        assert client.get(f"{url}/admin/fault").json()["fee_factor"] == 1
