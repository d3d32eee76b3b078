"""Admission control: above saturation, refuse fast (503 + Retry-After) instead of queueing until
clients time out, and keep the money already in motion (captures, refunds, webhooks) ahead of new
authorizations.

Measured before it existed (issue 27): offered 3x saturation, the service refused nothing; 11,040
requests timed out, the admitted p99 was 1.26 s and ~4,000 payments were booked for clients that had
already given up.

The limit is on requests in flight, and what moves it is the event loop's lag: how late a timer
fires. One event loop serves every request, so when the service is saturated the queue is the loop's
ready queue (every request waits there on each await, and a new request waits there before this
middleware even runs); its lag is that queue, measured directly. A slow provider, by contrast, keeps
requests in flight without lagging the loop, and must not cut the limit (its requests are cheap to
hold). An earlier version learned the limit from request latency (Netflix's Gradient2): its
no-queue average climbed with the queue, the requests it could not see waited outside it, and under
the overload-spike drill it refused almost nothing while clients timed out.

    every window (100 ms; the loop sampled every 20 ms), when the limit was nearly full (>= 80 %):
      median lag > target  → limit = max(min, limit * 0.9)       # shed: requests queue for the loop
                             (not under the floor, 32, from above it; held there, nothing grows above it
                             nor is admitted over it for 5 s: see "The floor")
      on target 5 windows running → limit += sqrt(limit)        # probe upwards
    and when it was not, the load, not the service, set what was in flight:
      on target 5 windows running → limit = max(limit * 0.9, 2 * most in flight in 30 s, 8)   # follow the load
      otherwise            → nothing changes (a late timer is a background job's)
    whatever the limit, when the median lag is over 4x the target two windows running (the loop stalled):
                             limit = max(min, min(limit, most in flight) * 0.5)
    for 5 s after a cut (not calm), following the load never raises the limit (see LagLimit.calm_s)

The stalled rule is for a spike: it admits up to the whole limit at once, each admitted request
lengthens the loop's round and so the window, and cutting 10 % a window took ~30 windows of half a
second each to come down from 50 to `min_limit` (the overload-spike drill paged on latency meanwhile);
halving takes five. Near the knee the lag stays under 4x and the cut stays gentle: a proportional cut
there (target / lag, down to half) refused 42 % of the checkout mix at 275/s instead of 35 % (goodput
161 vs 179/s, Locust p99 300 vs 400 ms), a trade the overload goal (goodput) does not want.

The median, and only while the limit binds: a background job (a reconciliation run, a metrics
scrape, a thread holding the GIL) stalls the loop now and then, and at 150 requests/s of the checkout
mix such stalls of 50-180 ms cut a limit that did not bind and refused half the traffic. One stall is
one late timer in a window; a loop whose median timer is 4x the target late is stalled by its requests,
and then the limit is cut below the limit too, from what was in flight (in the overload-spike drill a
spike admitted ~20 requests under a limit of 50, each holding the loop 12 ms: the limit never bound,
nothing was cut, and the latency SLO paged while /metrics went unanswered).

Following the load is for the onset of a spike (overload-spike drill, 12 ms of loop per admitted
request). The load only shows on the loop once the admitted requests come back from the provider,
~0.1-0.2 s later, so whatever the limit allows when the spike lands is admitted before any lag shows:
at light load a limit left at its start of 50 admitted 43 requests in the first 0.3 s, the loop then
lagged 130-280 ms for 1.2 s until the stalled rule had halved it to `min_limit`, and those authorizations
(~1 % of the drill's by the diagnosis) alone put the admitted p99 over 0.3 s (0.40-0.83 s on a 10 s
window at the onset; 0.20-0.29 s for the rest of the peak). Following the load, the limit was 8-10 when
the spike landed, at most 16-23 were in flight and the loop lagged 70-150 ms for ~0.3 s (traced with the
first rule below also in, which changes nothing before a first cut). The idle limit of 8
(not `min`) and following the load down by at most 10 % a window keep a ramp from idle quick (the limit
probes up from there by sqrt a window, and admits up to twice it while the loop keeps up).

After a late window nothing grows until the loop has been on target five windows running: the limit does
not probe upwards, does not follow the load, and admits no one over it. Without that (2026-11-25, the
overload-spike drill, traced per window) one window on time in four let sqrt growth undo five 10 % cuts and
the latest sample on time let in up to twice the limit: the limit sat at 5-6 with 13-15 in flight and the loop
lagged 55-90 ms (median) three windows in four, alone or beside CPU hogs; beside two hogs one run of three
had over 1 % of its authorizations above 0.3 s. With it: 56-68 % of windows on time, 7-10 in flight, a median
lag of 15-30 ms; the checkout mix at 275/s (no late window at all) refused 0 of 16,545. (An earlier attempt,
nothing over the limit for five windows after a cut and the captures' reserve above the limit itself, refused
34 of 16,541 of the checkout mix in one run on a slower VM, where main's code refused 26; the captures' reserve
is unchanged here.)

The floor. Under overload the lag cannot tell 18 requests in flight from 32 while throughput can: traced per
window under 3x saturation (2026-11-27), the loop's median lag was 19-21 ms either way, one window in three or four
late, so a rule on the lag alone walked on its noise to 15-31 in flight (cut 10 % by any late window, grown only after
five on time) and did a median 86.5 % of saturation in 14 rounds. Fewer in flight is dearer per request: closed loops
of authorizations cost the service 4.1 ms each at 4 connections, 3.1-3.2 at 16, 2.7-2.8 at 32 and 2.8-2.9 at 64
(fewer writes and wake-ups a request when more share each round of the loop); 32 is also the closed loop that
measures saturation (benchmarks/bench_overload.py). So the gentle cut does not take the limit under 32 from above
it, and a late window that binds there is an overload, not a burst: for `calm_s` the limit neither grows above the
floor nor admits anyone over itself. Letting it move there lost what the floor gains (2026-11-27, pinned,
alternating with this rule's predecessor): floors that held 32 but grew once settled, or admitted up to twice the
limit, ran the loop busier (late in 50-90 % of windows) and did no better; the limit fixed at 32 did 85-101 % in 10
rounds, and this rule, the same at the floor, is measured in docs/performance-record.md ("Held at the floor"). Below the
floor nothing changes: the stalled rule still halves under it (the overload-spike drill's requests hold the loop 12
ms each; 32 of them would queue ~380 ms), and from there the gentle cut goes to `min_limit` and growth is by sqrt
as before. A burst of the checkout mix (the limit following the load at 80-120) is never held: only the floor holds.
Also tried and left out: floors at Little's law on the rate completed (they held 23-40 and were no better), and a
floor from the loop's busy time per request. And a short queue before the limit (a request over it waiting up to 50 ms
for a slot, which a freed slot took at once): no more goodput, refusals twice as slow (docs/performance-record.md).

Tried and left out: a CoDel-style rule on the time an admitted request waits for the loop (headers parsed to the
app starting): it sees 1-10 ms at the drill's peak while the loop's rounds are 60-280 ms, since a request waits
out a long round in the socket's buffer, before its headers are parsed, where no timer of the service sees it; the
lag probe does.

Critical requests may go `reserve` above the limit, so a full house of authorizations never starves
a capture. Health, metrics and admin routes are never limited. A refusal is decided before the body
is read: it costs microseconds, not a booking. Under uvicorn (the service's own `python -m`), the HTTP
protocol of admission_http.py decides as the headers are parsed, before a request becomes a task, and counts
it in flight from there; AdmissionControl, the ASGI middleware, decides for any other server (and tests).
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
# How long the protocol's refusals are tallied before they reach the metrics (Gate.refuse_on_the_wire): well
# inside a scrape's interval.
TALLY_S = 0.05


@dataclass
class LagLimit:
    """The adaptive limit on requests in flight (see the module docstring)."""

    limit: float = 50.0  # the checkout mix ramps 275 users at once: a low start refused its first seconds
    min_limit: float = 2.0
    max_limit: float = 400.0
    # Loop lag at which requests are queueing for the CPU. Each request waits about this long at each of its
    # few awaits, so 25 ms keeps a p99 well inside a 300 ms objective; a healthy loop lags 1-5 ms.
    lag_target_s: float = 0.025
    backoff: float = 0.9
    # A median lag this many times the target is a stalled loop, even below the limit (every timer late, not
    # one background stall in a window): the requests in flight hold it, and the limit halves from them.
    stalled: float = 4.0
    stalled_cut: float = 0.5
    window_s: float = 0.1
    # While the limit does not bind and the loop is on time, it follows the load: `headroom` times what was in flight
    # (down by at most `backoff` a window), never under `idle_limit`: a spike meets a limit near the load it comes
    # from, not the start of 50.
    headroom: float = 2.0
    idle_limit: float = 8.0
    # ...of the most in flight in any window of the last `memory_s`: the checkout mix's bursts after a background
    # stall (130-150 at once where 40-60 are in flight) come every few seconds; following the last window alone
    # left the limit at twice the calm between them, and a 10-minute soak at 150 authorizations/s refused 337 of
    # 199,978 requests (0.17 %, over the 0.1 % error budget; 0 on the limit that did not follow the load).
    memory_s: float = 30.0
    # A binding limit grows only after this many windows in a row on target. Growth by sqrt is +45-70 % a window at
    # limits of 2-5 against a cut of 10 %, so under overload one window on time in four held the limit where the
    # loop lagged 2-3x the target three windows in four (overload-spike drill, 120 ms rounds of 1-2 lag samples:
    # admitted p99 over 0.3 s beside a CPU hog). After a late window the loop must show it keeps up first.
    settle: int = 5
    # Following the load raises the limit only `calm_s` after the last cut. Under overload the load pauses now and
    # then (the clients refused together wait out Retry-After together): the limit, not binding in the lull,
    # followed the load up to twice the overload's own peak (3 -> 46, then 96) and the next burst stalled the loop
    # 190-400 ms (overload-spike drill beside two CPU hogs, 2026-11-26: admitted p99 0.62 s, the latency SLO
    # paged). Overloaded, cuts come every 0.5-1.5 s; a lull lasts about Retry-After (1 s). A binding limit still
    # grows by sqrt once settled, and following the load may always lower it. (Also keeping nothing over the limit
    # and pacing growth for 30 s after a cut refused 0.96 % of the checkout mix at 150/s on a slow VM, against
    # 0.25 % without.)
    calm_s: float = 5.0
    # The gentle cut stops here from above: the concurrency at which a request's cost stops falling (see "The
    # floor"). Held at it by a late window, nothing grows above it or is admitted over the limit for `calm_s`.
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


class Gate:
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

    def admits(self, kind: str) -> bool:
        limiter = self.limiter
        if kind == CRITICAL:  # above anything new work can reach, so money in motion always has its reserve
            return self.in_flight < 2 * limiter.limit * (1 + self.reserve) + 1
        if self.in_flight < limiter.limit:
            return True
        # Over the limit, up to twice it, while the loop keeps up: then what is in flight waits for the provider,
        # not for the loop. At 150 authorizations/s of the checkout mix ~40-60 requests are in flight, and after a
        # 100 ms stall (a full garbage collection) they arrive together, 130-150 at once: refused at the limit,
        # 0.3 % of a 10-minute soak was turned away while the loop was idle again. Not while the loop has yet to
        # settle after a late window: overloaded, the latest sample is on time now and then, and admitting up to
        # twice the limit then kept the overload-spike drill's loop ~0.8 busy whatever the limit. Nor while held at
        # the floor: overloaded there, admissions over it ran the loop busier and lost what the floor gains.
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
        """A refusal by the HTTP protocol: tallied here and recorded within TALLY_S, one call per kind and method.
        Recorded one by one, the metrics' label lookups and locks were a third of a refusal's Python (py-spy of
        the service at 3x saturation), and at 3x there are two refusals for every request admitted."""
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

    def __init__(self, app: ASGIApp, gate: Gate):
        self.app, self.gate = app, gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gate = self.gate
        gate.watch(asyncio.get_running_loop())
        if ADMITTED in scope.get("extensions", ()):
            await self.app(scope, receive, send)
            return
        kind = gate.classify(scope["method"], scope["path"])
        if kind == EXEMPT:
            await self.app(scope, receive, send)
            return
        if not gate.admits(kind):
            gate.refuse(kind)
            await gate.refusal()(scope, receive, send)
            return
        gate.admit()
        try:
            await self.app(scope, receive, send)
        finally:
            gate.release()
