"""Tracing via the OpenTelemetry SDK, and the trace id exemplar for latency histograms."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import get_current


def trace_exemplar() -> dict[str, str] | None:
    """The current sampled span as a Prometheus exemplar, or None.

    Called on every latency observation, so the common case (no span active: an empty
    context) returns after one context-variable read.
    """
    ctx = get_current()
    if not ctx:
        return None
    span_context = trace.get_current_span(ctx).get_span_context()
    if not (span_context.is_valid and span_context.trace_flags.sampled):
        return None
    return {"trace_id": format(span_context.trace_id, "032x"), "span_id": format(span_context.span_id, "016x")}


def setup_tracing(service_name: str, exporter=None, sample_ratio: float = 1.0):
    """Install an SDK TracerProvider (global) and return it.

    `exporter` is any SpanExporter (OTLP, console, in-memory); None keeps spans in-process,
    which is still enough to stamp trace ids on exemplars and logs. Note for FastAPI >= 0.142:
    a global provider switches on FastAPI's built-in instrumentation; decide explicitly with
    `FastAPI(telemetry=...)`.
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
