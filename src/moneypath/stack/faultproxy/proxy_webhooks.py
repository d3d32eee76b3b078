"""Webhooks from providers to the service through /webhooks/{provider}/…, with the webhook faults applied:
duplicated, delayed (answered 202 at once, delivered later) or held out of order. What the proxy delivers
itself it retries BACKGROUND_RETRIES_S and counts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import ClientSession, web

from moneypath.protocol.faults.switches import MAX_DURATION_S
from moneypath.stack.faultproxy.proxy_config import display
from moneypath.stack.faultproxy.proxy_faults import ProxyFaults
from moneypath.stack.faultproxy.responses import json_response, problem
from moneypath.stack.faultproxy.upstream import UpstreamError, send

log = logging.getLogger("moneypath.faultproxy")

BACKGROUND_RETRIES_S = (0.1, 0.5, 2.0)  # one sleep before each retry of a webhook the proxy delivers itself


@dataclass
class Delivery:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes


class WebhookRelay:
    """Webhooks from providers to the service, with the webhook faults applied."""

    def __init__(self, faults: ProxyFaults, session: Callable[[], ClientSession]):
        self.faults, self._session = faults, session
        self._held: dict[str, tuple[Delivery, asyncio.Task]] = {}  # out_of_order_webhooks: one per provider
        self._tasks: set[asyncio.Task] = set()
        self.delivered = self.failed = 0

    def stats(self) -> dict:
        return {"held": len(self._held), "in_flight": sum(not t.done() for t in self._tasks),
                "delivered": self.delivered, "failed": self.failed}

    async def relay(self, provider: str, delivery: Delivery, headers: Mapping[str, str] | None = None) -> web.Response:
        faults = self.faults
        batch = [delivery]
        if faults.fires("out_of_order_webhooks", provider, headers) is not None:
            held = self._held.pop(provider, None)
            if held is None:
                self._held[provider] = (delivery, self._spawn(self._release_held(provider, delivery)))
                return json_response({"accepted": True, "fault": "out_of_order_webhooks",
                                      "detail": "held by the fault proxy; delivered after the next webhook"}, 202)
            held[1].cancel()
            batch.append(held[0])
        sends = []
        for item in batch:
            sends += [item, item] if faults.fires("duplicate_webhooks", provider, headers) else [item]
        if late := faults.fires("delay_webhooks", provider, headers):
            self._spawn(self._deliver_later(provider, sends, late["delay_s"]))
            return json_response({"accepted": True, "fault": "delay_webhooks", "deliver_in_s": late["delay_s"],
                                  "detail": "accepted by the fault proxy; delivered late"}, 202)
        try:
            answer = await send(self._session(), *_fields(sends[0]))
        except UpstreamError as exc:
            answer = None
            response = problem(exc.status, exc.type, "Webhook target unavailable", str(exc))
        if answer is not None:
            self.delivered += 1
            response = answer.response()
        if len(sends) > 1:
            self._spawn(self._deliver_all(sends[1:]))
        return response

    def release(self) -> None:
        """Deliver what out_of_order_webhooks holds now (shutting down)."""
        for provider in list(self._held):
            delivery, task = self._held.pop(provider)
            task.cancel()
            self._spawn(self._deliver_all([delivery]))

    async def drain(self, timeout_s: float) -> int:
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
        return sum(not t.done() for t in pending)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # the loop holds tasks weakly; keep them until they finish
        task.add_done_callback(self._tasks.discard)
        return task

    async def _release_held(self, provider: str, delivery: Delivery) -> None:
        """A webhook held out of order with no partner: delivered when the fault ends or is cleared."""
        await self.faults.hold("out_of_order_webhooks", provider, MAX_DURATION_S)
        held = self._held.get(provider)
        if held is not None and held[0] is delivery:
            del self._held[provider]
            await self._deliver_all([delivery])

    async def _deliver_later(self, provider: str, sends: list[Delivery], delay_s: float) -> None:
        await self.faults.hold("delay_webhooks", provider, delay_s)
        await self._deliver_all(sends)

    async def _deliver_all(self, sends: list[Delivery]) -> None:
        for delivery in sends:  # one after the other: the order they arrive in is the fault's
            problem_ = ""
            for attempt in range(len(BACKGROUND_RETRIES_S) + 1):
                if attempt:
                    await asyncio.sleep(BACKGROUND_RETRIES_S[attempt - 1])
                try:
                    answer = await send(self._session(), *_fields(delivery))
                except UpstreamError as exc:
                    problem_ = str(exc)
                    continue
                if answer.status < 500:
                    self.delivered += 1
                    if answer.status >= 400:
                        log.warning("webhook delivered by the proxy was refused: %s %s → HTTP %d",
                                    delivery.method, display(delivery.url), answer.status)
                    break
                problem_ = f"HTTP {answer.status}"
            else:
                self.failed += 1
                log.warning("webhook to %s failed after %d attempts (%s)", display(delivery.url),
                            len(BACKGROUND_RETRIES_S) + 1, problem_)


def _fields(d: Delivery) -> tuple[str, str, list[tuple[str, str]], bytes]:
    return d.method, d.url, d.headers, d.body

