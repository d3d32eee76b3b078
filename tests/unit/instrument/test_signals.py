"""Every recording method of MoneyPath (moneypath.instrument._signals) lands in the right series; a catalog that lacks
what the API needs fails at startup; exemplars carry the active trace."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from moneypath.catalog import CatalogError
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.instrument.exposition import render
from tests.conftest import CATALOG_PATH
from tests.support.signals import errors, value


def test_authorization_records_latency_and_outcome(mp):
    mp.record_authorization("acme", "card", "approved", 0.12)
    mp.record_authorization("acme", "card", "approved", 0.4)
    mp.record_authorization("globex", "wallet", "timeout", 5.5)
    labels = dict(provider="acme", method="card", outcome="approved")
    assert value(mp, "authorizations_total", **labels) == 2
    assert value(mp, "authorization_duration_seconds", "_count", **labels) == 2
    assert value(mp, "authorization_duration_seconds", "_bucket", le="0.2", **labels) == 1
    assert value(mp, "authorization_duration_seconds", "_bucket", le="0.5", **labels) == 2
    assert value(mp, "authorizations_total", provider="globex", method="wallet", outcome="timeout") == 1


def test_time_authorization_outcomes_and_exceptions_propagate(mp):
    with mp.time_authorization("acme", "card") as auth:
        auth.outcome = "declined"
    with pytest.raises(TimeoutError):
        with mp.time_authorization("acme", "card"):
            raise TimeoutError
    with pytest.raises(RuntimeError):
        with mp.time_authorization("acme", "card"):
            raise RuntimeError("provider said no")
    for outcome in ("declined", "timeout", "error"):
        assert value(mp, "authorizations_total", provider="acme", method="card", outcome=outcome) == 1


def test_ledger_writes_and_imbalance(mp):
    with mp.time_ledger_write():
        pass
    with pytest.raises(ValueError):
        with mp.time_ledger_write():
            raise ValueError
    with mp.time_ledger_write() as write:
        write.outcome = "conflict"
    mp.set_ledger_imbalance("EUR", -250)
    assert [value(mp, "ledger_writes_total", outcome=o) for o in ("committed", "failed", "conflict")] == [1, 1, 1]
    assert value(mp, "ledger_write_duration_seconds", "_count") == 3
    assert value(mp, "ledger_imbalance_minor", currency="EUR") == -250


@pytest.mark.parametrize(
    "call, key, labels, expected",
    [
        (lambda mp: mp.record_reconciliation("acme", 42.0, succeeded_at=1700000000.0),
         "reconciliation_oldest_unreconciled_seconds", {"provider": "acme"}, 42.0),
        (lambda mp: mp.record_reconciliation("acme", 42.0, succeeded_at=1700000000.0),
         "reconciliation_last_success_timestamp_seconds", {"provider": "acme"}, 1700000000.0),
        (lambda mp: mp.count_mismatch("globex", "amount_differs", 3),
         "reconciliation_mismatches_total", {"provider": "globex", "mismatch_kind": "amount_differs"}, 3),
        (lambda mp: mp.count_duplicate_charge("acme", "USD", 1999),
         "duplicate_charges_total", {"provider": "acme"}, 1),
        (lambda mp: mp.count_duplicate_charge("acme", "USD", 1999),
         "duplicate_charged_minor_total", {"currency": "USD"}, 1999),
        (lambda mp: mp.set_queue_depth("notifications", 17), "queue_depth", {"queue": "notifications"}, 17),
        (lambda mp: mp.count_dead_letter("compliance_log"), "dead_letters_total", {"queue": "compliance_log"}, 1),
        (lambda mp: mp.record_provider_call("acme", "capture", "timeout", 2.0),
         "provider_requests_total", {"provider": "acme", "operation": "capture", "outcome": "timeout"}, 1),
        (lambda mp: mp.count_provider_retry("acme", "refund"),
         "provider_retries_total", {"provider": "acme", "operation": "refund"}, 1),
        (lambda mp: mp.set_circuit_state("globex", "open"), "provider_circuit_state", {"provider": "globex"}, 2),
        (lambda mp: mp.count_idempotent_replay("capture"), "idempotent_replays_total", {"operation": "capture"}, 1),
        (lambda mp: mp.count_webhook("acme", "replayed"), "webhooks_total", {"provider": "acme", "outcome": "replayed"}, 1),
        (lambda mp: mp.record_fraud_decision("review", 0.55), "fraud_decisions_total", {"decision": "review"}, 1),
        (lambda mp: mp.count_fraud_timeout("hold"), "fraud_check_timeouts_total", {"fallback": "hold"}, 1),
        (lambda mp: mp.add_cost("provider_fee", 0.125, "acme"),
         "cost_usd_total", {"component": "provider_fee", "provider": "acme"}, 0.125),
        (lambda mp: mp.add_cost("infrastructure", 0.5),
         "cost_usd_total", {"component": "infrastructure", "provider": "none"}, 0.5),
        (lambda mp: mp.record_http("/healthz", "GET", 503, 0.01),
         "http_requests_total", {"route": "/healthz", "method": "GET", "status_class": "5xx"}, 1),
        (lambda mp: mp.count("dead_letters_total", 2, queue="notifications"),
         "dead_letters_total", {"queue": "notifications"}, 2),
        (lambda mp: mp.set("queue_depth", 5, queue="compliance_log"), "queue_depth", {"queue": "compliance_log"}, 5),
    ],
)
def test_each_signal_method_records_into_its_catalog_series(mp, call, key, labels, expected):
    call(mp)
    assert value(mp, key, **labels) == pytest.approx(expected)
    assert errors(mp) == 0


def test_histogram_side_of_provider_call_fraud_score_and_generic_observe(mp):
    mp.record_provider_call("acme", "authorize", "success", 0.07)
    mp.record_fraud_decision("approve", 0.15)
    mp.observe("provider_request_duration_seconds", 0.3, provider="globex", operation="payout")
    assert value(mp, "provider_request_duration_seconds", "_count", provider="acme", operation="authorize") == 1
    assert value(mp, "fraud_score_ratio", "_bucket", le="0.2") == 1
    assert value(mp, "provider_request_duration_seconds", "_sum", provider="globex", operation="payout") == 0.3


def test_exemplar_carries_the_active_trace_id_only_while_a_sampled_span_is_active(mp):
    tracer = TracerProvider().get_tracer("test")
    mp.record_authorization("acme", "card", "approved", 0.01)  # no span: no exemplar
    with tracer.start_as_current_span("authorize") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        mp.record_authorization("acme", "card", "approved", 0.15)
        mp.record_ledger_write("committed", 0.003)
    body = render(mp.registry, "application/openmetrics-text; version=1.0.0")[0].decode()
    exemplars = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.exemplar:
                exemplars[(sample.name, sample.labels.get("le"))] = sample.exemplar
    auth = exemplars[("moneypath_authorization_duration_seconds_bucket", "0.2")]
    assert auth.labels["trace_id"] == trace_id and auth.value == 0.15
    assert ("moneypath_authorization_duration_seconds_bucket", "0.025") not in exemplars
    assert exemplars[("moneypath_ledger_write_duration_seconds_bucket", "0.005")].labels["trace_id"] == trace_id
    # Plain text format (what promtool and old scrapers read) carries no exemplars.
    assert "trace_id" not in render(mp.registry, "")[0].decode()


def test_catalog_missing_a_signal_the_library_needs_fails_at_startup(catalog):
    broken = catalog.model_copy(deep=True)
    del broken.signals["dead_letters_total"]
    broken.signals["queue_depth"].labels = {"topic": ["a"]}
    with pytest.raises(CatalogError) as info:
        MoneyPath(broken, PrometheusBackend(CollectorRegistry()))
    assert any("signals.dead_letters_total: missing" in p for p in info.value.problems)
    assert any("signals.queue_depth: must be a gauge with labels ['queue']" in p for p in info.value.problems)


def test_from_catalog_rejects_an_unknown_backend():
    with pytest.raises(ValueError, match="unknown metrics backend 'statsd'"):
        MoneyPath.from_catalog("moneypath.yaml", backend="statsd")


def test_catalog_label_order_does_not_matter_to_the_api(catalog):
    reordered = catalog.model_copy(deep=True)
    for key in ("authorizations_total", "authorization_duration_seconds"):
        labels = reordered.signals[key].labels
        reordered.signals[key].labels = {name: labels[name] for name in ("outcome", "method", "provider")}
    mp = MoneyPath(reordered, PrometheusBackend(CollectorRegistry()))
    mp.record_authorization("globex", "wallet", "declined", 0.2)
    mp.count("authorizations_total", provider="acme", method="card", outcome="approved")
    assert value(mp, "authorizations_total", provider="globex", method="wallet", outcome="declined") == 1
    assert value(mp, "authorization_duration_seconds", "_count", provider="globex", method="wallet",
                 outcome="declined") == 1
    assert value(mp, "authorizations_total", provider="acme", method="card", outcome="approved") == 1


def test_bounded_counters_are_exported_at_zero_before_the_first_event(mp):
    # increase() over a series born at 1 misses that first event: the first duplicate must page.
    assert value(mp, "duplicate_charges_total", provider="globex") == 0
    assert value(mp, "dead_letters_total", queue="compliance_log") == 0
    assert value(mp, "reconciliation_mismatches_total", provider="acme", mismatch_kind="duplicate") == 0
    assert value(mp, "duplicate_charges_total", provider="other") == 0  # small counters: "other" too
    assert value(mp, "provider_requests_total", provider="other", operation="authorize", outcome="error") is None


def test_generic_calls_accept_labels_named_like_parameters(catalog):
    from moneypath.catalog import parse_catalog

    text = CATALOG_PATH.read_text().replace("  instrumentation_errors_total:", """  keyed_total:
    type: counter
    help: A counter with awkward label names.
    labels: {key: [a], amount: [b], value: [c]}
  instrumentation_errors_total:""")
    mp = MoneyPath(parse_catalog(text), PrometheusBackend(CollectorRegistry()))
    mp.count("keyed_total", 2, key="a", amount="b", value="c")
    assert mp.registry.get_sample_value("moneypath_keyed_total", {"key": "a", "amount": "b", "value": "c"}) == 2


def test_an_asyncio_timeout_around_the_timer_records_timeout(mp):
    import asyncio

    async def slow_authorization():
        async with asyncio.timeout(0.01):
            with mp.time_authorization("acme", "card"):
                await asyncio.sleep(1)

    with pytest.raises(TimeoutError):
        asyncio.run(slow_authorization())
    assert value(mp, "authorizations_total", provider="acme", method="card", outcome="timeout") == 1
