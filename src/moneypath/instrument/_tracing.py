"""Tracing via the OpenTelemetry SDK, and the trace id exemplar for latency histograms."""

from __future__ import annotations

from functools import lru_cache

from opentelemetry import trace
from opentelemetry.context import Context, get_current

try:  # the key the API stores the current span under: one lookup less per observation
    from opentelemetry.trace.propagation import _SPAN_KEY
except ImportError:  # pragma: no cover - a future API without it: the public, slower path
    _SPAN_KEY = None


def trace_exemplar(ctx: Context | None = None) -> dict[str, str] | None:
    """The current sampled span's trace id as a Prometheus exemplar, or None.

    Called on every latency observation, so the common case (no span active: an empty
    context) returns after one context-variable read.
    """
    if ctx is None:
        ctx = get_current()
        if not ctx:
            return None
    span = ctx.get(_SPAN_KEY) if _SPAN_KEY is not None else trace.get_current_span(ctx)
    if span is None:
        return None
    span_context = span.get_span_context()
    if not (span_context.is_valid and span_context.trace_flags.sampled):
        return None
    return _exemplar(span_context.trace_id)


@lru_cache(maxsize=1024)
def _exemplar(trace_id: int) -> dict[str, str]:
    # One trace records several observations; format its id once. Read-only by contract.
    return {"trace_id": format(trace_id, "032x")}


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
