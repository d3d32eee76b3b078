"""A burst at rest is not overload: 10 payments each sent 10 times at once with its Idempotency-Key, to a service
whose limit holds 12 requests in flight, get no 503; the copies are answered from one execution each (the payment
replayed, or 409 while it runs) without taking an admission slot."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from moneypath.catalog.conventions import Key
from moneypath.reference.refservice.admission import LagLimit
from tests.integration.refservice.test_admission_http import serving
from tests.support.refservice import WRITE, set_fault

pytestmark = pytest.mark.integration
KEYS, COPIES = 10, 10


def test_copies_of_one_payment_take_no_admission_slot(world, catalog):
    app, sim, mp = world
    set_fault(sim, "latency", {"provider": "acme", "extra_ms": 100})  # every payment in flight while its copies come
    gate = app.state.admission
    gate.limiter = LagLimit(limit=12, min_limit=12, max_limit=12)  # the 10 payments fit, their 100 copies would not

    async def burst(port: int) -> list[tuple[str, httpx.Response]]:
        limits = httpx.Limits(max_connections=KEYS * COPIES)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:
            async def send(key: str) -> tuple[str, httpx.Response]:
                body = {"amount_minor": 2000, "currency": "EUR", "provider": "acme", "reference": key}
                return key, await client.post("/v1/payments/authorize", json=body,
                                              headers={**WRITE, "idempotency-key": key})
            return await asyncio.gather(*(send(f"burst-{k}") for k in range(KEYS) for _ in range(COPIES)))

    with serving(app) as port:
        answers = asyncio.run(burst(port))
    statuses = Counter(r.status_code for _, r in answers)
    refused = [r for _, r in answers if r.status_code == 503 and r.json().get("type", "").endswith("/overloaded")]
    assert refused == [], f"a burst at rest was refused as overload: {statuses}"
    for key in {k for k, _ in answers}:
        ids = {r.json()["id"] for k, r in answers if k == key and r.status_code < 300}
        assert len(ids) <= 1, f"{key}: {len(ids)} payments from one Idempotency-Key"
    # on a busy machine a provider call may time out (504): then a copy runs it again, never beside it; after a few
    # timeouts the circuit opens and copies are refused (503 circuit_open) without calling the provider
    samples = [s for family in mp.registry.collect() for s in family.samples]
    attempted = sum(s.value for s in samples if s.name == catalog.metric(Key.AUTHORIZATIONS_TOTAL))
    refused = sum(s.value for s in samples if s.name == catalog.metric(Key.PROVIDER_REQUESTS_TOTAL)
                  and s.labels["operation"] == "authorize" and s.labels["outcome"] == "circuit_open")
    executed = attempted - refused
    assert KEYS <= executed <= KEYS + statuses[504], f"{executed} provider calls for {KEYS} payments: {statuses}"
    assert gate.in_flight == 0 and gate.keys == {}, (gate.in_flight, gate.keys)

