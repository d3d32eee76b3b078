"""moneypath.instrument — the money-path instrumentation library.

    from moneypath.instrument import MoneyPath, MoneyPathMiddleware
    mp = MoneyPath.from_catalog("moneypath.yaml")
    app.add_middleware(MoneyPathMiddleware, moneypath=mp)
    app.add_route("/metrics", mp.metrics_app())

The API is `__all__` and the modules without a leading underscore: the framework integrations (django, flask,
wsgi, quart, aiohttp, graphql, celery, middleware), the OpenTelemetry backend (otel), serving and multi-process
collection (exposition), and the helper for a team's tests (testing); docs/instrumenting.md lists them ("The API").
A module whose name starts with `_` is internal. Depends only on `moneypath.catalog` (and `moneypath.catalog.pan`),
never on the rest of moneypath.
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
