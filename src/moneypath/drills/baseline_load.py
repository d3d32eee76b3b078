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
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from moneypath.check.scraped_identity import seen_in
from moneypath.formats.flow_answers import MISSING as _MISSING
from moneypath.formats.flow_answers import dig, found, judge, render, request_args  # noqa: F401 - re-exported
from moneypath.formats.requests import Call, Requests, Step
from moneypath.protocol.correlation_header import HEADER as CORRELATION_HEADER

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


@dataclass
class PaymentOutcome:
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
    instance: int = 0  # which of the load's service URLs it went to (a canary drill's track)
    # each attempt of the authorizing step: [sent_at, answered_at or None] (conservation of counts)
    auth_calls: list[list] = field(default_factory=list)
    auth_state: str | None = None  # the state the authorization answered (a capture later changes `state`)
    not_counted: bool = False  # an answer the template's counter.not_counted says the service does not count

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
    steps: dict[str, dict[str, int]] = field(default_factory=dict)  # step → {"sent": answered or not, "failed": n}
    failures: dict[str, int] = field(default_factory=dict)  # "<step>: <reason>" → flows that failed so
    in_flight: int = 0
    most_in_flight: int = 0  # the most flows in flight at once: never above the load's concurrency


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
                 timeout_s: float = 10.0, prefix: str = "drill", weights: Sequence[float] | None = None):
        """`service_url`: one URL, or one per instance of the service: payment i goes to instance i mod N
        (authorize and capture alike), as a round-robin balancer in front of them would send it; with `weights`
        (one per URL) each instance takes its share instead, as a mesh's weighted split (a canary's 10 %)."""
        urls = [service_url] if isinstance(service_url, str) else list(service_url)
        self.service_urls = [url.rstrip("/") for url in urls]
        # ${NAME}s read once here, never per request
        self.service_url, self.headers, self.mix = self.service_urls[0], headers, mix
        self.requests = requests.expanded() if requests is not None else None
        self.major = major
        self.rate, self.concurrency, self.attempts, self.timeout_s = rate, concurrency, attempts, timeout_s
        self.prefix = prefix
        self.split = WeightedSplit(weights or [1.0] * len(self.service_urls))
        if len(self.split.weights) != len(self.service_urls):
            raise ValueError(f"{len(self.split.weights)} weights for {len(self.service_urls)} service URLs")
        self._rng = random.Random(seed)
        self.outcomes: list[PaymentOutcome] = []
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

    def snapshot(self) -> list[PaymentOutcome]:
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
                n = len(self.service_urls)
                k = self.split.next()
                task = asyncio.create_task(self._payment(clients[((i // n) % pools) * n + k], i))
                task.add_done_callback(lambda t: (slots.release(), tasks.discard(t)))
                tasks.add(task)
                i += 1
            if tasks:
                await asyncio.wait(tasks, timeout=self.timeout_s * self.attempts + 5)

    def _choose(self, weights: dict[str, float]) -> str:
        names = list(weights)
        return self._rng.choices(names, weights=[weights[n] for n in names])[0]

    async def _payment(self, client: httpx.AsyncClient, i: int) -> None:
        mix = self.mix
        base = str(client.base_url).rstrip("/")
        instance = self.service_urls.index(base) if base in self.service_urls else 0
        outcome = PaymentOutcome(t=time.time(), provider=self._choose(mix.providers), currency=self._choose(mix.currencies),
                                 amount_minor=self._rng.randint(mix.amount_min, mix.amount_max),
                                 correlation_id=uuid.uuid4().hex, capture_wanted=self._rng.random() < mix.capture,
                                 instance=instance)
        values = payment_values(self.prefix, i, outcome.provider, outcome.currency, outcome.amount_minor,
                                self._choose(mix.methods), outcome.correlation_id, self.major)
        with self._lock:
            self.outcomes.append(outcome)
            self.stats.started += 1
            self.stats.in_flight += 1
            self.stats.most_in_flight = max(self.stats.most_in_flight, self.stats.in_flight)
        try:
            await self._flow(client, outcome, values)
        finally:
            with self._lock:
                self.stats.in_flight -= 1
        if outcome.failed:
            self.stats.failed += 1
            if outcome.refused:
                self.stats.refused += 1
            if outcome.error:
                self.stats.failures[outcome.error] = self.stats.failures.get(outcome.error, 0) + 1
        outcome.finished = time.time()

    async def _flow(self, client: httpx.AsyncClient, outcome: PaymentOutcome, values: dict[str, Any]) -> None:
        """The template's steps in order, each handing its captures on; then the capture when approved."""
        api = self.requests
        for step in api.steps:
            reply = await self._send(client, outcome, step.name, step, values)
            verdict = judge(step, *reply) if reply is not None else None
            self._step_count(step.name, verdict is None or verdict.failure is not None)
            if verdict is None:
                return
            if verdict.failure is not None:
                outcome.error = verdict.failure
                return
            values = values | verdict.captured
            if step.authorizes:
                outcome.payment_id, outcome.state = verdict.payment_id, verdict.state
                outcome.flagged = any(str(dig(reply[1], path)) in answers for path, answers in api.flagged.items())
                outcome.auth_state = None if verdict.state is None else str(verdict.state)
                outcome.not_counted = any(str(dig(reply[1], path)) in answers
                                          for path, answers in api.counter.not_counted.items())
                values = values | {"payment_id": verdict.payment_id}
                self.stats.acknowledged += 1
        if outcome.state in api.approved and outcome.capture_wanted and api.capture is not None:
            reply = await self._send(client, outcome, "capture", api.capture, values)
            if reply is not None:
                outcome.captured = True
                state = dig(reply[1], api.capture.outcome) if api.capture.outcome else _MISSING
                outcome.state = str(state) if found(state) else "captured"
                self.stats.captured += 1

    def _step_count(self, name: str, failed: bool) -> None:
        with self._lock:
            counts = self.stats.steps.setdefault(name, {"sent": 0, "failed": 0})
            counts["sent"] += 1
            counts["failed"] += failed

    async def _send(self, client: httpx.AsyncClient, outcome: PaymentOutcome, name: str, call: Call | Step,
                    values: dict[str, Any]) -> tuple[int, Any] | None:
        """One template call with retries under one idempotency key: (status, JSON answer or _MISSING) of the
        answer the step judges, or None when there was none to judge (outcome.error says why). A step with
        `expect_status` judges any answer it lists; otherwise a 2xx."""
        args = request_args(call, values | {"idempotency_key": uuid.uuid4().hex})
        args["headers"][CORRELATION_HEADER] = outcome.correlation_id
        expected = getattr(call, "expect_status", None) or ()
        authorizes = getattr(call, "authorizes", False)
        error = ""
        for attempt in range(self.attempts):
            outcome.attempts += 1
            wait = 0.2 * (2 ** attempt)
            outcome.refused = False
            attempt_call = [time.time(), None]
            if authorizes:
                outcome.auth_calls.append(attempt_call)
            try:
                r = await client.request(**args)
            except httpx.HTTPError as exc:
                status, error = "unreachable", f"{type(exc).__name__}"
            else:
                attempt_call[1] = time.time()
                status = str(r.status_code)
                if r.status_code < 300 or r.status_code in expected:
                    self._count(status)
                    outcome.error = None
                    try:
                        return r.status_code, r.json()
                    except ValueError:
                        if isinstance(call, Step):
                            return r.status_code, _MISSING
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


class WeightedSplit:
    """Which instance each next payment goes to, by weight: smooth weighted round-robin (nginx's), so every
    instance's share is exact over any run of payments (weights 0.9 and 0.1: one in ten to the second, evenly
    spread), as a mesh's weighted split sends it on average, without a random draw that would change the sample."""

    def __init__(self, weights: Sequence[float]):
        if not weights or any(w < 0 for w in weights) or not sum(weights) > 0:
            raise ValueError(f"weights must be non-negative with a positive sum, not {list(weights)}")
        self.weights = [float(w) for w in weights]
        self._current = [0.0] * len(self.weights)

    def next(self) -> int:
        total = sum(self.weights)
        self._current = [c + w for c, w in zip(self._current, self.weights)]
        best = max(range(len(self._current)), key=lambda k: self._current[k])
        self._current[best] -= total
        return best


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
          timeout_s: float = 10.0, capture: bool = True, identities: set[str] | None = None) -> str:
    """One payment through the template, synchronously: its flow, the capture when approved (the template can and
    `capture`: not when the drill's load captures nothing, the target capturing by itself — a second capture
    beside the target's own would be the probe's doing), read it back. What it saw in one line, or TemplateError
    saying which answer did not match. `identities` gathers those the answers carried (MoneyPath-Instance)."""
    requests = requests.expanded()
    hooks = {"response": [lambda r: identities.update(seen_in([r.headers]))]} if identities is not None else {}
    with httpx.Client(base_url=service_url.rstrip("/"), headers=headers, timeout=timeout_s,
                      event_hooks=hooks) as client:
        seen = []
        for step in requests.steps:
            status, answer = _probe_call(client, step.name, step, values)
            verdict = judge(step, status, answer)
            if verdict.failure is not None:
                keys = ", ".join(answer) if isinstance(answer, dict) else type(answer).__name__
                raise TemplateError(f"{verdict.failure} (load.requests, step {step.name}; it has: {keys})")
            values = values | verdict.captured
            if step.authorizes:
                pid, state = verdict.payment_id, verdict.state
                values = values | {"payment_id": pid}
                seen.append(f"{step.name} → {step.id}={pid}, {step.outcome}={state}")
            else:
                seen.append(step.name)
        text = ", ".join(seen) if requests.flow is not None else seen[0]
        if capture and str(state) in requests.approved and requests.capture is not None:
            _probe_call(client, "capture", requests.capture, values)
            text += ", captured"
        if requests.read is not None:
            read = _probe_call(client, "read", requests.read, values)[1]
            if requests.read.outcome and not found(dig(read, requests.read.outcome)):
                raise TemplateError(f"read: the answer has no {requests.read.outcome} (load.requests.read.outcome)")
            text += ", read back"
        return text


def _probe_call(client: httpx.Client, name: str, call: Call, values: dict[str, Any]) -> tuple[int, Any]:
    args = request_args(call, values | {"idempotency_key": uuid.uuid4().hex})
    where = f"{name}: {args['method']} {args['url']}"
    try:
        r = client.request(**args)
    except httpx.HTTPError as exc:
        raise TemplateError(f"{where}: {type(exc).__name__}: {' '.join(str(exc).split())[:120]}") from None
    expected = getattr(call, "expect_status", None) or ()
    if r.status_code >= 300 and r.status_code not in expected:
        raise TemplateError(f"{where} answered {r.status_code} {_problem_type(r)}".rstrip()
                            + f" (load.requests.{name}: path, headers, json, auth)")
    try:
        return r.status_code, r.json()
    except ValueError:
        raise TemplateError(f"{where} answered {r.status_code} without JSON") from None
