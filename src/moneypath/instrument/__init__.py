"""moneypath.instrument — the money-path instrumentation library.

    from moneypath.instrument import MoneyPath, MoneyPathMiddleware
    mp = MoneyPath.from_catalog("moneypath.yaml")
    app.add_middleware(MoneyPathMiddleware, moneypath=mp)
    app.add_route("/metrics", mp.metrics_app())

Depends only on `moneypath.catalog` (and `moneypath.catalog.pan`), never on the rest of moneypath.
"""

from moneypath.instrument.correlation import current_correlation_id
from moneypath.instrument.logs import JsonFormatter, configure_json_logging
from moneypath.instrument.middleware import MoneyPathMiddleware
from moneypath.instrument.signals import MoneyPath
from moneypath.instrument.tracing import setup_tracing

__all__ = [
    "MoneyPath",
    "MoneyPathMiddleware",
    "JsonFormatter",
    "configure_json_logging",
    "current_correlation_id",
    "setup_tracing",
]
