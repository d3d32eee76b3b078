"""The OpenTelemetry path: same catalog, same exported names, delivered over real OTLP/HTTP."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from moneypath.generate.sample import record_sample
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.instrument.exposition import render
from moneypath.instrument.otel import OtelBackend, instrument_name
from tests.otlp_receiver import Receiver


def exported(body: str) -> dict[str, set[frozenset]]:
    """metric family name → set of label-name sets, ignoring OTel's target/scope info."""
    out: dict[str, set[frozenset]] = {}
    for family in text_string_to_metric_families(body):
        if not family.name.startswith("moneypath_"):
            continue
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            names = frozenset(k for k in s.labels if k not in ("le",) and not k.startswith("otel_"))
            out.setdefault(s.name, set()).add(names)
    return out


def test_otel_path_exports_the_same_names_and_labels_as_the_prometheus_path(catalog):
    prom = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    otel_registry = CollectorRegistry()
    reader = PrometheusMetricReader(disable_target_info=True, scope_info_enabled=False, registry=otel_registry)
    otel = MoneyPath(catalog, OtelBackend(catalog.service, metric_readers=[reader]))
    for mp in (prom, otel):
        record_sample(mp, payments=60)
    expected = exported(render(prom.registry, "")[0].decode())
    actual = exported(render(otel_registry, "")[0].decode())
    assert expected, "the Prometheus path exported nothing"
    assert actual == expected


def test_otel_values_and_guarding(catalog):
    reader = InMemoryMetricReader()
    mp = MoneyPath(catalog, OtelBackend(catalog.service, metric_readers=[reader]))
    mp.record_authorization("acme", "card", "approved", 0.12)
    mp.record_authorization("initech", "card", "approved", 0.12)
    mp.set_ledger_imbalance("USD", 7)
    points = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    points[(metric.name, tuple(sorted(p.attributes.items())))] = p
    auth = ("moneypath_authorizations", (("method", "card"), ("outcome", "approved"), ("provider", "acme")))
    assert points[auth].value == 1
    other = ("moneypath_authorizations", (("method", "card"), ("outcome", "approved"), ("provider", "other")))
    assert points[other].value == 1
    hist = points[("moneypath_authorization_duration", auth[1])]
    assert list(hist.explicit_bounds) == catalog.signals["authorization_duration_seconds"].buckets
    assert points[("moneypath_ledger_imbalance_minor", (("currency", "USD"),))].value == 7


def test_instrument_names_follow_the_otlp_to_prometheus_translation(catalog):
    assert instrument_name(catalog.signals["authorizations_total"]) == "moneypath_authorizations"
    assert instrument_name(catalog.signals["authorization_duration_seconds"]) == "moneypath_authorization_duration"
    assert instrument_name(catalog.signals["cost_usd_total"]) == "moneypath_cost_usd"


def test_metrics_reach_a_real_otlp_http_receiver(catalog):
    with Receiver() as receiver:
        exporter = OTLPMetricExporter(endpoint=receiver.endpoint, timeout=5)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
        backend = OtelBackend(catalog.service, metric_readers=[reader])
        mp = MoneyPath(catalog, backend)
        mp.record_authorization("globex", "wallet", "declined", 0.2)
        mp.add_cost("provider_fee", 0.07, "globex")
        backend.shutdown()  # flushes one export
    assert receiver.requests, "no OTLP request arrived"
    path, _, request = receiver.requests[0]
    assert path == "/v1/metrics"
    resource = request.resource_metrics[0]
    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
    assert service == "payments"
    metrics = {m.name: m for sm in resource.scope_metrics for m in sm.metrics}
    assert metrics["moneypath_authorizations"].sum.is_monotonic
    assert metrics["moneypath_authorization_duration"].unit == "s"
    costs = {tuple(sorted((a.key, a.value.string_value) for a in p.attributes)): p.as_double
             for p in metrics["moneypath_cost_usd"].sum.data_points}
    assert costs[(("component", "provider_fee"), ("provider", "globex"))] == 0.07
    assert costs[(("component", "provider_fee"), ("provider", "acme"))] == 0  # initialized, never charged


def test_otel_counters_lose_no_increments_across_threads(catalog):
    reader = InMemoryMetricReader()
    mp = MoneyPath(catalog, OtelBackend(catalog.service, metric_readers=[reader]))

    def work():
        for _ in range(20_000):
            mp.count_dead_letter("notifications")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    values = [p.value for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
              for m in sm.metrics if m.name == "moneypath_dead_letters" for p in m.data.data_points
              if p.attributes["queue"] == "notifications"]
    assert values == [80_000]


def _points(reader, name: str) -> dict[tuple, object]:
    return {tuple(sorted(p.attributes.items())): p for rm in reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics for m in sm.metrics if m.name == name for p in m.data.data_points}


def test_aggregated_histograms_are_cumulative_across_collections_and_empty_ones_have_no_min_max(catalog):
    reader = InMemoryMetricReader()
    backend = OtelBackend(catalog.service, metric_readers=[reader])
    assert (backend.histograms, backend.histograms_reason) == ("aggregated", None)
    mp = MoneyPath(catalog, backend)
    empty = _points(reader, "moneypath_ledger_write_duration")[()]  # unlabelled: exported from the start
    assert (empty.count, empty.sum, empty.min, empty.max, set(empty.bucket_counts)) == (0, 0, None, None, {0})
    mp.record_ledger_write("committed", 0.004)
    first = _points(reader, "moneypath_ledger_write_duration")[()]
    mp.record_ledger_write("committed", 0.5)
    second = _points(reader, "moneypath_ledger_write_duration")[()]
    assert (first.count, second.count, second.sum) == (1, 2, pytest.approx(0.504))
    assert (second.min, second.max) == (0.004, 0.5)
    assert second.start_time_unix_nano == first.start_time_unix_nano < first.time_unix_nano < second.time_unix_nano
    assert list(second.explicit_bounds) == catalog.signals["ledger_write_duration_seconds"].buckets
    assert not second.exemplars  # no span: no exemplar


def test_aggregated_histograms_lose_no_observations_across_threads(catalog):
    reader = InMemoryMetricReader()
    mp = MoneyPath(catalog, OtelBackend(catalog.service, metric_readers=[reader]))

    def work():
        for _ in range(20_000):
            mp.record_authorization("acme", "card", "approved", 0.12)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    key = (("method", "card"), ("outcome", "approved"), ("provider", "acme"))
    point = _points(reader, "moneypath_authorization_duration")[key]
    assert point.count == 80_000 and point.sum == pytest.approx(80_000 * 0.12)
    assert _points(reader, "moneypath_authorizations")[key].value == 80_000


@pytest.mark.parametrize("make_reader, reason", [
    (lambda: InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA}), "delta"),
    (lambda: InMemoryMetricReader(preferred_aggregation={Histogram: ExponentialBucketHistogramAggregation()}),
     "ExponentialBucketHistogramAggregation"),
])
def test_readers_the_in_process_histograms_cannot_serve_get_the_sdks_own(catalog, make_reader, reason):
    reader = make_reader()
    backend = OtelBackend(catalog.service, metric_readers=[reader])
    assert backend.histograms == "sdk" and reason in backend.histograms_reason
    mp = MoneyPath(catalog, backend)
    mp.record_ledger_write("committed", 0.004)
    assert [p.count for p in _points(reader, "moneypath_ledger_write_duration").values()] == [1]


def test_a_given_meter_provider_gets_in_process_histograms_unless_it_has_views(catalog):
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    backend = OtelBackend(catalog.service, meter_provider=provider)
    assert backend.histograms == "aggregated"
    MoneyPath(catalog, backend).record_ledger_write("committed", 0.004)
    assert _points(reader, "moneypath_ledger_write_duration")[()].count == 1

    viewed = MeterProvider(metric_readers=[InMemoryMetricReader()], views=[View(instrument_name="other")])
    assert OtelBackend(catalog.service, meter_provider=viewed).histograms_reason == "the MeterProvider has views"
    with pytest.raises(ValueError, match="histograms="):
        OtelBackend(catalog.service, meter_provider=provider, histograms="fast")


def test_exemplars_follow_the_providers_exemplar_filter(catalog):
    from opentelemetry import trace
    from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    span = NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    seen = []
    for exemplar_filter in (None, AlwaysOffExemplarFilter()):
        reader = InMemoryMetricReader()
        mp = MoneyPath(catalog, OtelBackend(catalog.service, meter_provider=MeterProvider(
            metric_readers=[reader], exemplar_filter=exemplar_filter)))
        with trace.use_span(span):
            mp.record_ledger_write("committed", 0.004)
        seen.append([(e.trace_id, e.span_id, e.value)
                     for e in _points(reader, "moneypath_ledger_write_duration")[()].exemplars])
    assert seen == [[(0xABC, 0xDEF, 0.004)], []]


def test_a_provider_whose_readers_cannot_be_seen_gets_the_sdks_histograms(catalog):
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])

    class Opaque:  # a wrapper (a vendor's distribution, say) that hides the SDK's internals
        def get_meter(self, *args, **kwargs):
            return provider.get_meter(*args, **kwargs)

        def shutdown(self):
            provider.shutdown()

    backend = OtelBackend(catalog.service, meter_provider=Opaque())
    assert (backend.histograms, backend.histograms_reason) == ("sdk", "this MeterProvider's readers cannot be seen")
    MoneyPath(catalog, backend).record_ledger_write("committed", 0.004)
    assert _points(reader, "moneypath_ledger_write_duration")[()].count == 1
