"""A WSGI service for the counter-reset test, on the ticket shop's catalog (tests/foreign): `POST /call` records one
capture against komoju, `POST /hold` keeps its worker busy half a second (so the next calls go to another worker);
both answer with the worker's PID; `/metrics` as `MoneyPath` serves it."""

import os
import time

from prometheus_client import make_wsgi_app

from moneypath.instrument import MoneyPath
from moneypath.instrument.exposition import collection_registry

mp = MoneyPath.from_catalog(os.environ["MONEYPATH_CATALOG"])
metrics = make_wsgi_app(collection_registry(mp.registry))


def wsgi(environ, start_response):
    if environ["PATH_INFO"] == "/metrics":
        return metrics(environ, start_response)
    if environ["PATH_INFO"] == "/hold":
        time.sleep(0.5)
    else:
        mp.record_provider_call("komoju", "capture", "success", 0.01)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
