"""A small instrumented service for the paging test: steady authorizations, and a ledger
imbalance that the test sets and clears over HTTP."""

import asyncio
import os
import random
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from moneypath.instrument import MoneyPath, MoneyPathMiddleware

mp = MoneyPath.from_catalog(os.environ["MONEYPATH_CATALOG"])


async def traffic():
    while True:
        mp.record_authorization("acme", "card", "approved", random.uniform(0.02, 0.2))
        await asyncio.sleep(0.05)


async def imbalance(request: Request):
    minor = int(request.query_params["minor"])
    for currency in mp.catalog.currencies:
        mp.set_ledger_imbalance(currency, minor if currency == "EUR" else 0)
    return JSONResponse({"EUR": minor})


@asynccontextmanager
async def lifespan(app):
    task = asyncio.create_task(traffic())
    yield
    task.cancel()


app = Starlette(routes=[Route("/imbalance", imbalance, methods=["POST"]), Route("/metrics", mp.metrics_app())],
                lifespan=lifespan)
app.add_middleware(MoneyPathMiddleware, moneypath=mp)
