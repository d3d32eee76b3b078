"""A payment endpoint instrumented by hand with prometheus-client's default registry, served by gunicorn with
several workers and no PROMETHEUS_MULTIPROC_DIR: each worker keeps its own counters and each scrape reads one of
them, the mistake docs/instrumenting.md warns of. Its counter is the catalog's (MAP_CATALOG), its metric name
from the catalog, as a team's would be. POST /pay counts one approved authorization; GET /metrics is the
worker's own registry."""

from __future__ import annotations

import os

from prometheus_client import Counter, make_wsgi_app

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import Key

_catalog = load_catalog(os.environ["MAP_CATALOG"])
_signal = _catalog.signals[Key.AUTHORIZATIONS_TOTAL]
AUTHORIZATIONS = Counter(_catalog.metric(Key.AUTHORIZATIONS_TOTAL).removesuffix("_total"), _signal.help,
                         list(_signal.labels))
_approved = AUTHORIZATIONS.labels(*(values[0] if name != "outcome" else "approved"
                                    for name, values in _signal.labels.items()))
_metrics = make_wsgi_app()


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/metrics":
        return _metrics(environ, start_response)
    _approved.inc()
    start_response("200 OK", [("content-type", "text/plain"), ("connection", "close")])
    return [b"approved\n"]
