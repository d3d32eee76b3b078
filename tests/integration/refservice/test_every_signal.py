"""Every signal in the catalog is emitted by the running reference service under a short load.

The real stack (provider simulator, service, Prometheus with 1 s scrapes) runs payments,
captures, refunds, payouts and replays for a few seconds while the drill faults that make
the rarer signals move are switched on and off over HTTP. Then: each counter and histogram
has a non-zero sample on the service's /metrics, each gauge has a series, and Prometheus has
scraped every one of them.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from moneypath.catalog import load_catalog
from moneypath.protocol.tokens import issue
from moneypath.stack import local as stack
from tests.conftest import CATALOG_PATH, wait_for
from tests.support.stack_traffic import clear, fault, payments_for

pytestmark = pytest.mark.integration

# Counters that stay at zero on a healthy, correct service (and must): they exist from the start.
ZERO_ON_PURPOSE = {"instrumentation_errors_total": "the instrumentation never failed"}








def overload(svc: str, write: dict, waves: int, at_once: int) -> dict[int, int]:
    """`waves` bursts of `at_once` authorizations sent together; the count of each status answered."""
    import asyncio
    from collections import Counter

    async def burst(client: httpx.AsyncClient) -> list[int]:
        async def one() -> int:
            body = {"amount_minor": 1000, "currency": "USD", "provider": "acme", "reference": "signals-overload"}
            r = await client.post(f"{svc}/v1/payments/authorize", json=body,
                                  headers={**write, "idempotency-key": uuid.uuid4().hex})
            return r.status_code
        return await asyncio.gather(*(one() for _ in range(at_once)))

    async def run() -> Counter:
        statuses: Counter = Counter()
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=at_once)) as client:
            for _ in range(waves):
                statuses.update(await burst(client))
        return statuses

    return dict(asyncio.run(run()))


def test_every_catalog_signal_is_emitted_under_load(tmp_path):
    catalog = load_catalog(CATALOG_PATH)
    state = stack.up(catalog, tmp_path / "stack", stack.StackSpec(fast=True, services=True, faults=True),
                     progress=lambda *_: None)
    try:
        secret = stack.read_secrets(tmp_path / "stack")["token_secret"].encode()
        write = {"authorization": f"Bearer {issue(secret, 'merchant_1', ['payments:write', 'payments:read'], 3600)}"}
        admin = {"authorization": f"Bearer {issue(secret, 'drill', ['admin:faults'], 3600)}"}
        svc, sim, prom = state.url("refservice"), state.url("providersim"), state.url("prometheus")
        with httpx.Client(timeout=10) as client:
            fault(client, svc, "consumer_failure", admin, queue="notifications", rate=1)
            fault(client, svc, "fraud_spike", admin, rate=0.2)
            fault(client, sim, "duplicate_capture", admin, provider="acme", rate=0.5)
            payments_for(client, svc, write, 4)
            fault(client, svc, "risk_latency", admin, extra_ms=1000)  # screening times out into the fallback
            payments_for(client, svc, write, 1)
            clear(client, svc, "risk_latency", admin)
            fault(client, sim, "error_rate", admin, provider="globex", rate=1)  # retries, then an open circuit
            payments_for(client, svc, write, 2)
            clear(client, sim, "error_rate", admin)
            payments_for(client, svc, write, 2)
            # a reference holding a card number is refused (and counted), glued to letters or not
            body = {"amount_minor": 1000, "currency": "USD", "provider": "acme", "reference": "ord4111111111111111"}
            refused = client.post(f"{svc}/v1/payments/authorize", json=body,
                                  headers={**write, "idempotency-key": uuid.uuid4().hex})
            assert refused.status_code == 422, refused.text
            # an overload: each admitted request holds the loop 50 ms; waves of 40 at once stall it, and admission
            # control refuses what the stalled loop cannot take (counted by priority)
            fault(client, svc, "request_cost", admin, extra_ms=50)
            statuses = overload(svc, write, waves=4, at_once=40)
            clear(client, svc, "request_cost", admin)
            assert statuses.get(503, 0) > 0, statuses

            def families() -> dict:
                text = client.get(f"{svc}/metrics").text
                return {f.name: f for f in text_string_to_metric_families(text)}

            def missing() -> list[str]:
                found, absent = families(), []
                for key, signal in catalog.signals.items():
                    name = catalog.metric(key)
                    family = found.get(name.removesuffix("_total"))
                    if family is None:
                        absent.append(f"{name}: no series")
                    elif signal.type != "gauge" and key not in ZERO_ON_PURPOSE and \
                            not any(s.value > 0 for s in family.samples if s.name in (name, f"{name}_count")):
                        absent.append(f"{name}: all samples are 0")
                return absent

            # Dead letters, settlement files and reconciliation runs take a few seconds to come round.
            wait_for(lambda: not missing(), 30, "every signal to move", interval_s=1)
            assert families()["moneypath_instrumentation_errors"].samples[0].value == 0

            def scraped() -> set[str]:
                r = client.get(f"{prom}/api/v1/query", params={"query": 'count by (__name__) ({__name__=~"moneypath_.+"})'})
                return {row["metric"]["__name__"] for row in r.json()["data"]["result"]}

            expected = set()
            for key, signal in catalog.signals.items():
                name = catalog.metric(key)
                expected.add(f"{name}_count" if signal.type == "histogram" else name)
            wait_for(lambda: expected <= scraped(), 15, "Prometheus to scrape every signal")
    finally:
        stack.down(tmp_path / "stack", progress=lambda *_: None)
