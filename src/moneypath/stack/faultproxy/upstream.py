"""Forwarding: one request to an upstream and its whole answer, with hop-by-hop headers dropped both ways."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiohttp import ClientError, ClientSession, ClientTimeout, DummyCookieJar, TCPConnector, web
from yarl import URL

from moneypath.stack.faultproxy.proxy_config import display

UPSTREAM_CONNECT_S = 5.0
UPSTREAM_READ_S = 60.0  # an upstream silent this long is a 504; a provider call is never this slow on purpose
# Below uvicorn's 5 s keep-alive: a pooled connection the upstream is about to close is not reused for a
# POST (aiohttp retries only idempotent methods on a dead pooled connection; a charge would be a 502).
KEEPALIVE_S = 4.0

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade"})
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "expect"}
NOT_RETURNED = HOP_BY_HOP | {"content-length"}
# aiohttp adds these when the request has none; a transparent proxy sends what the service sent.
SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


def forward_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]], drop: frozenset[str]) -> list[tuple[str, str]]:
    """Headers without hop-by-hop ones (and those the Connection header names) and `drop`; repeats kept."""
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    named = {t.strip().lower() for k, v in items if k.lower() == "connection" for t in v.split(",")}
    return [(k, v) for k, v in items if (low := k.lower()) not in drop and low not in named]


@dataclass
class Answer:
    status: int
    reason: str | None
    headers: list[tuple[str, str]]
    body: bytes

    def response(self, fault: str | None = None) -> web.Response:
        response = web.Response(status=self.status, reason=self.reason, headers=self.headers, body=self.body)
        if fault:
            response.headers["X-Moneypath-Fault"] = fault
        return response


class UpstreamError(Exception):
    def __init__(self, status: int, type_: str, detail: str):
        self.status, self.type = status, type_
        super().__init__(detail)


async def send(session: ClientSession, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
    """One request upstream and its whole answer; UpstreamError (502/504) when there is none."""
    try:
        async with session.request(method, URL(url, encoded=True), headers=headers, data=body or None,
                                   allow_redirects=False) as resp:
            content = await resp.read()
            return Answer(resp.status, resp.reason, forward_headers(_raw_headers(resp), NOT_RETURNED), content)
    except TimeoutError:
        raise UpstreamError(504, "upstream-timeout", f"{display(url)} did not answer within "
                                                     f"{UPSTREAM_READ_S:g} s") from None
    except (ClientError, OSError) as exc:
        raise UpstreamError(502, "upstream-unreachable", f"{display(url)}: {type(exc).__name__}: {exc}") from None


def _raw_headers(resp) -> list[tuple[str, str]]:
    """The answer's headers with repeats (Set-Cookie…) and their original case."""
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.raw_headers]


def new_session() -> ClientSession:
    # limit=0: the proxy must not queue what the service sends; the service's own pool bounds it.
    # trust_env=False: an HTTP(S)_PROXY in the environment must not reroute calls to the providers.
    return ClientSession(
        connector=TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_S, ttl_dns_cache=300),
        timeout=ClientTimeout(total=None, sock_connect=UPSTREAM_CONNECT_S, sock_read=UPSTREAM_READ_S),
        auto_decompress=False, cookie_jar=DummyCookieJar(), trust_env=False, skip_auto_headers=SKIP_AUTO_HEADERS)


def reset(request: web.Request) -> None:
    """Close the client's connection with a TCP RST, answering nothing."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
