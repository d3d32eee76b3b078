"""OpenTelemetry metrics backend for teams that ship OTLP to a collector.

Same catalog, same names: instruments are named so that the standard OTLP → Prometheus
translation (unit suffix, `_total` on monotonic sums) yields exactly the names of the
Prometheus backend. The MeterProvider is private to moneypath, never the global one, so
nothing else (FastAPI's built-in telemetry, for one) switches on by accident.

Cost: a synchronous SDK instrument call costs several microseconds (attribute cleaning and
hashing, exemplar filter, per-reader storage) and degrades under threads
(docs/decisions/0014-instrumentation-hot-path.md). So nothing goes through the SDK per call:
- counters and gauges are pre-aggregated in-process (a float behind a lock) and reported by
  observable instruments at collection time;
- histograms are aggregated in-process too (bucket counts, sum, min, max and the last sampled
  trace exemplar per bucket behind one lock, in the SDK's own bucket semantics) and handed to
  each reader as cumulative `HistogramDataPoint`s when it collects: the SDK calls the collect
  callback it gave the reader, and moneypath's points are added to what the SDK returns
  (`histograms="aggregated"`, the default).

That bridge needs readers the SDK gave to this backend's MeterProvider at construction, which
want cumulative explicit-bucket histograms (the defaults; the OTLP → Prometheus translation
wants them too) and no views. Otherwise (delta temporality, exponential histograms, views, a
provider whose readers cannot be seen) histograms go through the SDK's own instrument per
call, which honours all of that (`histograms="sdk"`; `backend.histograms_reason` says why).

The hook is the callback the MeterProvider gives each reader (`MetricReader._collect`, set through
`_set_collect_callback`): private, unchanged from 1.44 to 1.45.2, where the unit tests run
(tests/unit/instrument/test_otel*.py; tests/integration/instrument/test_otel_newest.py on the newest release). When a
future SDK lacks it, histograms fall back to the SDK's path rather than break.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from dataclasses import replace

from opentelemetry import trace  # the API: a core dependency

from moneypath.catalog import Signal
from moneypath.instrument._families import Family

# Catalog unit → UCUM unit the OTLP → Prometheus translation maps back to the same suffix.
_UCUM = {"seconds": "s", "bytes": "By", "ratio": "1"}
# Units whose Prometheus suffix the translation appends itself (it adds "_ratio" to gauges only).
_SUFFIXED = {"seconds", "bytes"}
SCOPE = "moneypath"


def instrument_name(signal: Signal) -> str:
    name = signal.name
    if signal.type == "counter":
        name = name[: -len("_total")]
    if signal.unit in _SUFFIXED:
        name = name[: -len("_" + signal.unit)]
    return name


def otel_unit(signal: Signal) -> str:
    return _UCUM.get(signal.unit or "", signal.unit or "")


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


class _SdkHistogram:
    """One attribute set of an SDK histogram instrument (the SDK's per-call path)."""

    __slots__ = ("_record", "_attrs")

    def __init__(self, instrument, attrs):
        self._record, self._attrs = instrument.record, attrs

    def observe(self, amount: float, exemplar=None) -> None:
        # The SDK attaches trace exemplars itself (trace-based exemplar filter).
        self._record(amount, self._attrs)


class AggregatedHistogram:
    """One attribute set of a histogram, aggregated in-process as the SDK's explicit-bucket aggregation
    does: bucket i counts values in (bounds[i-1], bounds[i]], the last one counts above the last bound."""

    __slots__ = ("attrs", "bounds", "counts", "sum", "min", "max", "exemplars", "start_ns", "_lock")

    def __init__(self, attrs: dict, bounds: tuple[float, ...]):
        self.attrs, self.bounds = attrs, bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum, self.min, self.max = 0.0, float("inf"), float("-inf")
        # per bucket: (value, time_unix_nano, span_id, trace_id) of the last observation inside a sampled span
        self.exemplars: list[tuple | None] = [None] * (len(bounds) + 1)
        self.start_ns = time.time_ns()
        self._lock = threading.Lock()

    def observe(self, amount: float, exemplar=None) -> None:
        """`exemplar` is not None when the caller saw a sampled span (moneypath.instrument._tracing)."""
        i = bisect_left(self.bounds, amount)
        with self._lock:
            self.counts[i] += 1
            self.sum += amount
            if amount < self.min:
                self.min = amount
            if amount > self.max:
                self.max = amount
        if exemplar is not None:
            self._keep_exemplar(i, amount)

    def _keep_exemplar(self, i: int, amount: float) -> None:
        span = trace.get_current_span().get_span_context()
        if span.is_valid and span.trace_flags.sampled:
            self.exemplars[i] = (amount, time.time_ns(), span.span_id, span.trace_id)

    def point(self, now_ns: int):
        from opentelemetry.sdk.metrics import Exemplar
        from opentelemetry.sdk.metrics.export import HistogramDataPoint

        with self._lock:
            counts, total, low, high = tuple(self.counts), self.sum, self.min, self.max
        count = sum(counts)
        exemplars = [Exemplar({}, value, at, span_id=span_id, trace_id=trace_id)
                     for value, at, span_id, trace_id in (e for e in list(self.exemplars) if e is not None)]
        return HistogramDataPoint(
            attributes=self.attrs, start_time_unix_nano=self.start_ns, time_unix_nano=now_ns, count=count,
            sum=total, bucket_counts=counts, explicit_bounds=self.bounds,
            min=low if count else None, max=high if count else None, exemplars=exemplars)


class _HistogramBridge:
    """Adds the in-process histograms to every collection of the given readers."""

    def __init__(self, readers, resource):
        self.resource = resource
        self.instruments: list[tuple[Signal, list[AggregatedHistogram]]] = []
        for reader in readers:
            sdk_collect = reader._collect  # the callback the MeterProvider gave the reader

            def collect(metric_reader, timeout_millis: float = 10_000, _sdk_collect=sdk_collect):
                return self.merge(_sdk_collect(metric_reader, timeout_millis=timeout_millis))

            reader._set_collect_callback(collect)

    def metrics(self) -> list:
        from opentelemetry.sdk.metrics.export import AggregationTemporality, Histogram, Metric

        now = time.time_ns()
        out = []
        for signal, children in self.instruments:
            points = [child.point(now) for child in list(children)]
            if points:
                out.append(Metric(name=instrument_name(signal), description=signal.help, unit=otel_unit(signal),
                                  data=Histogram(data_points=points,
                                                 aggregation_temporality=AggregationTemporality.CUMULATIVE)))
        return out

    def merge(self, data):
        from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics, ScopeMetrics
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        ours = self.metrics()
        if not ours:
            return data
        if data is None or not data.resource_metrics:
            scope = ScopeMetrics(scope=InstrumentationScope(SCOPE), metrics=ours, schema_url="")
            return MetricsData([ResourceMetrics(resource=self.resource, scope_metrics=[scope], schema_url="")])
        first, *rest = data.resource_metrics
        scopes = list(first.scope_metrics)
        for i, scope in enumerate(scopes):
            if scope.scope.name == SCOPE:
                scopes[i] = replace(scope, metrics=[*scope.metrics, *ours])
                break
        else:
            scopes.append(ScopeMetrics(scope=InstrumentationScope(SCOPE), metrics=ours, schema_url=""))
        return replace(data, resource_metrics=[replace(first, scope_metrics=scopes), *rest])


def _why_not_aggregated(meter_provider) -> str | None:
    """None when the in-process histograms can serve every reader of this provider, else the reason."""
    from opentelemetry.sdk.metrics import Histogram
    from opentelemetry.sdk.metrics.export import AggregationTemporality
    from opentelemetry.sdk.metrics.view import DefaultAggregation, ExplicitBucketHistogramAggregation

    readers = getattr(meter_provider, "_metric_readers", None)
    config = getattr(meter_provider, "_sdk_config", None)
    if readers is None or config is None:
        return "this MeterProvider's readers cannot be seen"
    if getattr(config, "views", ()):
        return "the MeterProvider has views"
    for reader in readers:
        if not callable(getattr(reader, "_collect", None)) or not hasattr(reader, "_set_collect_callback"):
            return f"{type(reader).__name__} has no collect callback"
        for kind, temporality in getattr(reader, "_instrument_class_temporality", {}).items():
            if issubclass(kind, Histogram) and temporality != AggregationTemporality.CUMULATIVE:
                return f"{type(reader).__name__} wants delta histograms"
        for kind, aggregation in getattr(reader, "_instrument_class_aggregation", {}).items():
            if not issubclass(kind, Histogram) or isinstance(aggregation, DefaultAggregation):
                continue
            if not (isinstance(aggregation, ExplicitBucketHistogramAggregation)
                    and getattr(aggregation, "_boundaries", None) is None):
                return f"{type(reader).__name__} wants {type(aggregation).__name__} for histograms"
    return None


class OtelBackend:
    name = "otel"
    exemplars_supported = True

    def __init__(self, service: str, meter_provider=None, metric_readers=None, export_interval_s: float = 15.0,
                 histograms: str = "aggregated"):
        """`meter_provider` wins; else `metric_readers`; else an OTLP/HTTP exporter configured
        by the standard OTEL_EXPORTER_OTLP_* environment variables. `histograms`: "aggregated"
        (in-process, reported at collection) or "sdk" (the SDK's instrument, per call); see the
        module docstring for when "aggregated" falls back to "sdk"."""
        from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
        from opentelemetry.sdk.resources import Resource

        if histograms not in ("aggregated", "sdk"):
            raise ValueError(f"histograms={histograms!r}: use 'aggregated' or 'sdk'")
        if meter_provider is None:
            if metric_readers is None:
                from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
                from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

                metric_readers = [PeriodicExportingMetricReader(
                    OTLPMetricExporter(), export_interval_millis=export_interval_s * 1000)]
            meter_provider = MeterProvider(
                metric_readers=metric_readers, resource=Resource.create({"service.name": service}))
        self.meter_provider = meter_provider
        self._meter = meter_provider.get_meter(SCOPE)
        self.histograms_reason = "asked for" if histograms == "sdk" else _why_not_aggregated(meter_provider)
        self._bridge = None
        if self.histograms_reason is None:
            config = meter_provider._sdk_config
            self._bridge = _HistogramBridge(meter_provider._metric_readers, config.resource)
            self._histogram_exemplars = not isinstance(getattr(config, "exemplar_filter", None),
                                                       AlwaysOffExemplarFilter)
        self.histograms = "aggregated" if self._bridge is not None else "sdk"

    def family(self, signal: Signal, order: tuple[str, ...] | None = None) -> Family:
        from opentelemetry.metrics import Observation

        name, unit = instrument_name(signal), otel_unit(signal)
        names = signal.label_names
        if signal.type == "histogram":
            if self._bridge is not None:
                bounds = tuple(float(b) for b in signal.buckets)
                histograms: list[AggregatedHistogram] = []
                self._bridge.instruments.append((signal, histograms))

                def bind_histogram(values):
                    child = AggregatedHistogram(dict(zip(names, values)), bounds)
                    histograms.append(child)
                    return child

                # MoneyPath hands over an exemplar only inside a sampled span, as the SDK's trace-based filter.
                family = Family(signal, bind_histogram, exemplars=signal.exemplars and self._histogram_exemplars,
                                order=order)
                if not signal.labels:
                    family.child(())  # exported from the start with zero counts, as prometheus-client does
                return family
            instrument = self._meter.create_histogram(
                name, unit, signal.help, explicit_bucket_boundaries_advisory=signal.buckets)
            return Family(signal, lambda values: _SdkHistogram(instrument, dict(zip(names, values))),
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

    def publish_identity(self, namespace: str) -> None:
        """The process's identity as the Prometheus backend reports it (read at each collection: a fork's own)."""
        from opentelemetry.metrics import Observation

        from moneypath.instrument import _identity

        self._meter.create_observable_gauge(
            f"{namespace}_{_identity.INSTANCE_INFO}",
            [lambda options: [Observation(1, {_identity.INSTANCE_ID_LABEL: _identity.IDENTITY})]], "",
            _identity.INFO_HELP)

    def shutdown(self) -> None:
        self.meter_provider.shutdown()
