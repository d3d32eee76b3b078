"""The OTLP output checked for real: the SDK's OTLP/HTTP exporter sends to a receiver on 127.0.0.1 (a free
port, in this test), which decodes the protobuf (opentelemetry-proto); every metric, sample, bucket and
exemplar, translated as the OTLP → Prometheus translation does, equals the Prometheus backend's OpenMetrics
exposition of the same calls. Both histogram paths are checked: in-process aggregation (the default) and the
SDK's own instrument."""

from __future__ import annotations

import math
from bisect import bisect_left
from types import SimpleNamespace

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from moneypath.catalog.conventions import INSTANCE_INFO
from moneypath.generate.sample import record_sample
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.instrument.exposition import render
from moneypath.instrument.otel import OtelBackend
from tests.otlp_receiver import Receiver

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
CUMULATIVE = 2  # opentelemetry.proto.metrics.v1.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
# UCUM unit → the Prometheus suffix the translation appends (prometheus/otlptranslator; "1" only on gauges)
UNIT_SUFFIX = {"s": "seconds", "By": "bytes", "ms": "milliseconds"}


def _labels(attributes) -> dict[str, str]:
    return {a.key: a.value.string_value for a in attributes}


def _key(name: str, labels: dict) -> tuple:
    return name, frozenset((k, float(v) if k == "le" else v) for k, v in labels.items())


def prometheus_name(metric, kind: str) -> str:
    """The name the OTLP → Prometheus translation gives an OTLP metric (unit suffix, `_total` on counters)."""
    suffix = UNIT_SUFFIX.get(metric.unit, metric.unit)
    if metric.unit == "1":
        suffix = "ratio" if kind == "gauge" else ""
    name = metric.name
    if suffix and not name.endswith("_" + suffix):
        name += "_" + suffix
    return name + "_total" if kind == "counter" else name


def from_otlp(request: ExportMetricsServiceRequest) -> tuple[dict, dict, dict]:
    """Prometheus samples {(name, labels): value}, bucket exemplars {(name, labels): (trace id, value)} and
    {family name: OTLP metric} from one export request."""
    samples, exemplars, metrics = {}, {}, {}
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for m in scope.metrics:
                kind = m.WhichOneof("data")
                if kind == "sum":
                    assert m.sum.is_monotonic and m.sum.aggregation_temporality == CUMULATIVE, m.name
                    name = prometheus_name(m, "counter")
                    for p in m.sum.data_points:
                        samples[_key(name, _labels(p.attributes))] = p.as_double or float(p.as_int)
                elif kind == "gauge":
                    name = prometheus_name(m, "gauge")
                    for p in m.gauge.data_points:
                        samples[_key(name, _labels(p.attributes))] = p.as_double or float(p.as_int)
                else:
                    assert kind == "histogram" and m.histogram.aggregation_temporality == CUMULATIVE, (m.name, kind)
                    name = prometheus_name(m, "histogram")
                    for p in m.histogram.data_points:
                        labels = _labels(p.attributes)
                        bounds = list(p.explicit_bounds)
                        assert len(p.bucket_counts) == len(bounds) + 1 and sum(p.bucket_counts) == p.count
                        assert 0 < p.start_time_unix_nano <= p.time_unix_nano
                        running = 0
                        for bound, n in zip([*bounds, math.inf], p.bucket_counts):
                            running += n
                            samples[_key(name + "_bucket", {**labels, "le": bound})] = float(running)
                        samples[_key(name + "_count", labels)] = float(p.count)
                        samples[_key(name + "_sum", labels)] = p.sum
                        for e in p.exemplars:
                            assert len(e.span_id) == 8 and len(e.trace_id) == 16, e
                            le = ([*bounds, math.inf])[bisect_left(bounds, e.as_double)]
                            exemplars[_key(name + "_bucket", {**labels, "le": le})] = (e.trace_id.hex(), e.as_double)
                metrics[name] = m
    return samples, exemplars, metrics


def from_openmetrics(text: str) -> tuple[dict, dict]:
    samples, exemplars = {}, {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            samples[_key(s.name, s.labels)] = s.value
            if s.exemplar is not None:
                exemplars[_key(s.name, s.labels)] = (s.exemplar.labels["trace_id"], s.exemplar.value)
    return samples, exemplars


def same_calls(mps: list[MoneyPath]) -> None:
    """The shipped sample (every signal; latency inside sampled spans) plus a few calls of our own, made on
    each MoneyPath inside the same span so both carry the same trace ids."""
    for mp in mps:
        record_sample(mp, payments=120)
    span = NonRecordingSpan(SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=False,
                                        trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    with trace.use_span(span):
        for mp in mps:
            mp.record_authorization("globex", "card", "approved", 7.5)  # above the last bound: the +Inf bucket
            mp.record_authorization("acme", "wallet", "declined", 0.1)  # exactly on a bound: that bucket (le)
            mp.record_ledger_write("failed", 0.0)
    for mp in mps:
        mp.record_authorization("acme", "bank", "timeout", 5.0)  # outside any span: no exemplar
        mp.observe("ledger_write_duration_seconds", 0.3)


@pytest.mark.parametrize("histograms", ["aggregated", "sdk"])
def test_otlp_export_equals_the_prometheus_exposition(catalog, histograms, monkeypatch):
    monkeypatch.setattr("moneypath.generate.sample.time", SimpleNamespace(time=lambda: 1_795_546_457.5))
    prom = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    with Receiver() as receiver:
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=receiver.endpoint, timeout=5),
                                               export_interval_millis=3_600_000)
        backend = OtelBackend(catalog.service, metric_readers=[reader], histograms=histograms)
        assert backend.histograms == histograms
        otel = MoneyPath(catalog, backend)
        same_calls([prom, otel])
        backend.shutdown()  # one final export
    assert len(receiver.requests) == 1, f"{len(receiver.requests)} OTLP requests"
    path, content_type, request = receiver.requests[0]
    assert (path, content_type) == ("/v1/metrics", "application/x-protobuf")
    assert _labels(request.resource_metrics[0].resource.attributes)["service.name"] == catalog.service

    got, got_exemplars, metrics = from_otlp(request)
    expected, expected_exemplars = from_openmetrics(render(prom.registry, OPENMETRICS)[0].decode())
    assert got.keys() == expected.keys(), (sorted(got.keys() - expected.keys())[:5],
                                           sorted(expected.keys() - got.keys())[:5])
    assert got == pytest.approx(expected, rel=1e-12)
    # every catalog signal is there, under the catalog's own name, and the process's identity
    assert set(metrics) == {s.name for s in catalog.signals.values()} | {f"{catalog.namespace}_{INSTANCE_INFO}"}
    histogram_names = {s.name for s in catalog.signals.values() if s.type == "histogram"}
    assert {n for n, m in metrics.items() if m.WhichOneof("data") == "histogram"} == histogram_names
    for name, m in metrics.items():
        if name.endswith(INSTANCE_INFO):
            continue
        signal = next(s for s in catalog.signals.values() if s.name == name)
        if signal.type == "histogram":
            assert all(list(p.explicit_bounds) == signal.buckets for p in m.histogram.data_points), name
    inf = _key("moneypath_authorization_duration_seconds_bucket",
               {"provider": "globex", "method": "card", "outcome": "approved", "le": math.inf})
    on_bound = _key("moneypath_authorization_duration_seconds_bucket",
                    {"provider": "acme", "method": "wallet", "outcome": "declined", "le": 0.1})
    assert got_exemplars[inf] == ("0af7651916cd43dd8448eb211c80319c", 7.5)
    assert got_exemplars[on_bound] == ("0af7651916cd43dd8448eb211c80319c", 0.1)
    if histograms == "aggregated":
        # in-process: exemplars on the signals the catalog gives exemplars, exactly as the Prometheus backend
        assert got_exemplars == expected_exemplars
        scores = list(metrics["moneypath_fraud_score_ratio"].histogram.data_points)
        assert scores and all(p.HasField("min") and 0 < p.min <= p.max < 1 for p in scores)
    else:
        # the SDK samples its own exemplars (per collection interval, any histogram): those it reports agree
        assert got_exemplars.items() >= {k: v for k, v in expected_exemplars.items() if k in got_exemplars}.items()
        assert {inf, on_bound} <= expected_exemplars.keys()
