"""A tiny service for the worker-model tests, on the ticket shop's catalog (tests/foreign): `POST /call` records
one capture against komoju, `POST /open` opens knet's circuit in the worker that serves it; both answer with the
worker's PID. `wsgi` for gunicorn, `asgi` for uvicorn; `/metrics` on both."""

import os

from prometheus_client import make_wsgi_app
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from moneypath.instrument import MoneyPath
from moneypath.instrument.exposition import collection_registry

mp = MoneyPath.from_catalog(os.environ["MONEYPATH_CATALOG"])


def _call() -> None:
    mp.record_provider_call("komoju", "capture", "success", 0.01)


def _open() -> None:
    mp.set_circuit_state("knet", "open")


ACTIONS = {"/call": _call, "/open": _open}
metrics_wsgi = make_wsgi_app(collection_registry(mp.registry))


def wsgi(environ, start_response):
    if environ["PATH_INFO"] == "/metrics":
        return metrics_wsgi(environ, start_response)
    ACTIONS[environ["PATH_INFO"]]()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]


async def _action(request):
    ACTIONS[request.url.path]()
    return PlainTextResponse(str(os.getpid()))


asgi = Starlette(routes=[Route("/call", _action, methods=["POST"]), Route("/open", _action, methods=["POST"]),
                         Route("/metrics", mp.metrics_app())])
