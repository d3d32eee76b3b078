"""Signed webhooks to `<webhook_url>/<provider>`, sent from background tasks.

The API answers first and the webhook follows, as at a real provider, so a slow or failing
receiver never slows a payment. Each attempt is signed afresh (moneypath.reference.signing) because
the receiver rejects a nonce it has seen, and with the provider's own secret; a failed attempt is
retried up to 3 times.

aiohttp, not httpx: httpx's pool scans every queued request against every connection on each
request, so when deliveries queue up (a burst, a slow receiver) the cost per webhook grows with the
queue, until the simulator's answers to the service slow past its provider timeout. aiohttp's
connector queues waiters in order at a constant cost each (see docs/decisions/0012-provider-client.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping

import aiohttp

from moneypath.protocol.correlation_header import HEADER as CORRELATION_HEADER
from moneypath.reference.providersim.simulator_faults import SimulatorFaults
from moneypath.reference.signing import HEADER, sign

log = logging.getLogger("moneypath.providersim")
BACKOFF_S = (0.05, 0.2, 0.5)  # one sleep before each retry
MAX_CONNECTIONS = 100  # to the receiver; more deliveries wait their turn


class WebhookSender:
    def __init__(self, url: str | None, secrets: Mapping[str, bytes], faults: SimulatorFaults,
                 backoff_s: tuple[float, ...] = BACKOFF_S, timeout_s: float = 2.0):
        self.url, self.secrets, self.faults = (url or "").rstrip("/"), secrets, faults  # provider → its secret
        self.backoff_s, self.timeout_s = backoff_s, timeout_s
        self.delivered = self.failed = 0
        self._held: dict[str, list[list[bytes]]] = {}  # out_of_order_webhooks: emissions waiting for a partner
        self._tasks: set[asyncio.Task] = set()
        self._client: aiohttp.ClientSession | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def emit(self, provider: str, event: dict) -> None:
        """Queue an event for delivery; call from the event loop. Never raises, never waits."""
        if not self.url:
            return
        body = json.dumps(event, separators=(",", ":")).encode()
        copies = [body, body] if self.faults.fires("duplicate_webhooks", provider) else [body]
        if self.faults.get("out_of_order_webhooks", provider) is None:
            self._spawn(provider, copies)
            return
        held = self._held.setdefault(provider, [])
        held.append(copies)
        if len(held) == 2:
            self._held[provider] = []
            self._spawn(provider, held[1] + held[0])  # one task, so the reversal is the order they arrive in

    def release(self, provider: str | None = None) -> None:
        """Send what out_of_order_webhooks was holding (the fault was cleared, or we are stopping)."""
        for name in [provider] if provider else list(self._held):
            for copies in self._held.pop(name, []):
                self._spawn(name, copies)

    async def drain(self, timeout_s: float) -> int:
        """Wait (bounded) for deliveries in flight on this loop; returns how many are still going."""
        loop = asyncio.get_running_loop()
        pending = [t for t in self._tasks if t.get_loop() is loop and not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
        return sum(not t.done() for t in pending)

    def _spawn(self, provider: str, bodies: list[bytes]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver_all(provider, bodies))
        self._tasks.add(task)  # the loop holds tasks weakly; keep them until they finish
        task.add_done_callback(self._tasks.discard)

    def _http(self) -> aiohttp.ClientSession:
        """One pooled session per event loop: a client per event (a TLS context and a connection
        each) would cost the simulator a large share of its core and delay its answers."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # trust_env=False (the default): the receiver is ours; an HTTP(S)_PROXY must not reroute it.
            self._client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
                                                 timeout=aiohttp.ClientTimeout(total=self.timeout_s))
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the pooled session (after drain, on shutdown)."""
        if self._client is not None and self._client_loop is asyncio.get_running_loop():
            await self._client.close()
        self._client = self._client_loop = None

    async def _deliver_all(self, provider: str, bodies: list[bytes]) -> None:
        client = self._http()
        for body in bodies:
            await self._deliver(client, f"{self.url}/{provider}", body, self.secrets[provider])

    async def _deliver(self, client: aiohttp.ClientSession, url: str, body: bytes, secret: bytes) -> None:
        problem = ""
        correlation_id = json.loads(body).get("correlation_id")  # the payment's id follows it into the webhook
        for attempt in range(len(self.backoff_s) + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s[attempt - 1])
            headers = {"content-type": "application/json", HEADER: sign(secret, body)}  # fresh nonce per attempt
            if correlation_id:
                headers[CORRELATION_HEADER] = correlation_id
            try:
                async with client.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        self.delivered += 1
                        return
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        self.failed += 1
        log.warning("webhook to %s failed after %d attempts (%s)", url, len(self.backoff_s) + 1, problem)
