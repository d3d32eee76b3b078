"""OpenTelemetry metrics backend for teams that ship OTLP to a collector.

Same catalog, same names: instruments are named so that the standard OTLP → Prometheus
translation (unit suffix, `_total` on monotonic sums) yields exactly the names of the
Prometheus backend. The MeterProvider is private to moneypath, never the global one, so
nothing else (FastAPI's built-in telemetry, for one) switches on by accident.

Cost: a synchronous SDK instrument call costs several microseconds (attribute hashing,
exemplar filter, per-reader storage) and degrades under threads. Counters and gauges are
therefore pre-aggregated in-process (a float behind a lock) and reported by observable
instruments at collection time; only histograms go through the SDK per call, which keeps
the SDK's trace exemplars where they matter (latency).
"""

from __future__ import annotations

import threading

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


class _Accumulated:
    """A counter or gauge value for one attribute set, read by an observable instrument."""

    __slots__ = ("attrs", "value", "_lock")

    def __init__(self, attrs: dict):
        self.attrs, self.value, self._lock = attrs, 0.0, threading.Lock()

    def inc(self, amount: float = 1, exemplar=None) -> None:
        if amount < 0:
            raise ValueError("counters can only increase")
        with self._lock:
            self.value += amount

    def set(self, value: float) -> None:
        self.value = float(value)


class _Histogram:
    __slots__ = ("_record", "_attrs")

    def __init__(self, instrument, attrs):
        self._record, self._attrs = instrument.record, attrs

    def observe(self, amount: float, exemplar=None) -> None:
        # The SDK attaches trace exemplars itself (trace-based exemplar filter).
        self._record(amount, self._attrs)


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

    def family(self, signal: Signal, order: tuple[str, ...] | None = None) -> Family:
        from opentelemetry.metrics import Observation

        name, unit = instrument_name(signal), _UCUM.get(signal.unit or "", signal.unit or "")
        names = signal.label_names
        if signal.type == "histogram":
            instrument = self._meter.create_histogram(
                name, unit, signal.help, explicit_bucket_boundaries_advisory=signal.buckets)
            return Family(signal, lambda values: _Histogram(instrument, dict(zip(names, values))),
                          exemplars=False, order=order)

        children: list[_Accumulated] = []

        def bind(values):
            child = _Accumulated(dict(zip(names, values)))
            children.append(child)
            return child

        def observe(options):
            return [Observation(c.value, c.attrs) for c in list(children)]

        family = Family(signal, bind, exemplars=False, order=order)
        if signal.type == "counter":
            self._meter.create_observable_counter(name, [observe], unit, signal.help)
            if not signal.labels:
                family.child(())  # exported from the start at 0, as prometheus-client does
        else:
            self._meter.create_observable_gauge(name, [observe], unit, signal.help)
        return family

    def shutdown(self) -> None:
        self.meter_provider.shutdown()
