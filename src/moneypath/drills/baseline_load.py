"""Baseline load for drills: payments at a steady rate through the team's own API, as the drill file's
request template (moneypath.formats.requests.Requests) says to call it.

Open loop (a payment starts every 1/rate seconds whether or not the previous one finished,
like real customers), at most `concurrency` in flight, on an asyncio loop in one background
thread. Each payment is an authorization, then (for a share of the approved ones) a capture,
each with its own idempotency key ({idempotency_key}) and the payment's x-correlation-id; a
status in the template's retry_status or a transport error is retried with the same key, after the
answer's Retry-After when it has one (capped at RETRY_AFTER_CAP_S), as a well-behaved client would. Every
outcome is kept, so the runner can tell which payments the fault touched and whether anything
acknowledged went missing. A payment whose last answer was a refusal (REFUSAL_STATUS with Retry-After:
the service said "not now" before doing anything, e.g. admission control shedding load) is counted as
refused: never acknowledged, so never a write lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from moneypath.formats.requests import Call, Requests
from moneypath.protocol.correlation_header import HEADER as CORRELATION_HEADER

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
REFUSAL_STATUS = (429, 503)  # with a Retry-After header: refused before any work (shed, rate-limited)
RETRY_AFTER_CAP_S = 5.0  # a drill waits at most this long for one Retry-After
# Connections per httpx client: the payments go through several small pools, not one of `concurrency`.
# httpcore 1.0's pool walks all its connections for each idle one on every request it adds or removes
# (_assign_requests_to_connections), O(n^2) in the pool's size: with the overload drill's 400 slots, mostly
# idle while refused payments wait out their Retry-After together, the load's own loop stalled for seconds
# every few seconds, the service saw nothing meanwhile and then a burst, and its refusals came in bursts that
# 5-second rate windows missed (LoadShedding never fired).
POOL_CONNECTIONS = 32


class TemplateError(Exception):
    """The team's API does not answer as the drill's request template says; one line."""


def render(value: Any, values: dict[str, Any]) -> Any:
    """A template value with its placeholders filled: a string that is one placeholder alone keeps the value's
    type (so "{amount_minor}" in a JSON body stays a number); inside a longer string it is text."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole and whole[1] in values:
            return values[whole[1]]
        return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], value)
    if isinstance(value, dict):
        return {k: render(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, values) for v in value]
    return value


_MISSING = object()


def dig(doc: Any, path: str) -> Any:
    """The value at a dotted path of a JSON answer (data.charge.id; list items by index), or _MISSING."""
    for part in path.split("."):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return _MISSING
    return doc


def found(value: Any) -> bool:
    return value is not _MISSING


def request_args(call: Call, values: dict[str, Any]) -> dict[str, Any]:
    """httpx request arguments of a template call."""
    args: dict[str, Any] = {"method": call.method, "url": render(call.path, values),
                            "headers": {k: str(render(v, values)) for k, v in call.headers.items()}}
    if call.json_body is not None:
        args["json"] = render(call.json_body, values)
    return args


@dataclass
class Outcome:
    """One payment as the client saw it."""

    t: float  # when it started
    provider: str
    currency: str
    amount_minor: int
    correlation_id: str
    payment_id: str | None = None  # set when the authorization was acknowledged (2xx)
    state: str | None = None  # the template's outcome: e.g. authorized, declined, held, captured
    flagged: bool = False  # an answer the template's `flagged` counts as touched (held, declined as fraud...)
    capture_wanted: bool = False
    captured: bool = False  # capture acknowledged
    error: str | None = None  # the last failure when the payment did not get through
    refused: bool = False  # its last answer was a refusal (429/503 with Retry-After): never acknowledged
    attempts: int = 0
    finished: float | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass
class Mix:
    providers: dict[str, float]
    currencies: dict[str, float]
    methods: dict[str, float]
    amount_min: int
    amount_max: int
    capture: float


@dataclass
class LoadStats:
    started: int = 0
    acknowledged: int = 0
    failed: int = 0
    refused: int = 0  # of the failed: refused by the service (429/503 + Retry-After), never acknowledged
    captured: int = 0
    behind: int = 0  # payments that could not start on time: all `concurrency` slots were busy
    statuses: dict[str, int] = field(default_factory=dict)


def major_text(catalog) -> Callable[[int, str], str]:
    """Minor units as the major-unit decimal text an API may want ({amount_major}: JPY 6235 → "6235", KWD 6235 →
    "6.235"), exact (no float)."""
    return lambda minor, currency: str(Decimal(minor).scaleb(-catalog.exponent(currency)))


def payment_values(prefix: str, i: int, provider: str, currency: str, amount_minor: int, method: str,
                   correlation_id: str, major: Callable[[int, str], str]) -> dict[str, Any]:
    """The placeholders of one payment (the idempotency key is per call, the payment id comes later)."""
    return {"amount_minor": amount_minor, "amount_major": major(amount_minor, currency), "currency": currency,
            "provider": provider, "method": method, "correlation_id": correlation_id,
            # a letter between the hex and the counter: no run of 13 digits, which passes for a card number 1 time in 10
            "reference": f"{prefix}-id{correlation_id[:12]}n{i}"}


class Load:
    def __init__(self, service_url: str | Sequence[str], headers: dict[str, str], requests: Requests, mix: Mix,
                 rate: float, major: Callable[[int, str], str], concurrency: int = 64, seed: int = 7, attempts: int = 3,
                 timeout_s: float = 10.0, prefix: str = "drill"):
        """`service_url`: one URL, or one per instance of the service: payment i goes to instance i mod N
        (authorize and capture alike), as a round-robin balancer in front of them would send it."""
        urls = [service_url] if isinstance(service_url, str) else list(service_url)
        self.service_urls = [url.rstrip("/") for url in urls]
        self.service_url, self.headers, self.requests, self.mix = self.service_urls[0], headers, requests, mix
        self.major = major
        self.rate, self.concurrency, self.attempts, self.timeout_s = rate, concurrency, attempts, timeout_s
        self.prefix = prefix
        self._rng = random.Random(seed)
        self.outcomes: list[Outcome] = []
        self.stats = LoadStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------ control (any thread)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="drill-load", daemon=True)
        self._thread.start()

    def set_rate(self, rate: float) -> None:
        self.rate = rate

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop starting payments and wait for those in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    # ------------------------------------------------------------ the loop

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        # Payment i goes to instance i mod N and, there, to pool (i // N) mod P (POOL_CONNECTIONS): the pools share
        # the slots, each keeps about its share of connections alive and may open more while the others idle.
        pools = -(-self.concurrency // POOL_CONNECTIONS)
        limits = httpx.Limits(max_connections=self.concurrency,
                              max_keepalive_connections=-(-self.concurrency // pools))
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(httpx.AsyncClient(
                base_url=url, headers=self.headers, limits=limits, timeout=self.timeout_s))
                for _ in range(pools) for url in self.service_urls]
            slots = asyncio.Semaphore(self.concurrency)
            tasks: set[asyncio.Task] = set()
            next_at = time.monotonic()
            i = 0
            while not self._stop.is_set():
                now = time.monotonic()
                if now < next_at:
                    await asyncio.sleep(min(next_at - now, 0.05))
                    continue
                next_at += 1 / self.rate
                if next_at < now - 1:  # more than a second behind: do not burst to catch up
                    next_at = now
                if slots.locked():
                    self.stats.behind += 1
                    continue
                await slots.acquire()
                task = asyncio.create_task(self._payment(clients[i % len(clients)], i))
                task.add_done_callback(lambda t: (slots.release(), tasks.discard(t)))
                tasks.add(task)
                i += 1
            if tasks:
                await asyncio.wait(tasks, timeout=self.timeout_s * self.attempts + 5)

    def _choose(self, weights: dict[str, float]) -> str:
        names = list(weights)
        return self._rng.choices(names, weights=[weights[n] for n in names])[0]

    async def _payment(self, client: httpx.AsyncClient, i: int) -> None:
        mix, api = self.mix, self.requests
        outcome = Outcome(t=time.time(), provider=self._choose(mix.providers), currency=self._choose(mix.currencies),
                          amount_minor=self._rng.randint(mix.amount_min, mix.amount_max),
                          correlation_id=uuid.uuid4().hex, capture_wanted=self._rng.random() < mix.capture)
        values = payment_values(self.prefix, i, outcome.provider, outcome.currency, outcome.amount_minor,
                                self._choose(mix.methods), outcome.correlation_id, self.major)
        with self._lock:
            self.outcomes.append(outcome)
            self.stats.started += 1
        reply = await self._send(client, outcome, "authorize", api.authorize, values)
        if reply is not None:
            pid, state = dig(reply, api.authorize.id), dig(reply, api.authorize.outcome)
            if not found(pid) or not found(state):
                missing = api.authorize.id if not found(pid) else api.authorize.outcome
                outcome.error = f"authorize: the answer has no {missing}"
            else:
                outcome.payment_id, outcome.state = str(pid), str(state)
                outcome.flagged = any(str(dig(reply, path)) in answers for path, answers in api.flagged.items())
                self.stats.acknowledged += 1
            if outcome.state in api.approved and outcome.capture_wanted and api.capture is not None:
                captured = await self._send(client, outcome, "capture", api.capture,
                                            values | {"payment_id": outcome.payment_id})
                if captured is not None:
                    outcome.captured = True
                    state = dig(captured, api.capture.outcome) if api.capture.outcome else _MISSING
                    outcome.state = str(state) if found(state) else "captured"
                    self.stats.captured += 1
        if outcome.failed:
            self.stats.failed += 1
            if outcome.refused:
                self.stats.refused += 1
        outcome.finished = time.time()

    async def _send(self, client: httpx.AsyncClient, outcome: Outcome, name: str, call: Call,
                    values: dict[str, Any]) -> Any:
        """One template call with retries under one idempotency key; the JSON answer, or None (outcome.error
        says why)."""
        args = request_args(call, values | {"idempotency_key": uuid.uuid4().hex})
        args["headers"][CORRELATION_HEADER] = outcome.correlation_id
        error = ""
        for attempt in range(self.attempts):
            outcome.attempts += 1
            wait = 0.2 * (2 ** attempt)
            outcome.refused = False
            try:
                r = await client.request(**args)
            except httpx.HTTPError as exc:
                status, error = "unreachable", f"{type(exc).__name__}"
            else:
                status = str(r.status_code)
                if r.status_code < 300:
                    self._count(status)
                    outcome.error = None
                    try:
                        return r.json()
                    except ValueError:
                        outcome.error = f"{name}: {r.status_code} answer is not JSON"
                        return None
                error = f"{r.status_code} {_problem_type(r)}".rstrip()
                after = retry_after_s(r)
                outcome.refused = r.status_code in REFUSAL_STATUS and after is not None
                if after is not None:
                    wait = max(wait, after)
                if r.status_code not in self.requests.retry_status:
                    self._count(status)
                    outcome.error = f"{name}: {error}"
                    return None
            self._count(status)
            outcome.error = f"{name}: {error}"
            if attempt + 1 < self.attempts:
                await asyncio.sleep(wait)
        return None

    def _count(self, status: str) -> None:
        with self._lock:
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1


def retry_after_s(r: httpx.Response) -> float | None:
    """The answer's Retry-After in seconds (delta-seconds; an HTTP date counts as the cap), at most
    RETRY_AFTER_CAP_S; None without one."""
    value = r.headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value.strip()), 0.0), RETRY_AFTER_CAP_S)
    except ValueError:
        return RETRY_AFTER_CAP_S if value.strip() else None


def _problem_type(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return ""
    return str(body.get("type", "")).rsplit("/", 1)[-1] if isinstance(body, dict) else ""


def probe(service_url: str, headers: dict[str, str], requests: Requests, values: dict[str, Any],
          timeout_s: float = 10.0) -> str:
    """One payment through the template, synchronously: authorize, capture when approved (and the template
    can), read it back. What it saw in one line, or TemplateError saying which answer did not match."""
    with httpx.Client(base_url=service_url.rstrip("/"), headers=headers, timeout=timeout_s) as client:
        answer = _probe_call(client, "authorize", requests.authorize, values)
        pid, state = dig(answer, requests.authorize.id), dig(answer, requests.authorize.outcome)
        for path, value in ((requests.authorize.id, pid), (requests.authorize.outcome, state)):
            if not found(value):
                keys = ", ".join(answer) if isinstance(answer, dict) else type(answer).__name__
                raise TemplateError(f"authorize: the answer has no {path} (load.requests.authorize; it has: {keys})")
        seen = f"authorize → {requests.authorize.id}={pid}, {requests.authorize.outcome}={state}"
        values = values | {"payment_id": pid}
        if str(state) in requests.approved and requests.capture is not None:
            _probe_call(client, "capture", requests.capture, values)
            seen += ", captured"
        if requests.read is not None:
            read = _probe_call(client, "read", requests.read, values)
            if requests.read.outcome and not found(dig(read, requests.read.outcome)):
                raise TemplateError(f"read: the answer has no {requests.read.outcome} (load.requests.read.outcome)")
            seen += ", read back"
        return seen


def _probe_call(client: httpx.Client, name: str, call: Call, values: dict[str, Any]) -> Any:
    args = request_args(call, values | {"idempotency_key": uuid.uuid4().hex})
    where = f"{name}: {args['method']} {args['url']}"
    try:
        r = client.request(**args)
    except httpx.HTTPError as exc:
        raise TemplateError(f"{where}: {type(exc).__name__}: {' '.join(str(exc).split())[:120]}") from None
    if r.status_code >= 300:
        raise TemplateError(f"{where} answered {r.status_code} {_problem_type(r)}".rstrip()
                            + f" (load.requests.{name}: path, headers, json, auth)")
    try:
        return r.json()
    except ValueError:
        raise TemplateError(f"{where} answered {r.status_code} without JSON") from None
