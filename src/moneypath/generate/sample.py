"""Synthetic money-path events recorded through the library, for `moneypath metrics sample`.

Deterministic (seeded), every signal touched, latency recorded inside sampled spans so the
OpenMetrics output shows trace-id exemplars. Uses a private registry; the spans are seeded,
non-recording API spans, so the core install (no OpenTelemetry SDK) runs it.
"""

from __future__ import annotations

import random
import time

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import CollectorRegistry

from moneypath.catalog import load_catalog
from moneypath.instrument.exposition import render
from moneypath.instrument.prometheus import PrometheusBackend
from moneypath.instrument.signals import MoneyPath

_OUTCOMES = (("approved", 0.9), ("declined", 0.08), ("error", 0.015), ("timeout", 0.005))


def record_sample(mp: MoneyPath, payments: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    providers = list(mp.catalog.providers)
    currencies = mp.catalog.currencies
    fees = mp.catalog.cost.provider_fees
    outcomes, weights = zip(*_OUTCOMES)
    for i in range(payments):
        provider = providers[i % len(providers)]
        span = NonRecordingSpan(SpanContext(rng.getrandbits(128) | 1, rng.getrandbits(64) | 1, is_remote=False,
                                            trace_flags=TraceFlags(TraceFlags.SAMPLED)))
        with trace.use_span(span):
            seconds = rng.lognormvariate(-2.3, 0.5)
            outcome = rng.choices(outcomes, weights)[0]
            mp.record_provider_call(provider, "authorize", "success" if outcome in ("approved", "declined") else outcome,
                                    seconds * 0.8)
            mp.record_authorization(provider, rng.choice(("card", "card", "bank_transfer", "wallet")), outcome, seconds)
            if outcome == "approved":
                mp.record_ledger_write("committed", rng.uniform(0.001, 0.02))
                fee = fees.get(provider)
                if fee:
                    mp.add_cost("provider_fee", fee.fixed_usd + rng.randint(500, 50_000) / 100 * fee.bps / 10_000, provider)
        decision_score = rng.betavariate(1.2, 12)
        mp.record_fraud_decision("decline" if decision_score > 0.7 else "review" if decision_score > 0.4 else "approve",
                                 decision_score)
    mp.record_ledger_write("conflict", 0.004)
    mp.add_cost("infrastructure", mp.catalog.cost.infrastructure_usd_per_hour / 3600)
    for currency in currencies:
        mp.set_ledger_imbalance(currency, 0)
    now = time.time()
    for provider in providers:
        mp.record_reconciliation(provider, 120.0, succeeded_at=now - 60)
        mp.set_circuit_state(provider, "closed")
        mp.count_webhook(provider, "accepted")
    mp.count_provider_retry(providers[0], "authorize")
    mp.count_idempotent_replay("authorize")
    mp.set_queue_depth("notifications", 3)
    mp.set_queue_depth("compliance_log", 0)


def sample_exposition(catalog_path: str, fmt: str = "openmetrics", payments: int = 200) -> str:
    mp = MoneyPath(load_catalog(catalog_path), PrometheusBackend(CollectorRegistry()))
    record_sample(mp, payments)
    accept = "application/openmetrics-text; version=1.0.0" if fmt == "openmetrics" else ""
    body, _ = render(mp.registry, accept)
    return body.decode()
