"""Prometheus backend: catalog signals as prometheus-client metrics in one registry.

Under several worker processes set PROMETHEUS_MULTIPROC_DIR before the first import of
prometheus_client (prometheus-client picks its value store at import time); see
`moneypath.instrument.exposition` for collecting and cleaning up.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from moneypath.catalog import Signal
from moneypath.instrument._families import Family

# Dead workers' gauges must vanish, so only the "live" multiprocess modes are used.
_GAUGE_MODES = {"mostrecent": "livemostrecent", "max": "livemax", "min": "livemin", "sum": "livesum"}


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class PrometheusBackend:
    name = "prometheus"

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        # Exemplars are not stored by prometheus-client's multiprocess mode.
        self.exemplars_supported = multiprocess_dir() is None
        if not self.exemplars_supported:
            from moneypath.instrument._multiproc import attach

            attach(multiprocess_dir())

    def publish_identity(self, namespace: str) -> None:
        from moneypath.instrument._identity import publish

        publish(self.registry, namespace)

    def family(self, signal: Signal, order: tuple[str, ...] | None = None) -> Family:
        names = signal.label_names
        common = dict(name=signal.name, documentation=signal.help, labelnames=names, registry=self.registry)
        if signal.unit:
            common["unit"] = signal.unit
        if signal.type == "counter":
            metric = Counter(**common)
        elif signal.type == "histogram":
            metric = Histogram(**common, buckets=signal.buckets)
        else:
            metric = Gauge(**common, multiprocess_mode=_GAUGE_MODES[signal.multiprocess_mode])
        bind = (lambda values: metric.labels(*values)) if names else (lambda values: metric)
        return Family(signal, bind, exemplars=signal.exemplars and self.exemplars_supported, order=order)
