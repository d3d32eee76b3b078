"""Locust's statistics as Prometheus metrics, served from inside Locust (master or local runner).

The names and labels are those of the common locust_exporter (what the generated load-test
dashboard queries: `moneypath.catalog.conventions.LOCUST_METRICS`), one series per request name and
method. The aggregated total is left out so that `sum()` over names does not count twice.

Imported only inside a Locust process (it uses gevent's WSGI server); the locustfile calls
`serve(environment, host, port)` from its init hook.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from moneypath.catalog.conventions import LOCUST_METRICS


class LocustCollector:
    """Reads the runner's stats at scrape time; costs nothing between scrapes."""

    def __init__(self, environment):
        self.environment = environment

    def collect(self):
        runner = self.environment.runner
        families = {
            "requests": GaugeMetricFamily(LOCUST_METRICS["requests"], "Requests sent, by request name.",
                                          labels=("method", "name")),
            "failures": GaugeMetricFamily(LOCUST_METRICS["failures"], "Requests that failed, by request name.",
                                          labels=("method", "name")),
            "rps": GaugeMetricFamily(LOCUST_METRICS["rps"], "Requests per second over the last seconds.",
                                     labels=("method", "name")),
            "avg_response_ms": GaugeMetricFamily(LOCUST_METRICS["avg_response_ms"],
                                                 "Average response time in milliseconds.", labels=("method", "name")),
        }
        if runner is not None:
            for (name, method), entry in list(runner.stats.entries.items()):
                labels = (method or "", name)
                families["requests"].add_metric(labels, entry.num_requests)
                families["failures"].add_metric(labels, entry.num_failures)
                families["rps"].add_metric(labels, entry.current_rps)
                families["avg_response_ms"].add_metric(labels, entry.avg_response_time)
        yield from families.values()
        users = GaugeMetricFamily(LOCUST_METRICS["users"], "Users Locust is running.")
        users.add_metric((), runner.user_count if runner is not None else 0)
        yield users


def registry_for(environment) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LocustCollector(environment))
    return registry


def serve(environment, host: str, port: int):
    """Serve /metrics on host:port in a greenlet; returns the started gevent server."""
    from gevent.pywsgi import WSGIServer
    from prometheus_client import make_wsgi_app

    server = WSGIServer((host, port), make_wsgi_app(registry_for(environment)), log=None)
    server.start()
    return server
