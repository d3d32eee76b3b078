"""`moneypath faultproxy`: an HTTP reverse proxy between a payment service and its providers that breaks
the money path on request, without touching the service.

    ANY /{provider}/{path}           → upstream[provider]/{path}   (the service's calls to a provider)
    ANY /webhooks/{provider}/{path}  → webhook_target/{path}       (the provider's webhooks back to the service)
    GET /healthz                     {"ok": true, "upstreams": {...}, ...}
    GET /admin/faults, PUT|DELETE /admin/faults/{name}[?provider=P]   (bearer token, scope admin:faults)

Method, query, headers (hop-by-hop ones dropped, Host set for the upstream), body and the answer's status,
headers and body pass unchanged (compressed bodies stay compressed; no cookie is kept; no redirect is
followed). An unknown provider is a 404, an upstream that cannot be reached a 502, one that does not answer
within UPSTREAM_READ_S a 504: problem+json, never a traceback.

Faults are the shared switches (moneypath.protocol.faults.Faults, vocabulary fault_specs.proxy_specs), off
unless the proxy starts with `enable_faults`; each hits one provider and ends by itself (`duration_s`).
On a provider call they apply in this order:

    reset {rate}                 the client's connection is closed (TCP RST) without an answer; nothing forwarded
    error_rate {rate, status}    the proxy answers `status` (default 503) itself, problem+json; nothing forwarded
    latency {extra_ms}           wait, then forward
    timeout {rate, delay_s}      forward; the upstream acts and answers; its answer is held delay_s: the
                                 ambiguous outcome (a client with a shorter timeout gives up, the charge happened)

On a webhook through /webhooks/{provider}/…:

    duplicate_webhooks {rate}    delivered twice: the provider gets the first delivery's answer, the copy
                                 (same bytes, same headers) follows as soon as that one is answered
    delay_webhooks {delay_s}     the proxy answers the provider 202 at once and delivers delay_s later
    out_of_order_webhooks {}     the first of a pair is answered 202 and held; the next one is delivered first
                                 (its answer goes to its provider), then the held one

Why 202 at once for delayed and held webhooks: real providers (Stripe, Adyen, Komoju…) give a webhook
10-30 s to be answered and retry on a timeout. Holding the provider's request open for delay_s would turn a
late webhook into a retried, duplicated one as soon as delay_s passes their timeout, which is another fault.
A late webhook in real life is the provider's queue running behind; answering for the service and
delivering later models that. The proxy then owns the delivery: it retries a failed one (connection error
or 5xx) BACKGROUND_RETRIES_S, logs a warning if it still fails, and counts it (GET /healthz "webhooks").
Replayed bytes keep the provider's original signature: a receiver that rejects seen nonces or a stale
timestamp (moneypath's own: 300 s) rejects a duplicate as replayed, and a delay beyond its window as stale.

Held and delayed work respects the fault's end: a held answer, a delayed request or webhook, and a webhook
held out of order are released when the fault is cleared, replaced, or its duration ends, whichever comes
first (late is better than lost); on shutdown everything held is released and delivered (bounded).

An answer a fault touched carries `X-Moneypath-Fault: <name>` (error_rate, latency, timeout); GET
/admin/faults shows how often each active fault fired since it was set, and each firing is logged at INFO
(at most one line a second per fault and provider, with the count).

The hot path with no fault set costs a truth test per fault (`Faults.fires` returns at once). aiohttp
serves and forwards (pooled keep-alive connections, uvloop when installed): measured on 2 cores at 200
requests/s, 0.3 ms of CPU per proxied call and 0.6-0.8 ms added at p99, where a starlette + uvicorn +
httpx proxy took 0.7 ms of CPU and added 1.6 ms (benchmarks/bench_faultproxy.py; goal: at most 2 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import logging
import math
import socket
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout, DummyCookieJar, TCPConnector, web
from yarl import URL

from moneypath._common.problem import PROBLEM, TYPE_BASE
from moneypath.protocol import tokens
from moneypath.protocol.correlation import HEADER as CORRELATION_HEADER
from moneypath.protocol.fault_specs import proxy_specs
from moneypath.protocol.faults import MAX_DURATION_S, FaultError, Faults

log = logging.getLogger("moneypath.faultproxy")

ADMIN_SCOPE = "admin:faults"
REALM = 'Bearer realm="faultproxy"'
RESERVED = ("admin", "webhooks", "healthz")  # path heads the proxy answers itself: never a provider's name
SEED = 7  # faults that fire at a rate draw from a seeded generator: a drill replays the same way
UPSTREAM_CONNECT_S = 5.0
UPSTREAM_READ_S = 60.0  # an upstream silent this long is a 504; a provider call is never this slow on purpose
# Below uvicorn's 5 s keep-alive: a pooled connection the upstream is about to close is not reused for a
# POST (aiohttp retries only idempotent methods on a dead pooled connection; a charge would be a 502).
KEEPALIVE_S = 4.0
BACKGROUND_RETRIES_S = (0.1, 0.5, 2.0)  # one sleep before each retry of a webhook the proxy delivers itself
DRAIN_S = 5.0  # on shutdown: how long released webhooks get to be delivered
STARTUP_PROBE_S = 3.0
MAX_BODY_BYTES = 32 * 1024 * 1024

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade"})
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "expect"}
NOT_RETURNED = HOP_BY_HOP | {"content-length"}
# aiohttp adds these when the request has none; a transparent proxy sends what the service sent.
SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class ConfigError(ValueError):
    """A bad proxy configuration, as one line for the command line."""


# --- configuration ---------------------------------------------------------------------------------------

def parse_url(text: str, what: str) -> str:
    """An http(s) base URL without a trailing slash, query or fragment; ConfigError otherwise."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"{what}: {text!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{what}: {text!r} must be an http:// or https:// base URL without a query, "
                          "e.g. http://127.0.0.1:9101")
    return text.rstrip("/")


def parse_upstreams(values: Iterable[str], providers: Iterable[str]) -> dict[str, str]:
    """`--upstream NAME=URL` values → {provider: base URL}, one per provider of the catalog."""
    known = list(providers)
    upstreams: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        name = name.strip()
        if not sep or not name or not url.strip():
            raise ConfigError(f"--upstream {value!r}: expected PROVIDER=URL, e.g. {(known or ['acme'])[0]}="
                              "http://127.0.0.1:9101")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"--upstream {value!r}: {name} is not a provider of the catalog "
                              f"(known: {', '.join(known)}){hint}")
        if name in upstreams:
            raise ConfigError(f"--upstream {value!r}: {name} has an upstream already ({display(upstreams[name])})")
        upstreams[name] = parse_url(url.strip(), f"--upstream {name}")
    missing = [p for p in known if p not in upstreams]
    if missing:
        example = " ".join(f"--upstream {p}=URL" for p in missing)
        raise ConfigError(f"no --upstream for {', '.join(missing)}: every provider of the catalog needs one "
                          f"(add {example})")
    reserved = [p for p in known if p in RESERVED]
    if reserved:
        raise ConfigError(f"provider {reserved[0]!r} cannot be proxied: /{reserved[0]}/ is the proxy's own path "
                          f"({', '.join(RESERVED)} are reserved)")
    return upstreams


def display(url: str) -> str:
    """A URL for messages and /healthz: credentials in it are masked."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


@dataclass(frozen=True)
class ProxyConfig:
    upstreams: Mapping[str, str]  # provider → base URL (parse_upstreams)
    webhook_target: str | None = None  # base URL webhooks go to; None: /webhooks/… is a 404
    token_secret: bytes | None = None  # verifies admin tokens; required when faults are enabled
    enable_faults: bool = False
    seed: int = SEED

    def __post_init__(self):
        if self.enable_faults and not self.token_secret:
            raise ConfigError("faults need a token secret to check admin tokens (MONEYPATH_TOKEN_SECRET)")


def banner(config: ProxyConfig, url: str) -> str:
    routes = ", ".join(f"{p} → {display(u)}" for p, u in config.upstreams.items())
    hooks = f", webhooks → {display(config.webhook_target)}" if config.webhook_target else ""
    return f"faultproxy on {url}: {routes}{hooks} (faults {'enabled' if config.enable_faults else 'off'})"


# --- faults and what they hold ---------------------------------------------------------------------------

@dataclass
class _Window:
    """One fault setting's end, and the work waiting under it (released when the setting goes)."""

    end: float
    waiters: set[asyncio.Future] = field(default_factory=set)

    def release(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


class ProxyFaults:
    """The proxy's faults: the shared switches plus what the proxy holds under them, so that clearing a
    fault, replacing it, or its end releases held answers, delayed requests and held webhooks."""

    def __init__(self, providers: tuple[str, ...], seed: int = SEED, clock: Callable[[], float] = time.monotonic):
        self.faults = Faults(proxy_specs(providers), seed, clock)
        self._clock = clock
        self._windows: dict[tuple[str, str | None], _Window] = {}
        self._fire_log: dict[tuple[str, str], tuple[int, float]] = {}
        self.fired: dict[tuple[str, str], int] = {}

    def set(self, name: str, body: object) -> dict:
        described = self.faults.set(name, body)
        key = (name, described.get("provider"))
        if old := self._windows.pop(key, None):
            old.release()  # work held under the old setting goes now
        self._windows[key] = _Window(self._clock() + described.get("ends_in_s", MAX_DURATION_S))
        self.fired.pop(key, None)
        self._fire_log.pop(key, None)
        log.info("fault set: %s", json.dumps(described, sort_keys=True))
        return described

    def clear(self, name: str, provider: str | None = None) -> list[dict]:
        cleared = self.faults.clear(name, provider)
        for fault in cleared:
            if window := self._windows.pop((name, fault.get("provider")), None):
                window.release()
            log.info("fault cleared: %s", json.dumps(fault, sort_keys=True))
        return cleared

    def active(self) -> list[dict]:
        """The active faults, each with how often it fired since it was set."""
        return [f | {"fired": self.fired.get((f["name"], f.get("provider")), 0)} for f in self.faults.active()]

    def release_all(self) -> None:
        for window in self._windows.values():
            window.release()

    def fires(self, name: str, provider: str, headers: Mapping[str, str] | None = None) -> dict | None:
        """The fault's parameters when it fires on this call (Faults.fires: at once when no fault is set),
        counted and logged with the call's correlation id from `headers`."""
        params = self.faults.fires(name, provider)
        if params is not None:
            self._fired(name, provider, _correlation_id(headers) if headers is not None else None)
        return params

    async def hold(self, name: str, provider: str, seconds: float) -> None:
        """Wait `seconds`, or less: until this fault is cleared, replaced or its duration ends."""
        window = self._windows.get((name, provider))
        seconds = min(seconds, window.end - self._clock() if window else MAX_DURATION_S)
        if seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(seconds, _wake, waiter)
        if window is not None:
            window.waiters.add(waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            if window is not None:
                window.waiters.discard(waiter)

    def _fired(self, name: str, provider: str, correlation_id: str | None) -> None:
        """INFO at most once a second per fault and provider, with the count since the last line."""
        key = (name, provider)
        self.fired[key] = self.fired.get(key, 0) + 1
        now = self._clock()
        count, last = self._fire_log.get(key, (0, -math.inf))
        if now - last < 1.0:
            self._fire_log[key] = (count + 1, last)
            return
        self._fire_log[key] = (0, now)
        extra = {"fault": name, "provider": provider, "fired": count + 1}
        if correlation_id:
            extra["correlation_id"] = correlation_id
        log.info("fault %s fired on %s (%d time%s since the last line)", name, provider, count + 1,
                 "" if count == 0 else "s", extra=extra)


# --- HTTP plumbing ---------------------------------------------------------------------------------------

def problem(status: int, type_: str, title: str, detail: str, headers: Mapping[str, str] | None = None,
            **extensions: object) -> web.Response:
    """RFC 9457 problem details, the same shape as moneypath._common.problem (which is Starlette's)."""
    body = {"type": TYPE_BASE + type_, "title": title, "status": status, "detail": detail}
    body.update((k, v) for k, v in extensions.items() if v is not None)
    return web.Response(status=status, body=json.dumps(body).encode(), headers={"Content-Type": PROBLEM, **(headers or {})})


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json")


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


def _session() -> ClientSession:
    # limit=0: the proxy must not queue what the service sends; the service's own pool bounds it.
    # trust_env=False: an HTTP(S)_PROXY in the environment must not reroute calls to the providers.
    return ClientSession(
        connector=TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_S, ttl_dns_cache=300),
        timeout=ClientTimeout(total=None, sock_connect=UPSTREAM_CONNECT_S, sock_read=UPSTREAM_READ_S),
        auto_decompress=False, cookie_jar=DummyCookieJar(), trust_env=False, skip_auto_headers=SKIP_AUTO_HEADERS)


def _reset(request: web.Request) -> None:
    """Close the client's connection with a TCP RST, answering nothing."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _correlation_id(headers: Mapping[str, str]) -> str | None:
    value = headers.get(CORRELATION_HEADER)
    return value if value and len(value) <= 64 and value.isprintable() else None


# --- webhooks --------------------------------------------------------------------------------------------

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
                return _json({"accepted": True, "fault": "out_of_order_webhooks",
                              "detail": "held by the fault proxy; delivered after the next webhook"}, 202)
            held[1].cancel()
            batch.append(held[0])
        sends = []
        for item in batch:
            sends += [item, item] if faults.fires("duplicate_webhooks", provider, headers) else [item]
        if late := faults.fires("delay_webhooks", provider, headers):
            self._spawn(self._deliver_later(provider, sends, late["delay_s"]))
            return _json({"accepted": True, "fault": "delay_webhooks", "deliver_in_s": late["delay_s"],
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


# --- the application -------------------------------------------------------------------------------------

FAULTS = web.AppKey("faults", ProxyFaults)
WEBHOOKS = web.AppKey("webhooks", WebhookRelay)
CONFIG = web.AppKey("config", ProxyConfig)


def create_app(config: ProxyConfig) -> web.Application:
    providers = tuple(config.upstreams)
    upstreams = dict(config.upstreams)
    known = ", ".join(providers)
    faults = ProxyFaults(providers, config.seed)
    state: dict[str, ClientSession] = {}

    def session() -> ClientSession:
        return state["session"]

    webhooks = WebhookRelay(faults, session)
    target = config.webhook_target.rstrip("/") if config.webhook_target else None

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await route(request)
        except web.HTTPException as exc:  # aiohttp's own refusals (a body over MAX_BODY_BYTES…), as problems
            return problem(exc.status, "http-error", exc.reason, exc.text or exc.reason)
        except Exception:  # never a traceback to the caller; the log has it
            log.exception("fault proxy failed on %s %s", request.method, request.path)
            return problem(500, "internal-error", "Internal error", "the fault proxy failed; see its log")

    async def route(request: web.Request) -> web.StreamResponse:
        raw = request.raw_path
        path = raw.partition("?")[0]
        head, _, tail = path[1:].partition("/")
        base = upstreams.get(head)
        if base is not None:
            return await provider_call(request, head, base + raw[len(head) + 1:])
        if head == "webhooks":
            return await webhook(request, tail, raw)
        if head == "admin":
            return await admin(request, tail)
        if head == "healthz" and not tail:
            if request.method not in ("GET", "HEAD"):
                return _not_allowed(request, "GET")
            return _json({"ok": True, "upstreams": {p: display(u) for p, u in upstreams.items()},
                          "webhook_target": display(target) if target else None,
                          "faults_enabled": config.enable_faults, "faults": len(faults.faults.active()),
                          "webhooks": webhooks.stats()})
        return problem(404, "unknown-provider", "Unknown provider",
                       f"no provider {unquote(head)!r} behind this proxy: the path starts with the provider's name, "
                       f"one of {known} (e.g. /{providers[0]}/…)", known=list(providers))

    async def provider_call(request: web.Request, provider: str, url: str) -> web.StreamResponse:
        fault, headers = None, request.headers
        if faults.fires("reset", provider, headers):
            _reset(request)
            return web.Response(status=204)  # never written: the connection is gone
        if failing := faults.fires("error_rate", provider, headers):
            return problem(int(failing["status"]), "injected-error", "Injected error",
                           f"the fault proxy answered for {provider} (error_rate fault)",
                           headers={"X-Moneypath-Fault": "error_rate"})
        if slow := faults.fires("latency", provider, headers):
            await faults.hold("latency", provider, slow["extra_ms"] / 1000)
            fault = "latency"
        body = await request.read()
        try:
            answer = await send(session(), request.method, url, forward_headers(request.headers, NOT_FORWARDED), body)
        except UpstreamError as exc:
            return problem(exc.status, exc.type, "Upstream unavailable", f"{provider}: {exc}", provider=provider)
        if late := faults.fires("timeout", provider, headers):
            await faults.hold("timeout", provider, late["delay_s"])  # the upstream has acted; its answer waits
            fault = "timeout"
        return answer.response(fault)

    async def webhook(request: web.Request, tail: str, raw: str) -> web.StreamResponse:
        provider, _, _ = tail.partition("/")
        if target is None:
            return problem(404, "no-webhook-target", "No webhook target",
                           "this proxy relays no webhooks: start it with --webhook-target URL (your service's base URL)")
        if provider not in upstreams:
            return problem(404, "unknown-provider", "Unknown provider",
                           f"no provider {unquote(provider)!r} behind this proxy: webhooks go to "
                           f"/webhooks/<provider>/<path>, with one of {known}", known=list(providers))
        rest = raw[len("/webhooks/") + len(provider):]
        delivery = Delivery(request.method, target + rest, forward_headers(request.headers, NOT_FORWARDED),
                            await request.read())
        return await webhooks.relay(provider, delivery, request.headers)

    async def admin(request: web.Request, tail: str) -> web.StreamResponse:
        """Every malformed request is a 4xx problem: a query it does not take, a provider the proxy does not
        have (404, with a did-you-mean), a body that is not one JSON object (nested 100,000 deep too)."""
        if tail == "faults":
            if request.method != "GET":
                return _not_allowed(request, "GET")
            if refusal := admin_refusal(request) or query_refusal(request, ()):
                return refusal
            return _json({"faults": faults.active()})
        if not tail.startswith("faults/") or "/" in tail[len("faults/"):]:
            return problem(404, "not-found", "Not found", f"no route for {request.method} {request.path}")
        name = unquote(tail[len("faults/"):])
        if request.method not in ("PUT", "DELETE"):
            return _not_allowed(request, "PUT, DELETE")
        if refusal := admin_refusal(request) or query_refusal(request, ("provider",) if request.method == "DELETE"
                                                              else ()):
            return refusal
        specs = faults.faults.specs
        if name not in specs:
            return problem(404, "unknown-fault", "Unknown fault", f"no fault named {name!r}; known: "
                           f"{', '.join(specs)}{did_you_mean(name, specs)}", known=list(specs))
        body = None
        try:
            if request.method == "PUT":
                body, error = parse_body(await request.read())
                if error:
                    return problem(422, "invalid-fault", "Invalid fault parameters", f"body: {error}", field="body")
                return _json(faults.set(name, body))
            provider = request.query.get("provider")
            if provider is not None and provider not in upstreams:
                return unknown_provider(provider, "?provider=")
            return _json({"cleared": faults.clear(name, provider)})
        except FaultError as exc:
            given = body.get("provider") if isinstance(body, dict) and exc.field == "provider" else None
            hint = did_you_mean(given, providers) if isinstance(given, str) else ""
            return problem(exc.status, "invalid-fault", "Invalid fault parameters", f"{exc}{hint}", field=exc.field)

    def unknown_provider(provider: str, where: str) -> web.Response:
        return problem(404, "unknown-provider", "Unknown provider",
                       f"{where}{provider!r}: no such provider behind this proxy (known: {known})"
                       f"{did_you_mean(provider, providers)}", known=list(providers))

    def query_refusal(request: web.Request, takes: tuple[str, ...]) -> web.Response | None:
        for key in request.query:
            if key not in takes:
                hint = did_you_mean(key, takes)
                return problem(400, "invalid-query", "Invalid query",
                               f"{request.method} {request.path} takes "
                               f"{'no query' if not takes else 'only ?' + ', ?'.join(takes)}, not ?{key}{hint}",
                               field=key)
            if len(request.query.getall(key)) > 1:
                return problem(400, "invalid-query", "Invalid query", f"?{key} given more than once", field=key)
        return None

    def admin_refusal(request: web.Request) -> web.Response | None:
        if not config.enable_faults:
            return problem(403, "faults-disabled", "Faults disabled",
                           "faults are not enabled on this proxy: start it with --enable-faults (and "
                           "MONEYPATH_TOKEN_SECRET in its environment) to set them")
        try:
            tokens.verify(config.token_secret or b"", tokens.bearer(request.headers.get("Authorization")), ADMIN_SCOPE)
        except tokens.TokenError as exc:
            if exc.kind == "insufficient_scope":
                return problem(403, "insufficient-scope", "Forbidden", str(exc),
                               headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", '
                                                           f'scope="{ADMIN_SCOPE}"'})
            given = "Authorization" in request.headers
            return problem(401, "unauthorized", "Unauthorized", str(exc),
                           headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"' if given else REALM})
        return None

    async def start(app: web.Application) -> None:
        state["session"] = _session()

    async def shutdown(app: web.Application) -> None:  # before aiohttp waits for the requests in flight
        faults.release_all()  # held answers and delayed requests go on now; delayed webhooks are delivered
        webhooks.release()  # and so is a webhook held out of order

    async def cleanup(app: web.Application) -> None:
        left = await webhooks.drain(DRAIN_S)
        if left:
            log.warning("%d webhook deliveries still running at shutdown were abandoned", left)
        if session_ := state.pop("session", None):
            await session_.close()

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_route("*", "/{tail:.*}", handle)
    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    app[FAULTS], app[WEBHOOKS], app[CONFIG] = faults, webhooks, config
    return app


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def _object_pairs(pairs: list[tuple[str, object]]) -> dict:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"field {key!r} appears twice")
        seen[key] = value
    return seen


def parse_body(raw: bytes) -> tuple[object, str | None]:
    """The body as JSON, or why not in one line (not UTF-8, not JSON, nested deeper than the parser goes)."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_object_pairs), None
    except UnicodeDecodeError:
        return None, "is not UTF-8"
    except RecursionError:
        return None, "JSON nested too deeply"
    except json.JSONDecodeError:
        return None, "is not valid JSON"
    except ValueError as exc:  # a repeated field, an integer of more than 4,300 digits
        return None, f"is not valid JSON ({exc})"[:200]


def _not_allowed(request: web.Request, allow: str) -> web.Response:
    return problem(405, "method-not-allowed", "Method not allowed", f"{request.method} is not allowed on {request.path}",
                   headers={"Allow": allow})


# --- running it ------------------------------------------------------------------------------------------

async def probe_upstreams(upstreams: Mapping[str, str], timeout_s: float = STARTUP_PROBE_S) -> list[str]:
    """One line per upstream that does not answer GET <base> within timeout_s (any HTTP status answers)."""
    import httpx

    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
        async def probe(provider: str, url: str) -> str | None:
            try:
                await client.get(url + "/")
            except httpx.HTTPError as exc:
                return f"upstream {provider} {display(url)} does not answer ({type(exc).__name__}: {exc or 'no detail'})"
            return None

        results = await asyncio.gather(*(probe(p, u) for p, u in upstreams.items()))
    return [line for line in results if line]


async def serve(config: ProxyConfig, host: str, port: int, ready: Callable[[str], None],
                stop: asyncio.Event | None = None, check_upstreams: bool = True) -> None:
    """Check the upstreams (ConfigError), listen, call ready(url), serve until SIGTERM/SIGINT or `stop`."""
    if check_upstreams and (problems := await probe_upstreams(config.upstreams)):
        raise ConfigError("; ".join(problems))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    runner = web.AppRunner(create_app(config), access_log=None, shutdown_timeout=2.0, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        bound = runner.addresses[0][1]
        for signum in (_signal("SIGTERM"), _signal("SIGINT")):
            loop.add_signal_handler(signum, stop.set)
        ready(f"http://{host if ':' not in host else f'[{host}]'}:{bound}")
        await stop.wait()
    finally:
        await runner.cleanup()


def _signal(name: str):
    import signal

    return getattr(signal, name)

