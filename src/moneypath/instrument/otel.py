"""OpenTelemetry metrics backend for teams that ship OTLP to a collector.

Same catalog, same names: instruments are named so that the standard OTLP → Prometheus
translation (unit suffix, `_total` on monotonic sums) yields exactly the names of the
Prometheus backend. The MeterProvider is private to moneypath, never the global one, so
nothing else (FastAPI's built-in telemetry, for one) switches on by accident.
"""

from __future__ import annotations

from moneypath.catalog import Signal
from moneypath.instrument.families import Family

# Catalog unit → UCUM unit the OTLP → Prometheus translation maps back to the same suffix.
_UCUM = {"seconds": "s", "bytes": "By", "ratio": "1"}
# Units whose Prometheus suffix the translation appends itself (it adds "_ratio" to gauges only).
_SUFFIXED = {"seconds", "bytes"}


def instrument_name(signal: Signal) -> str:
    name = signal.name
    if signal.type == "counter":
        name = name[: -len("_total")]
    if signal.unit in _SUFFIXED:
        name = name[: -len("_" + signal.unit)]
    return name


class _Counter:
    __slots__ = ("_add", "_attrs")

    def __init__(self, instrument, attrs):
        self._add, self._attrs = instrument.add, attrs

    def inc(self, amount: float = 1, exemplar=None) -> None:
        self._add(amount, self._attrs)


class _Histogram:
    __slots__ = ("_record", "_attrs")

    def __init__(self, instrument, attrs):
        self._record, self._attrs = instrument.record, attrs

    def observe(self, amount: float, exemplar=None) -> None:
        # The SDK attaches trace exemplars itself (trace-based exemplar filter).
        self._record(amount, self._attrs)


class _Gauge:
    __slots__ = ("_set", "_attrs")

    def __init__(self, instrument, attrs):
        self._set, self._attrs = instrument.set, attrs

    def set(self, value: float) -> None:
        self._set(value, self._attrs)


class OtelBackend:
    name = "otel"
    exemplars_supported = True

    def __init__(self, service: str, meter_provider=None, metric_readers=None, export_interval_s: float = 15.0):
        """`meter_provider` wins; else `metric_readers`; else an OTLP/HTTP exporter configured
        by the standard OTEL_EXPORTER_OTLP_* environment variables."""
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import Resource

        if meter_provider is None:
            if metric_readers is None:
                from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
                from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

                metric_readers = [PeriodicExportingMetricReader(
                    OTLPMetricExporter(), export_interval_millis=export_interval_s * 1000)]
            meter_provider = MeterProvider(
                metric_readers=metric_readers, resource=Resource.create({"service.name": service}))
        self.meter_provider = meter_provider
        self._meter = meter_provider.get_meter("moneypath")

    def family(self, signal: Signal) -> Family:
        name, unit = instrument_name(signal), _UCUM.get(signal.unit or "", signal.unit or "")
        if signal.type == "counter":
            instrument, bound = self._meter.create_counter(name, unit, signal.help), _Counter
            if not signal.labels:
                instrument.add(0)  # exported from the start, as prometheus-client does
        elif signal.type == "histogram":
            instrument = self._meter.create_histogram(
                name, unit, signal.help, explicit_bucket_boundaries_advisory=signal.buckets)
            bound = _Histogram
        else:
            instrument, bound = self._meter.create_gauge(name, unit, signal.help), _Gauge
        names = signal.label_names
        return Family(signal, lambda values: bound(instrument, dict(zip(names, values))),
                      exemplars=False)

    def shutdown(self) -> None:
        self.meter_provider.shutdown()
