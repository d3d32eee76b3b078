"""A one-route payment API for the sticky-workers liar (test_sticky_workers.py): `POST /charges` authorizes (one
authorization counted, approved) and answers {id, status} with `Connection: close`, so each charge is a new
connection any worker may accept; `/metrics` on the same port, where Prometheus keeps its scrape connection alive,
so every scrape lands on the worker that accepted it. Run under `uvicorn --workers 2` without
PROMETHEUS_MULTIPROC_DIR: each worker counts its own, and Prometheus reads one."""

import os
import uuid

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from moneypath.instrument import MoneyPath

mp = MoneyPath.from_catalog(os.environ["MONEYPATH_CATALOG"])


async def charge(request):
    body = await request.json()
    mp.record_authorization(str(body.get("provider")), str(body.get("method")), "approved", 0.005)
    return JSONResponse({"id": f"ch_{uuid.uuid4().hex[:16]}", "status": "approved"}, status_code=201,
                        headers={"connection": "close"})


asgi = Starlette(routes=[Route("/charges", charge, methods=["POST"]), Route("/metrics", mp.metrics_app())])
