"""Synthetic money-path events recorded through the library, for `moneypath metrics sample`.

Deterministic (seeded), every signal of the catalog's enabled features touched (a disabled
feature's methods are no-ops and its signals are not in the catalog), latency recorded inside
sampled spans so the OpenMetrics output shows trace-id exemplars. Label values come from the
catalog (providers, currencies, methods, operations, queues). Each payment is charged in one of
the catalog's currencies, in that currency's own minor units; provider fees follow the cost
model (when the cost feature is on) on the amount in major units read as USD: there is no FX.
Uses a private registry; the spans are seeded, non-recording API spans, so the core install
(no OpenTelemetry SDK) runs it.
"""

from __future__ import annotations

import random
import time

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import CollectorRegistry

from moneypath.catalog import Catalog, load_catalog
from moneypath.catalog.conventions import Key
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.instrument.exposition import render

_OUTCOMES = (("approved", 0.9), ("declined", 0.08), ("error", 0.015), ("timeout", 0.005))
# Amounts span these major units in every currency (5.00 to 500.00, JPY 5 to 500, KWD 5.000 to 500.000).
_MAJOR_MIN, _MAJOR_MAX = 5, 500


def _declared(c: Catalog, key: str, label: str, preferred: tuple[str, ...] = ()) -> list[str]:
    """A signal's declared values of a label, the preferred ones first; [] when the catalog has neither."""
    sig = c.signals.get(key)
    values = list(sig.labels.get(label, ())) if sig is not None else []
    return [v for v in preferred if v in values] + [v for v in values if v not in preferred]


def record_sample(mp: MoneyPath, payments: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    c = mp.catalog
    providers = list(c.providers)
    currencies = c.currencies
    cost = c.cost if c.enabled("cost") else None
    fees = cost.provider_fees if cost is not None else {}
    methods = _declared(c, Key.AUTHORIZATION_DURATION_SECONDS, "method") or ["other"]
    weighted_methods = (methods[0], *methods)  # the first (usually card) twice as likely
    operations = _declared(c, Key.PROVIDER_REQUESTS_TOTAL, "operation", ("authorize",)) or ["other"]
    authorize = operations[0]
    route = (_declared(c, Key.HTTP_REQUEST_DURATION_SECONDS, "route") or ["other"])[0]  # the first: the payment call
    verb = (_declared(c, Key.HTTP_REQUEST_DURATION_SECONDS, "method", ("POST",)) or ["other"])[0]
    outcomes, weights = zip(*_OUTCOMES)
    for i in range(payments):
        provider = providers[i % len(providers)]
        currency = currencies[i // len(providers) % len(currencies)]  # every provider in every currency
        span = NonRecordingSpan(SpanContext(rng.getrandbits(128) | 1, rng.getrandbits(64) | 1, is_remote=False,
                                            trace_flags=TraceFlags(TraceFlags.SAMPLED)))
        with trace.use_span(span):
            seconds = rng.lognormvariate(-2.3, 0.5)
            outcome = rng.choices(outcomes, weights)[0]
            mp.record_provider_call(provider, authorize, "success" if outcome in ("approved", "declined") else outcome,
                                    seconds * 0.8)
            mp.record_authorization(provider, rng.choice(weighted_methods), outcome, seconds)
            mp.record_http(route, verb, 502 if outcome in ("error", "timeout") else 200, seconds * 1.05)
            if outcome == "approved":
                mp.record_ledger_write("committed", rng.uniform(0.001, 0.02))
                scale = 10 ** c.exponent(currency)
                amount_minor = rng.randint(_MAJOR_MIN * scale, _MAJOR_MAX * scale)
                fee = fees.get(provider)
                if fee:
                    mp.add_cost("provider_fee", fee.fixed_usd + c.major_units(amount_minor, currency) * fee.bps / 10_000,
                                provider)
        decision_score = rng.betavariate(1.2, 12)
        mp.record_fraud_decision("decline" if decision_score > 0.7 else "review" if decision_score > 0.4 else "approve",
                                 decision_score)
    mp.record_ledger_write("conflict", 0.004)
    if cost is not None:
        mp.add_cost("infrastructure", cost.infrastructure_usd_per_hour / 3600)
    for currency in currencies:
        mp.set_ledger_imbalance(currency, 0)
    now = time.time()
    for provider in providers:
        mp.record_reconciliation(provider, 120.0, succeeded_at=now - 60)
    for detector in _declared(c, Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS, "detector"):
        mp.record_detector_run(detector, now - 60)  # each detector ran a minute ago (a no-op for one that is off)
        mp.set_circuit_state(provider, "closed")
        mp.count_webhook(provider, "accepted")
    mp.count_provider_retry(providers[0], authorize)
    mp.count_idempotent_replay((_declared(c, Key.IDEMPOTENT_REPLAYS_TOTAL, "operation", ("authorize",)) or [authorize])[0])
    for depth, queue in enumerate(_declared(c, Key.QUEUE_DEPTH, "queue")):
        mp.set_queue_depth(queue, 3 if depth == 0 else 0)


def sample_exposition(catalog_path: str, fmt: str = "openmetrics", payments: int = 200) -> str:
    mp = MoneyPath(load_catalog(catalog_path), PrometheusBackend(CollectorRegistry()))
    record_sample(mp, payments)
    accept = "application/openmetrics-text; version=1.0.0" if fmt == "openmetrics" else ""
    body, _ = render(mp.registry, accept)
    return body.decode()
