"""Admission control: above saturation, refuse fast (503 + Retry-After) instead of queueing until
clients time out, and keep the money already in motion (captures, refunds, webhooks) ahead of new
authorizations.

The limit is on requests in flight, and what moves it is the event loop's lag (how late a timer
fires). One loop serves every request, so a saturated service's queue is the loop's ready queue and
its lag measures that queue directly; a slow provider keeps requests in flight without lagging the
loop and must not cut the limit. The rules, per window (`window_s`; the loop sampled every
`probe_every_s`):

    limit nearly full (>= 80 %) and median lag > target → limit = max(min, limit * 0.9), never under
                                      the floor (32) from above it; held there for `calm_s`
    limit nearly full, on target `settle` windows running → limit += sqrt(limit)       # probe upwards
    limit not binding, on target `settle` windows running → limit = max(limit * 0.9,
                                      2 * most in flight in `memory_s`, 8)               # follow the load
    otherwise                                              → nothing changes (a background job's stall)
    median lag > 4x target two windows running (stalled)   → limit = max(min, min(limit, in flight) * 0.5)
    within `calm_s` of a cut, following the load never raises the limit

Invariants a change must keep: the median, not the mean, and only while the limit binds (one
background stall must not cut an idle limit); nothing grows after a late window until the loop has
been on target `settle` windows running; the gentle cut stops at the floor from above, and held at
the floor nothing grows above it nor is admitted over it; below the floor only the stalled rule and
the gentle cut to `min_limit` apply.

Critical requests may go `reserve` above the limit, so a full house of authorizations never starves
a capture. Health, metrics and admin routes are never limited. A refusal is decided before the body
is read. Under uvicorn (the service's own `python -m`), the HTTP protocol of admission_http.py decides
as the headers are parsed, before a request becomes a task, and counts it in flight from there;
AdmissionControl, the ASGI middleware, decides for any other server (and tests).

Why a lag-driven limit, these rules and this floor: docs/decisions/0001-admission-limit-from-loop-lag.md
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from moneypath._common.problem import problem

CRITICAL, NORMAL, EXEMPT = "critical", "normal", "exempt"
# How long the protocol's refusals are tallied before they reach the metrics (AdmissionGate.refuse_on_the_wire): well
# inside a scrape's interval.
TALLY_S = 0.05


@dataclass
class LagLimit:
    """The adaptive limit on requests in flight (see the module docstring)."""

    limit: float = 50.0  # the start: high enough that a ramp from cold is not refused in its first seconds
    min_limit: float = 2.0
    max_limit: float = 400.0
    # Loop lag at which requests are queueing for the CPU. Each request waits about this long at each of its
    # few awaits, so the target must stay well inside the latency objective (300 ms).
    lag_target_s: float = 0.025
    backoff: float = 0.9
    # A median lag this many times the target is a stalled loop, even below the limit (every timer late, not
    # one background stall in a window): the requests in flight hold it, and the limit halves from them.
    stalled: float = 4.0
    stalled_cut: float = 0.5
    window_s: float = 0.1
    # While the limit does not bind and the loop is on time, it follows the load: `headroom` times what was in flight
    # (down by at most `backoff` a window), never under `idle_limit`: a spike meets a limit near the load it comes
    # from, not the start.
    headroom: float = 2.0
    idle_limit: float = 8.0
    # ...of the most in flight in any window of the last `memory_s`: long enough to span the bursts that follow a
    # background stall, so the limit does not settle at the calm between them.
    memory_s: float = 30.0
    # A binding limit grows only after this many windows in a row on target: growth by sqrt is fast at small limits,
    # so after a late window the loop must show it keeps up first.
    settle: int = 5
    # Following the load raises the limit only `calm_s` after the last cut: overloaded, the refused clients wait out
    # Retry-After together, and in the lull a limit that followed the load up would admit the next burst whole.
    # Longer than a lull (about Retry-After). A binding limit still grows by sqrt once settled, and following the
    # load may always lower it. Values: docs/decisions/0001-admission-limit-from-loop-lag.md
    calm_s: float = 5.0
    # The gentle cut stops here from above: the concurrency at which a request's cost stops falling (under
    # overload the lag cannot tell fewer in flight from this many, throughput can). Held at it by a late window,
    # nothing grows above it or is admitted over the limit for `calm_s`.
    # Why 32: docs/decisions/0001-admission-limit-from-loop-lag.md
    floor: float = 32.0

    def __post_init__(self):
        self._lags: list[float] = []
        self._busiest = 0
        self._window_end = 0.0
        self._stalled_for = 0  # windows in a row with the loop stalled
        self._on_time_for = self.settle  # windows in a row with the loop on target (a fresh loop is)
        self.settled = True  # the loop has kept up `settle` windows running: nothing cut it since
        self._cut_at = -math.inf
        self.calm = True  # no cut for `calm_s`: the load, not an overload, set what was in flight
        self._held_at = -math.inf
        self.held = False  # a late window found the limit at the floor less than `calm_s` ago: overloaded
        self._peaks: deque[int] = deque(maxlen=max(1, round(self.memory_s / self.window_s)))  # busiest per window
        self.last_lag_s = 0.0  # the latest sample: is the loop keeping up right now?

    def in_flight(self, n: int) -> None:
        """Called on each admission: the most requests in flight this window."""
        self._busiest = max(self._busiest, n)

    def lag(self, lag_s: float, now: float, in_flight: int) -> None:
        """One sample of the loop's lag; at the end of a window, the limit moves."""
        self._lags.append(lag_s)
        self.last_lag_s = lag_s
        self._busiest = max(self._busiest, in_flight)
        if now < self._window_end:
            return
        typical, busiest = sorted(self._lags)[len(self._lags) // 2], self._busiest
        self._lags, self._busiest, self._window_end = [], in_flight, now + self.window_s
        self._peaks.append(busiest)
        binds = busiest >= 0.8 * self.limit
        self._stalled_for = self._stalled_for + 1 if typical > self.stalled * self.lag_target_s else 0
        self._on_time_for = self._on_time_for + 1 if typical <= self.lag_target_s else 0
        self.settled = self._on_time_for >= self.settle
        before = self.limit
        if self._stalled_for >= 2:  # two windows running: one is a background job's stall, not the requests
            # Stalled: halve from what was in flight. A loop stalled by what it admitted cannot even take in
            # enough new requests to fill the limit, so the limit itself may be far above the load it chokes on.
            self.limit = max(self.min_limit, min(self.limit, max(busiest, self.min_limit)) * self.stalled_cut)
        elif binds and typical > self.lag_target_s:  # (a first stalled window that binds is cut here too)
            stop = self.floor if self.limit >= self.floor else self.min_limit
            self.limit = max(self.min_limit, self.limit * self.backoff, stop)
            if self.limit == self.floor:
                self._held_at = now
        elif binds:
            if self.settled:
                grown = min(self.max_limit, self.limit + math.sqrt(self.limit))
                self.limit = max(self.limit, min(grown, self.floor)) if self.held else grown
        elif self.settled:  # the load, not the limit, set what was in flight: follow it (up only when calm)
            followed = max(self.limit * self.backoff, self.headroom * max(self._peaks), self.idle_limit, self.min_limit)
            self.limit = min(self.max_limit, followed) if self.calm else min(self.limit, followed)
        # else the load set what was in flight and a late timer now is a background job's: nothing moves
        if self.limit < before and typical > self.lag_target_s:  # a cut
            self._cut_at = now
        self.calm = now - self._cut_at >= self.calm_s
        self.held = now - self._held_at < self.calm_s


# Set in a request's scope["extensions"] by the HTTP protocol (admission_http.py) when it admitted and counted it.
ADMITTED = "moneypath.admitted"
# Set there too for a request carrying an Idempotency-Key: its credentials and key, counted in AdmissionGate.keys while
# it runs, so copies of it arriving meanwhile are one payment, not more load (below).
KEYED = "moneypath.keyed"
# Copies of one request in flight at once past the limit; any more are admitted (or refused) as new work.
COPIES_MAX = 32


class AdmissionGate:
    """What admits or refuses, shared by the HTTP protocol (uvicorn: before a request becomes a task) and the
    ASGI middleware (any server): the limit, the requests in flight, the refusal."""

    def __init__(self, classify: Callable[[str, str], str], limiter: LagLimit | None = None, reserve: float = 0.25,
                 retry_after_s: int = 1, on_refuse: Callable[[str, int], None] | None = None,
                 on_wire_refusals: Callable[[str, int], None] | None = None, probe_every_s: float = 0.02):
        self.classify = classify
        self.limiter = limiter or LagLimit()
        self.reserve, self.retry_after = reserve, str(retry_after_s)
        # on_refuse(kind, n) counts every refusal; on_wire_refusals(method, n) also counts the protocol's as
        # answers, which no middleware sees (the ASGI path's are measured by the request metrics' middleware).
        self.on_refuse, self.on_wire_refusals = on_refuse, on_wire_refusals
        self.probe_every_s = probe_every_s
        self._probe: asyncio.Task | None = None
        self.in_flight = 0
        self.refused = {CRITICAL: 0, NORMAL: 0}
        self._tally: dict[tuple[str, str], int] = {}  # the protocol's refusals not yet recorded, by kind and method
        self._tally_loop: asyncio.AbstractEventLoop | None = None  # where the timer that records it was set
        self._wire: dict[tuple[int, bool], bytes] = {}
        self.keys: dict[bytes, int] = {}  # credentials + Idempotency-Key of the requests in flight -> how many

    def admits_copy(self, key: bytes) -> bool:
        """A copy of a request in flight (same credentials, same Idempotency-Key) is admitted without a slot: the
        service answers it from the one execution (the answer replayed, or 409 in progress), so a client's
        retries and a burst of duplicates are not load. Counted until it ends (`unkey`)."""
        count = self.keys.get(key)
        if count is None or count >= COPIES_MAX:
            return False
        self.keys[key] = count + 1
        return True

    def key(self, key: bytes) -> None:
        """An admitted request with an Idempotency-Key: its copies arriving while it runs are admitted as copies."""
        self.keys[key] = self.keys.get(key, 0) + 1

    def unkey(self, key: bytes) -> None:
        count = self.keys.get(key, 0) - 1
        if count > 0:
            self.keys[key] = count
        else:
            self.keys.pop(key, None)

    def admits(self, kind: str) -> bool:
        limiter = self.limiter
        if kind == CRITICAL:  # above anything new work can reach, so money in motion always has its reserve
            return self.in_flight < 2 * limiter.limit * (1 + self.reserve) + 1
        if self.in_flight < limiter.limit:
            return True
        # Over the limit, up to twice it, while the loop keeps up: then what is in flight waits for the provider,
        # not for the loop (a burst after a background stall is admitted, not refused while the loop is idle again).
        # Not while the loop has yet to settle after a late window (overloaded, the latest sample is on time now and
        # then), nor while held at the floor.
        return (self.in_flight < 2 * limiter.limit and limiter.settled and not limiter.held
                and limiter.last_lag_s <= limiter.lag_target_s)

    def admit(self) -> None:
        self.in_flight += 1
        self.limiter.in_flight(self.in_flight)

    def release(self) -> None:
        self.in_flight -= 1

    def refuse(self, kind: str) -> None:
        """A refusal by the ASGI middleware, counted at once (the request metrics' middleware times its answer)."""
        self.refused[kind] += 1
        if self.on_refuse is not None:
            self.on_refuse(kind, 1)

    def refuse_on_the_wire(self, kind: str, method: str) -> None:
        """A refusal by the HTTP protocol: tallied here and recorded within TALLY_S, one call per kind and method,
        since under overload refusals outnumber admissions and per-refusal label lookups would be a large share of
        their cost (docs/decisions/0002-refuse-as-headers-are-parsed.md)."""
        self.refused[kind] += 1
        tally, loop = self._tally, asyncio.get_running_loop()
        if not tally or loop is not self._tally_loop:  # (a loop stopped with a tally left: a gate outlives it in tests)
            self._tally_loop = loop
            loop.call_later(TALLY_S, self.record_tally)
        key = (kind, method)
        tally[key] = tally.get(key, 0) + 1

    def record_tally(self) -> None:
        """Record the protocol's refusals tallied so far (on a timer, and as the service stops)."""
        tally, self._tally = self._tally, {}
        for (kind, method), count in tally.items():
            if self.on_refuse is not None:
                self.on_refuse(kind, count)
            if self.on_wire_refusals is not None:
                self.on_wire_refusals(method, count)

    def refusal(self):
        return problem(503, "overloaded", "Service overloaded",
                       f"the service is at its limit of {self.limiter.limit:.0f} requests in flight; "
                       f"retry after {self.retry_after} s with the same Idempotency-Key",
                       headers={"Retry-After": self.retry_after})

    def refusal_on_the_wire(self, keep_alive: bool) -> bytes:
        """The refusal as HTTP/1.1 bytes after the status line's server headers, one per limit shown in it: the
        protocol writes it without building a response."""
        key = (int(self.limiter.limit + 0.5), keep_alive)
        wire = self._wire.get(key)
        if wire is None:
            response = self.refusal()
            headers = [*response.raw_headers, *(() if keep_alive else ((b"connection", b"close"),))]
            wire = b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers) + b"\r\n" + response.body
            self._wire[key] = wire
        return wire

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the lag probe on the loop serving requests (again, if that loop changed: tests run several)."""
        if self._probe is None or self._probe.done() or self._probe.get_loop() is not loop:
            self._probe = loop.create_task(self._sample_lag())

    async def _sample_lag(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self.probe_every_s)
            now = time.perf_counter()
            self.limiter.lag(max(0.0, now - asked - self.probe_every_s), now, self.in_flight)


class AdmissionControl:
    """Pure ASGI: admit while requests in flight < limit (+ reserve for critical ones), else 503 at once. Under
    uvicorn with admission_http's protocol the protocol has decided already (and counted): this passes through."""

    def __init__(self, app: ASGIApp, gate: AdmissionGate):
        self.app, self.gate = app, gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gate = self.gate
        gate.watch(asyncio.get_running_loop())
        extensions = scope.get("extensions") or ()
        if ADMITTED in extensions or KEYED in extensions:  # the protocol decided
            await self.app(scope, receive, send)
            return
        kind = gate.classify(scope["method"], scope["path"])
        if kind == EXEMPT:
            await self.app(scope, receive, send)
            return
        key = idempotency_key(scope["headers"])
        if key is not None and gate.admits_copy(key):
            try:
                await self.app(scope, receive, send)
            finally:
                gate.unkey(key)
            return
        if not gate.admits(kind):
            gate.refuse(kind)
            await gate.refusal()(scope, receive, send)
            return
        gate.admit()
        if key is not None:
            gate.key(key)
        try:
            await self.app(scope, receive, send)
        finally:
            gate.release()
            if key is not None:
                gate.unkey(key)


def idempotency_key(headers) -> bytes | None:
    """The request's credentials and Idempotency-Key as one key (None without a key): what makes two requests
    copies of one for the service's idempotency (booking.py). `headers`: ASGI's (lower-case name, value) pairs."""
    key = credentials = None
    for name, value in headers:
        if name == b"idempotency-key":
            key = value
        elif name == b"authorization":
            credentials = value
    return None if key is None else b"%s\n%s" % (credentials or b"", key)
