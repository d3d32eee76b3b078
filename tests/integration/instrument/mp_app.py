"""A minimal instrumented ASGI service, run by uvicorn with several workers in tests."""

import os

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from moneypath.instrument import MoneyPath, MoneyPathMiddleware

mp = MoneyPath.from_catalog(os.environ["MONEYPATH_CATALOG"])


async def authorize(request):
    mp.record_authorization("acme", "card", "approved", 0.01)
    return PlainTextResponse(str(os.getpid()))


app = Starlette(routes=[Route("/v1/payments/authorize", authorize, methods=["POST"]),
                        Route("/metrics", mp.metrics_app())])
app.add_middleware(MoneyPathMiddleware, moneypath=mp)
