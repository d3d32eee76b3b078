"""moneypath.instrument — the money-path instrumentation library.

    from moneypath.instrument import MoneyPath, MoneyPathMiddleware
    mp = MoneyPath.from_catalog("moneypath.yaml")
    app.add_middleware(MoneyPathMiddleware, moneypath=mp)
    app.add_route("/metrics", mp.metrics_app())

The API is `__all__` and the modules without a leading underscore; docs/instrumenting.md lists them ("The API").
A module whose name starts with `_` is internal. Depends only on `moneypath.catalog` (and `moneypath.catalog.pan`),
never on the rest of moneypath.

The API's modules:
middleware (pure-ASGI middleware: request metrics by route template, the correlation id),
django, flask, quart, aiohttp and wsgi (each framework's integration),
graphql (GraphQL operations by name),
celery (Celery prefork workers in multiprocess mode),
otel (the OpenTelemetry metrics backend),
exposition (serving `/metrics`, and multi-process collection),
testing (assertions for a team's tests that a signal moved).

The internal modules:
_signals (MoneyPath, the typed recording API),
_web_signals (its HTTP and GraphQL methods),
_timers (its timing context managers),
_failures (its failure path: counted and swallowed),
_requirements (what the recording API needs from a catalog),
_families (one catalog signal as one family of bound children),
_prometheus_backend (the signals as prometheus-client metrics),
_null (a backend that records nothing),
_multiproc (the multi-process directory under recycled workers),
_procfs (what /proc says about processes and sockets),
_identity (which process answered),
_detectors (detectors' heartbeats),
_routes (route templates from each framework's rules),
_timeouts (whether an exception is a timeout),
_correlation (correlation ids across a payment),
_logs (JSON logs with the correlation id, card numbers redacted),
_tracing (OpenTelemetry tracing and trace id exemplars).
"""

from moneypath.instrument._correlation import current_correlation_id
from moneypath.instrument._failures import UnknownLabelValue
from moneypath.instrument._logs import JsonFormatter, configure_json_logging
from moneypath.instrument._signals import MoneyPath
from moneypath.instrument._tracing import setup_tracing
from moneypath.instrument.middleware import MoneyPathMiddleware

__all__ = [
    "MoneyPath",
    "MoneyPathMiddleware",
    "UnknownLabelValue",
    "JsonFormatter",
    "configure_json_logging",
    "current_correlation_id",
    "setup_tracing",
]
