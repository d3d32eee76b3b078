"""moneypath.instrument.flask: the extension in two lines, route templates from Flask's rules, an exception as a
5xx re-raised as it is, a streamed answer timed to its last chunk, the correlation id, /metrics, and the start-up
check for several gunicorn workers without a multi-process directory."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from flask import Flask, Response, stream_with_context
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder

from moneypath.instrument import current_correlation_id
from moneypath.instrument import wsgi as wsgi_module
from moneypath.instrument._routes import werkzeug_template
from moneypath.instrument.flask import MoneyPathFlask, get_moneypath
from moneypath.protocol.correlation_header import HEADER
from tests.unit.instrument.frameworks.conftest import HTTP, SECONDS, errors, moneypath_lines, sample


class Boom(RuntimeError):
    pass


class ClosingClient(FlaskClient):
    """Closes each answer as a WSGI server does (werkzeug's client leaves it open unless buffered)."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def flask_app(name: str, **kwargs) -> Flask:
    app = Flask(name, **kwargs)
    app.test_client_class = ClosingClient
    return app


def shop(mp, **config) -> Flask:
    app = flask_app("shop")
    app.config.update(config)

    @app.get("/orders/<int:order_id>")
    def order(order_id):
        return {"order": order_id, "correlation_id": current_correlation_id()}

    @app.get("/orders/new")
    def new_order():
        return "new"

    @app.get("/orders/<int:order_id>/items/<path:item>")
    def item(order_id, item):
        return item

    @app.get("/boom")
    def boom():
        raise Boom("provider said no")

    @app.get("/legacy/<order_id>")
    def legacy(order_id):
        return "legacy"

    MoneyPathFlask(app, moneypath=mp)
    return app


@pytest.mark.parametrize("rule, template", [
    ("/orders/<int:order_id>", "/orders/{order_id}"),
    ("/orders/<order_id>", "/orders/{order_id}"),
    ("/files/<path:rest>", "/files/{rest}"),
    ("/kind/<any(card, bank):kind>/<float(signed=True):amount>", "/kind/{kind}/{amount}"),
    ("/", "/"),
])
def test_werkzeug_rules_become_catalog_templates(rule, template):
    assert werkzeug_template(rule) == template


def test_requests_are_recorded_by_the_rule_as_template(mp):
    client = shop(mp).test_client()
    for path in ("/orders/1", "/orders/2", "/orders/new", "/orders/3/items/a/b"):
        assert client.get(path).status_code == 200
    assert sample(mp, HTTP, route="/orders/{order_id}", method="GET", status_class="2xx") == 2
    assert sample(mp, HTTP, route="/orders/new", method="GET", status_class="2xx") == 1
    assert sample(mp, HTTP, route="/orders/{order_id}/items/{item}", method="GET", status_class="2xx") == 1
    assert sample(mp, SECONDS, "_count", route="/orders/{order_id}", method="GET") == 2
    assert errors(mp) == 0


def test_an_undeclared_404_is_other_quietly_and_a_405_is_its_route(mp, caplog):
    client = shop(mp).test_client()
    assert client.get("/wp-login.php").status_code == 404
    assert client.post("/orders/1").status_code == 405
    assert sample(mp, HTTP, route="other", method="GET", status_class="4xx") == 1
    assert sample(mp, HTTP, route="/orders/{order_id}", method="POST", status_class="4xx") == 1  # its route's 405
    assert errors(mp) == 0 and moneypath_lines(caplog) == []


def test_a_declared_path_the_rule_does_not_fit_is_counted_and_logged_once(mp, caplog):
    client = shop(mp).test_client()
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    client.get("/orders/abc")  # <int:order_id> refuses it: 404, but the catalog's /orders/{order_id} fits
    client.get("/orders/xyz")
    assert sample(mp, HTTP, route="other", method="GET", status_class="4xx") == 2
    assert errors(mp) == 2 and len(moneypath_lines(caplog)) == 1
    assert "route /orders/{order_id} is declared" in moneypath_lines(caplog)[0]


def test_an_exception_is_a_5xx_of_its_route_and_reraised_untouched(mp):
    app = shop(mp, PROPAGATE_EXCEPTIONS=True)
    with pytest.raises(Boom, match="provider said no"):
        app.test_client().get("/boom")
    assert sample(mp, HTTP, route="/boom", method="GET", status_class="5xx") == 1
    handled = shop(mp).test_client().get("/boom")  # production: Flask answers 500 itself
    assert handled.status_code == 500
    assert sample(mp, HTTP, route="/boom", method="GET", status_class="5xx") == 2


def test_a_streamed_answer_is_timed_to_its_last_chunk(mp, monkeypatch):
    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(wsgi_module, "_perf", lambda: clock.now)
    app = Flask("stream")

    @app.get("/stream")
    def stream():
        def chunks():
            for n in range(3):
                clock.now += 2.0  # each chunk takes two seconds
                yield f"{n} {current_correlation_id()}\n"
        return Response(stream_with_context(chunks()))

    MoneyPathFlask(app, moneypath=mp)
    started = []
    body = app(EnvironBuilder(path="/stream", headers={HEADER: "stream-12345678"}).get_environ(),
               lambda status, headers, exc_info=None: started.append((status, dict(headers))))
    first = next(iter(body))
    assert first == b"0 stream-12345678\n" and started[0][1][HEADER] == "stream-12345678"
    assert sample(mp, HTTP, route="/stream", method="GET", status_class="2xx") == 0  # not before the last chunk
    assert b"".join(body) == b"1 stream-12345678\n2 stream-12345678\n"
    body.close()
    assert sample(mp, HTTP, route="/stream", method="GET", status_class="2xx") == 1
    assert sample(mp, SECONDS, "_sum", route="/stream", method="GET") == 6.0
    assert current_correlation_id() is None  # restored once the answer is closed


def test_the_correlation_id_is_echoed_or_made(mp):
    client = shop(mp).test_client()
    mine = client.get("/orders/7", headers={HEADER: "abc-12345678"})
    assert mine.headers[HEADER] == "abc-12345678" and mine.json["correlation_id"] == "abc-12345678"
    fresh = client.get("/orders/7", headers={HEADER: "4111 1111 1111 1111"})  # never a card number
    assert fresh.headers[HEADER] != "4111 1111 1111 1111" and fresh.json["correlation_id"] == fresh.headers[HEADER]


def test_metrics_are_served_and_not_recorded(mp):
    client = shop(mp).test_client()
    client.get("/orders/1")
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert b'shop_http_requests_total{method="GET",route="/orders/{order_id}",status_class="2xx"} 1.0' in answer.data
    open_metrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert open_metrics.content_type.startswith("application/openmetrics-text")
    assert client.head("/metrics").data == b"" and client.post("/metrics").status_code == 405
    assert sample(mp, HTTP, route="other", method="GET", status_class="2xx") == 0


def test_a_hook_that_answers_first_still_leaves_the_route_noted(mp):
    app = flask_app("shop")
    app.before_request(lambda: ("maintenance", 503))
    app.add_url_rule("/orders/<int:order_id>", "order", lambda order_id: "never")
    MoneyPathFlask(app, moneypath=mp)
    assert app.test_client().get("/orders/5").status_code == 503
    assert sample(mp, HTTP, route="/orders/{order_id}", method="GET", status_class="5xx") == 1


def test_an_app_factory_reads_the_catalog_from_its_config(catalog_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics = MoneyPathFlask(metrics_path=None)
    app = flask_app("factory", root_path=str(catalog_path.parent))
    app.config["MONEYPATH_CATALOG"] = catalog_path.name  # relative to the app's root_path
    app.add_url_rule("/healthz", "healthz", lambda: "ok")
    metrics.init_app(app)
    assert app.test_client().get("/healthz").status_code == 200
    with app.app_context():
        assert get_moneypath() is metrics.mp
    assert sample(metrics.mp, HTTP, route="/healthz", method="GET", status_class="2xx") == 1
    assert app.test_client().get("/metrics").status_code == 404  # metrics_path=None: not served


def _under_gunicorn(self, mp):
    """Called with a gunicorn object as `self`, as gunicorn's worker loads the app."""
    app = Flask("shop")
    MoneyPathFlask(app, moneypath=mp)
    return app


def test_several_gunicorn_workers_without_a_directory_are_told_at_start(mp, caplog):
    from gunicorn.app.wsgiapp import WSGIApplication

    loader = WSGIApplication.__new__(WSGIApplication)
    loader.cfg = SimpleNamespace(workers=3)
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    _under_gunicorn(loader, mp)
    _under_gunicorn(loader, mp)
    lines = moneypath_lines(caplog)
    assert len(lines) == 1 and errors(mp) == 1
    assert lines[0].startswith("gunicorn runs 3 workers") and "PROMETHEUS_MULTIPROC_DIR is not set" in lines[0]


def test_one_gunicorn_worker_or_a_directory_is_quiet(mp, caplog, monkeypatch, tmp_path):
    from gunicorn.app.wsgiapp import WSGIApplication

    loader = WSGIApplication.__new__(WSGIApplication)
    loader.cfg = SimpleNamespace(workers=1)
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    _under_gunicorn(loader, mp)
    loader.cfg.workers = 4
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    _under_gunicorn(loader, mp)
    _under_gunicorn(None, mp)  # not under gunicorn at all
    assert moneypath_lines(caplog) == [] and errors(mp) == 0
