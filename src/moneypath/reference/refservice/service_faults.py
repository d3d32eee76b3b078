"""The reference service's own faults (the provider simulator has the provider-side ones).

Off unless the service is started with faults enabled; set and cleared over HTTP with the
admin:faults scope. The vocabulary is moneypath.protocol.faults.vocabularies.service_specs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moneypath.protocol.faults.switches import Faults
from moneypath.protocol.faults.vocabularies import service_specs
from moneypath.reference.refservice.outbox import QUEUES

REQUEST_COST = "request_cost"


def service_faults(seed: int = 7) -> Faults:
    return Faults(service_specs(QUEUES), seed)


class RequestCost:
    """The request_cost fault, a costlier release: every API request the service serves (health, metrics and admin
    are not) holds the event loop `extra_ms` longer, as a release whose code spends that much more CPU per request
    would. The service's capacity falls to about 1 / (its own cost + extra_ms) requests per second, so a drill can
    take it past saturation with a hundred payments per second instead of a thousand.

    Pure ASGI, inside admission control: only admitted requests pay it (a refusal stays cheap). It is paid when the
    answer is ready (its first response message), after the request's awaits, as the work of building an answer
    is: the request is in flight while it waits for the loop, so the requests in flight and the latency admission
    control learns from both show the queue. (Paid on entry, before the first await, it would run the moment a
    request is admitted: in flight would stay near zero while the real queue grew in front of admission control,
    which then sheds nothing and lets every client time out.) The loop is held with a blocking sleep, not a hot
    loop: nothing else runs on it meanwhile, exactly as with CPU work, but a drill in CI does not burn a core of the
    machine it shares."""

    def __init__(self, app: ASGIApp, faults: Faults, counts: Callable[[str, str], bool]):
        self.app, self.faults, self.counts = app, faults, counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.counts(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return

        async def costly_send(message: Message) -> None:
            if message["type"] == "http.response.start" and (cost := self.faults.get(REQUEST_COST)) is not None:
                time.sleep(cost["extra_ms"] / 1000)  # noqa: ASYNC251 - on purpose: the fault is a busy event loop
            await send(message)

        await self.app(scope, receive, costly_send)
