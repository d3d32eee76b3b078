"""The Flask extension's cost per request against a bare before/after_request pair doing the same prometheus_client
calls (figures, not pass/fail; the goal: at most 1.2x the pair).

    .venv/bin/python benchmarks/bench_flask.py [--quick]

Three apps answer `GET /orders/<int:order_id>` through their WSGI callable, in-process (no server, no socket), with
a correlation id on the request: Flask alone; Flask with the pair (the rule turned into a template through a dict,
the request counter and latency histogram by pre-bound children, the id echoed); Flask with MoneyPathFlask.
Repeats are interleaved and each figure is the median of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import Key
from moneypath.catalog.features import FEATURES
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.instrument._routes import werkzeug_template
from moneypath.instrument.flask import MoneyPathFlask
from moneypath.protocol.correlation_header import HEADER
from moneypath.scaffold.catalog_template import ScaffoldOptions, catalog_yaml

ROUTE = "/orders/{order_id}"
ENVIRON_HEADER = "HTTP_" + HEADER.upper().replace("-", "_")


def shop() -> Flask:
    app = Flask("bench")
    app.add_url_rule("/orders/<int:order_id>", "order", lambda order_id: "ok")
    return app


def with_pair(catalog) -> tuple[Flask, CollectorRegistry]:
    """What a team writes by hand: the same two metrics, children cached, the id echoed."""
    app, registry = shop(), CollectorRegistry()
    total, seconds = catalog.signals[Key.HTTP_REQUESTS_TOTAL], catalog.signals[Key.HTTP_REQUEST_DURATION_SECONDS]
    counter = Counter(total.name, total.help, total.label_names, registry=registry)
    histogram = Histogram(seconds.name, seconds.help, seconds.label_names, registry=registry, buckets=seconds.buckets)
    templates: dict[str, str] = {}
    children: dict[tuple, tuple] = {}

    @app.before_request
    def started():
        g.started = time.perf_counter()

    @app.after_request
    def finished(response):
        rule = request.url_rule
        route = templates.get(rule.rule) if rule is not None else "other"
        if route is None:
            route = templates[rule.rule] = werkzeug_template(rule.rule)
        key = (route, request.method, response.status_code // 100)
        pair = children.get(key)
        if pair is None:
            pair = children[key] = (counter.labels(route=route, method=request.method,
                                                   status_class=f"{key[2]}xx"),
                                    histogram.labels(route=route, method=request.method))
        pair[0].inc()
        pair[1].observe(time.perf_counter() - g.started)
        response.headers[HEADER] = request.headers.get(HEADER, "")
        return response

    return app, registry


def with_extension(catalog) -> tuple[Flask, CollectorRegistry]:
    app, registry = shop(), CollectorRegistry()
    MoneyPathFlask(app, moneypath=MoneyPath(catalog, PrometheusBackend(registry)))
    return app, registry


def per_request_us(app: Flask, n: int) -> float:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/orders/42", "SERVER_NAME": "bench", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "wsgi.input": None, "QUERY_STRING": "", ENVIRON_HEADER: "bench-12345678"}

    def start_response(status, headers, exc_info=None):
        return None

    call = app.wsgi_app
    start = time.perf_counter()
    for _ in range(n):
        body = call(dict(environ), start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and repeats (a smoke run)")
    args = parser.parse_args()
    n, repeats = (500, 3) if args.quick else (5000, 9)
    with TemporaryDirectory() as folder:
        path = Path(folder) / "moneypath.yaml"
        path.write_text(catalog_yaml(ScaffoldOptions(service="bench", providers=["paystack"], currencies=["USD"],
                                                     features={name: False for name in FEATURES}, routes=[ROUTE])))
        catalog = load_catalog(path)
        apps = {"flask alone": shop(), "before/after_request pair": with_pair(catalog)[0],
                "MoneyPathFlask": with_extension(catalog)[0]}
        for app in apps.values():
            per_request_us(app, n // 10)  # warm: caches filled, children bound
        figures: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(repeats):
            for name, app in apps.items():
                figures[name].append(per_request_us(app, n))
    median = {name: statistics.median(values) for name, values in figures.items()}
    base = median["flask alone"]
    for name, value in median.items():
        print(f"{name:28s} {value:7.1f} µs/request  (+{value - base:5.1f} µs over Flask alone)")
    ratio = median["MoneyPathFlask"] / median["before/after_request pair"]
    added = (median["MoneyPathFlask"] - base) / max(median["before/after_request pair"] - base, 1e-9)
    print(f"MoneyPathFlask / pair: {ratio:.2f}x per request; added cost {added:.2f}x the pair's (goal: <= 1.2x)")


if __name__ == "__main__":
    main()
