"""Baseline load for drills: payments at a steady rate through the service's public API.

Open loop (a payment starts every 1/rate seconds whether or not the previous one finished,
like real customers), at most `concurrency` in flight, on an asyncio loop in one background
thread. Each payment is an authorization, then (for a share of the approved ones) a capture,
each with its own Idempotency-Key and the payment's x-correlation-id; a 5xx, 409 in-progress
or a transport error is retried with the same key, as the API asks. Every outcome is kept,
so the runner can tell which payments the fault touched and whether anything acknowledged
went missing.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx

from moneypath.instrument.correlation import HEADER as CORRELATION_HEADER

RETRY_STATUS = {409, 500, 502, 503, 504}


@dataclass
class Outcome:
    """One payment as the client saw it."""

    t: float  # when it started
    provider: str
    currency: str
    amount_minor: int
    correlation_id: str
    payment_id: str | None = None  # set when the authorization was acknowledged (2xx)
    state: str | None = None  # authorized | declined | held | captured
    risk_decision: str | None = None
    capture_wanted: bool = False
    captured: bool = False  # capture acknowledged
    error: str | None = None  # the last failure when the payment did not get through
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
    captured: int = 0
    behind: int = 0  # payments that could not start on time: all `concurrency` slots were busy
    statuses: dict[str, int] = field(default_factory=dict)


class Load:
    def __init__(self, service_url: str, token: str, mix: Mix, rate: float, concurrency: int = 64,
                 seed: int = 7, attempts: int = 3, timeout_s: float = 10.0, prefix: str = "drill"):
        self.service_url, self.token, self.mix = service_url.rstrip("/"), token, mix
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
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        headers = {"authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.service_url, headers=headers, limits=limits,
                                     timeout=self.timeout_s) as client:
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
                task = asyncio.create_task(self._payment(client, i))
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
        outcome = Outcome(t=time.time(), provider=self._choose(mix.providers), currency=self._choose(mix.currencies),
                          amount_minor=self._rng.randint(mix.amount_min, mix.amount_max),
                          correlation_id=uuid.uuid4().hex, capture_wanted=self._rng.random() < mix.capture)
        method = self._choose(mix.methods)
        with self._lock:
            self.outcomes.append(outcome)
            self.stats.started += 1
        body = {"amount_minor": outcome.amount_minor, "currency": outcome.currency, "provider": outcome.provider,
                # letters glued to the hex and the counter: no digit run stands alone to be refused as a card number
                "method": method, "reference": f"{self.prefix}-id{outcome.correlation_id[:12]}n{i}"}
        reply = await self._post(client, outcome, "/v1/payments/authorize", body)
        if reply is not None:
            outcome.payment_id, outcome.state = reply.get("id"), reply.get("state")
            outcome.risk_decision = reply.get("risk_decision")
            self.stats.acknowledged += 1
            if outcome.state == "authorized" and outcome.capture_wanted and outcome.payment_id:
                captured = await self._post(client, outcome, f"/v1/payments/{outcome.payment_id}/capture", None)
                if captured is not None:
                    outcome.captured, outcome.state = True, captured.get("state", "captured")
                    self.stats.captured += 1
        if outcome.failed:
            self.stats.failed += 1
        outcome.finished = time.time()

    async def _post(self, client: httpx.AsyncClient, outcome: Outcome, path: str, body: dict | None) -> dict | None:
        """POST with retries under one Idempotency-Key; the JSON reply, or None (outcome.error says why)."""
        key = uuid.uuid4().hex
        headers = {"idempotency-key": key, CORRELATION_HEADER: outcome.correlation_id}
        for attempt in range(self.attempts):
            outcome.attempts += 1
            try:
                r = await client.post(path, json=body, headers=headers)
            except httpx.HTTPError as exc:
                status, error = "unreachable", f"{type(exc).__name__}"
            else:
                status = str(r.status_code)
                if r.status_code < 300:
                    self._count(status)
                    outcome.error = None
                    return r.json()
                error = f"{r.status_code} {_problem_type(r)}"
                if r.status_code not in RETRY_STATUS:
                    self._count(status)
                    outcome.error = f"{path.rsplit('/', 1)[-1]}: {error}"
                    return None
            self._count(status)
            outcome.error = f"{path.rsplit('/', 1)[-1]}: {error}"
            if attempt + 1 < self.attempts:
                await asyncio.sleep(0.2 * (2 ** attempt))
        return None

    def _count(self, status: str) -> None:
        with self._lock:
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1


def _problem_type(r: httpx.Response) -> str:
    try:
        return str(r.json().get("type", "")).rsplit("/", 1)[-1]
    except ValueError:
        return ""
