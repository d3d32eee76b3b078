"""The HTTP client the provider adapters post through: aiohttp against a URL, httpx for an
in-process ASGI transport (tests).

Why two: httpx's connection pool scans every pooled connection (a socket poll each) on every
request, a cost that grows with concurrency; aiohttp's C parser and pool do not
(docs/decisions/0012-provider-client.md). httpx stays for `provider_transport`, which lets the unit tests
run the provider simulator in-process through `httpx.ASGITransport`.

Both answer `post()` with (status, body bytes) and raise `ProviderTimeout` or
`ProviderUnreachable`; the adapters own retries, deadlines and the circuit breaker.
"""

from __future__ import annotations

import json

import aiohttp
import httpx


class ProviderTimeout(Exception):
    """No answer within the deadline: the outcome at the provider is unknown."""


class ProviderUnreachable(Exception):
    """The request did not get an HTTP answer (refused, reset, protocol error)."""


class ProviderHttp:
    async def post(self, path: str, body: dict, headers: dict[str, str] | None, timeout_s: float) -> tuple[int, bytes]:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


class AiohttpProviderHttp(ProviderHttp):
    """Keep-alive connections to one base URL. The session is opened on first use, inside the
    event loop that serves requests."""

    def __init__(self, base_url: str, max_connections: int = 100):
        self.base_url, self.max_connections = base_url.rstrip("/"), max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(self.base_url, connector=connector)
        return self._session

    async def post(self, path, body, headers, timeout_s):
        session = self._session or self._open()
        try:
            async with session.post(path, data=json.dumps(body).encode(),
                                    headers={"Content-Type": "application/json", **(headers or {})},
                                    timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp.ServerTimeoutError is one too
            raise ProviderTimeout(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise ProviderUnreachable(str(exc)) from exc

    async def aclose(self):
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxProviderHttp(ProviderHttp):
    """Through an httpx transport, e.g. httpx.ASGITransport(app=simulator) in tests."""

    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport | None = None):
        self.client = httpx.AsyncClient(base_url=base_url, transport=transport)

    async def post(self, path, body, headers, timeout_s):
        try:
            response = await self.client.post(path, json=body, headers=headers, timeout=timeout_s)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(str(exc)) from exc
        except httpx.TransportError as exc:
            raise ProviderUnreachable(str(exc)) from exc
        return response.status_code, response.content

    async def aclose(self):
        await self.client.aclose()


def provider_http(base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> ProviderHttp:
    return HttpxProviderHttp(base_url, transport) if transport is not None else AiohttpProviderHttp(base_url)
