"""Admission control of the reference service: the adaptive limit learned from latency, fast 503 +
Retry-After above it, critical money movements ahead of new authorizations, health never limited."""

from __future__ import annotations

import asyncio
import json

from moneypath.reference.refservice import admission
from moneypath.reference.refservice.admission import COPIES_MAX, AdmissionControl, AdmissionGate, LagLimit
from moneypath.reference.refservice.app import classify

FULL = -1


def windows(limit: LagLimit, lag_s: float, seconds: float, in_flight: int, start: float = 0.0) -> float:
    """Lag samples every 20 ms for `seconds` with `in_flight` requests (FULL: as many as the limit admits);
    returns the end time."""
    now = start
    while now < start + seconds:
        n = int(limit.limit) if in_flight == FULL else in_flight
        limit.in_flight(n)
        limit.lag(lag_s, now, n)
        now += 0.02
    return now


def test_the_limit_grows_while_it_binds_and_the_loop_keeps_up():
    limit = LagLimit(limit=20)
    windows(limit, 0.002, 2, in_flight=FULL)
    assert limit.limit > 60  # every window full, the loop on time: probe upwards
    grown = limit.limit
    windows(limit, 0.002, 2, in_flight=10)  # the load is small: no reason to move either way
    assert limit.limit == grown


def test_a_lagging_loop_cuts_a_binding_limit():
    limit = LagLimit(limit=30)  # under the floor: nothing holds it
    t = windows(limit, 0.080, 0.5, in_flight=FULL)  # 80 ms late timers with the limit full: requests queue
    assert limit.limit < 30 * 0.9 ** 3 and limit.limit >= limit.min_limit and not limit.held
    cut = limit.limit
    windows(limit, 0.002, 1.5, in_flight=FULL, start=t)  # caught up: once it shows it keeps up, it probes upwards
    assert limit.limit > cut * 2


def test_overloaded_the_gentle_cut_holds_the_limit_at_the_floor_until_calm():
    """Under 3x saturation the lag was the same at 18 in flight as at 32 while goodput was not: a late window does
    not take a limit under the floor from above it, and one that finds it there holds it: for `calm_s` it neither
    grows above the floor nor admits anyone over the limit, however on time the loop is meanwhile."""
    limiter = LagLimit(limit=60)
    gate = AdmissionGate(classify, limiter, reserve=0.0)
    t = windows(limiter, 0.060, 3, in_flight=FULL)  # overloaded: full and late, window after window
    assert limiter.limit == limiter.floor == 32 and limiter.held
    t = windows(limiter, 0.002, limiter.calm_s - 1, in_flight=FULL, start=t)  # on time, settled, still held
    assert limiter.settled and limiter.held and limiter.limit == limiter.floor
    gate.in_flight = 40
    assert not gate.admits(admission.NORMAL)  # nothing over the limit while held
    windows(limiter, 0.002, 2, in_flight=FULL, start=t)
    assert not limiter.held and limiter.limit > limiter.floor  # calm: it probes upwards again
    gate.in_flight = int(limiter.limit) + 5
    assert gate.admits(admission.NORMAL)


def test_a_limit_cut_from_far_above_the_floor_is_not_held():
    """A burst of the checkout mix meets a limit that followed the load (80-120): a cut there is not an overload
    and does not stop admissions over the limit once the loop settles."""
    limiter = LagLimit(limit=100)
    gate = AdmissionGate(classify, limiter, reserve=0.0)
    t = windows(limiter, 0.060, 0.1, in_flight=FULL)
    assert limiter.limit == 90 and not limiter.held
    windows(limiter, 0.002, 0.6, in_flight=50, start=t)
    gate.in_flight = 120
    assert limiter.settled and gate.admits(admission.NORMAL)


def test_a_stalled_loop_halves_the_limit_a_lagging_one_eases_it():
    """Up to 4x the target (near the knee) the limit eases down 10 % a window; a loop lagging more is stalled
    and the limit halves each window, so a spike that filled a high limit is at `min_limit` in a few windows (the
    halving goes under the gentle cut's floor)."""
    gentle, deep = LagLimit(limit=64), LagLimit(limit=64)
    windows(gentle, 0.090, 0.1, in_flight=FULL)
    windows(deep, 0.120, 0.1, in_flight=FULL)  # the first stalled window: a 10 % cut (it binds)
    windows(deep, 0.120, 0.1, in_flight=FULL, start=0.1)  # the second: halved
    assert gentle.limit == 64 * 0.9 and deep.limit == 64 * 0.9 * 0.5
    windows(deep, 0.120, 0.5, in_flight=FULL, start=0.2)
    assert deep.limit == deep.min_limit


def test_a_late_loop_while_the_limit_does_not_bind_cuts_nothing():
    """At light load (20 in flight under a limit of 50) a loop a little late, or stalled now and then by a
    background job, is not an overload."""
    limit = LagLimit(limit=50)
    now = windows(limit, 0.060, 2, in_flight=20)  # every timer 60 ms late: over the target, not a stall
    assert limit.limit == 50
    for _ in range(20):  # one 150 ms stall in each window
        for lag in (0.001, 0.150, 0.002, 0.001, 0.002):
            limit.lag(lag, now, 20)
            now += 0.02
    assert limit.limit == 2 * 20  # followed the load (twice what is in flight), never cut under it


def test_a_limit_that_does_not_bind_follows_the_load():
    """At light load the limit comes down to twice what is in flight (10 % a window, not under 8), so a spike
    meets a limit near the load it comes from; more load, and it follows up before it binds."""
    limit = LagLimit(limit=50)
    t = windows(limit, 0.002, 0.15, in_flight=4)
    assert 50 * 0.9 ** 2 <= limit.limit < 50  # gently
    t = windows(limit, 0.002, 3, in_flight=4, start=t)
    assert limit.limit == limit.idle_limit == 8
    t = windows(limit, 0.002, 0.2, in_flight=6, start=t)
    assert limit.limit == 12  # 6 in flight under a limit of 8 (not yet 80 %): followed up to twice it
    windows(limit, 0.002, 0.5, in_flight=9, start=t)  # 9 under a limit of 12 (not yet 80 %): twice it
    assert limit.limit >= 18


def test_following_the_load_keeps_the_headroom_of_the_last_bursts():
    """The checkout mix bunches up after a background stall (130-150 in flight where 40-60 are usual) every few
    seconds: a limit at twice the calm between bursts refused 0.17 % of a 10-minute soak. The limit keeps twice
    the busiest window of the last 30 s, and follows the calm only after it."""
    limit = LagLimit(limit=50)
    t = windows(limit, 0.002, 3, in_flight=20)
    assert limit.limit == 40
    t = windows(limit, 0.002, 0.1, in_flight=35, start=t)  # a burst, one window
    t = windows(limit, 0.002, 10, in_flight=20, start=t)  # calm again
    assert limit.limit >= 2 * 35  # the last window alone would say 40
    windows(limit, 0.002, 31, in_flight=20, start=t)
    assert limit.limit == 40


def test_a_loop_late_most_windows_brings_a_binding_limit_to_its_minimum():
    """Overloaded, the loop's rounds are long (1-2 lag samples a window) and now and then one window is on time.
    Growing by sqrt in that window undid five cuts of 10 % at small limits, so the limit held where the loop lagged
    2-3x the target three windows in four; it must instead come down until the loop keeps up."""
    limit = LagLimit(limit=10)
    now = 0.0
    for i in range(200):  # three windows late (60 ms), one on time; one sample each, the limit full
        n = int(limit.limit * 2.5)  # captures and webhooks above the limit, as in the overload-spike drill
        limit.in_flight(n)
        limit.lag(0.002 if i % 4 == 3 else 0.060, now, n)
        now += limit.window_s * 1.2
    assert limit.limit == limit.min_limit


def test_after_a_late_window_the_limit_grows_only_once_the_loop_keeps_up():
    limit = LagLimit(limit=20)
    now = 0.0

    def window(lag_s: float, in_flight: int = FULL) -> None:  # one sample a window, as in a slow loop's rounds
        nonlocal now
        n = int(limit.limit) if in_flight == FULL else in_flight
        limit.in_flight(n)
        limit.lag(lag_s, now, n)
        now += limit.window_s * 1.01

    window(0.060)
    cut = limit.limit
    assert cut == 18
    for _ in range(limit.settle - 1):  # on time, the load light: following it would raise the limit to 2 x 20
        window(0.002, in_flight=2)
    assert limit.limit == cut  # not yet: the loop has not shown it keeps up
    for _ in range(10):
        window(0.002)
    assert limit.limit > cut * 2


def test_after_a_cut_a_lull_in_the_load_does_not_raise_the_limit_to_the_overloads_peaks():
    """Overloaded, the clients refused together wait out Retry-After together: the load pauses. Following it then
    took the limit from 3 to twice the overload's own peak (46, then 96) and the next burst stalled the loop; until
    `calm_s` after the last cut following the load does not raise the limit (it may lower it)."""
    limit = LagLimit(limit=20)
    t = windows(limit, 0.060, 0.3, in_flight=40)  # overloaded: the limit binds and the loop is late
    t = windows(limit, 0.002, 0.2, in_flight=0, start=t)  # a lull, the loop on time...
    cut = limit.limit
    assert cut < 20 and not limit.calm
    t = windows(limit, 0.002, limit.calm_s - 1, in_flight=0, start=t)  # ...long enough to settle, shorter than calm_s
    assert limit.settled and not limit.calm and limit.limit == cut
    windows(limit, 0.002, 2, in_flight=0, start=t)  # calm: following the load raises it again
    assert limit.calm and limit.limit == 2 * 40


def test_a_loop_stalled_below_the_limit_is_cut_from_what_was_in_flight():
    """A spike admitted 20 requests under a limit of 50 and each holds the loop: every timer 200 ms late.
    The limit never binds, yet it must come down, and from the 20 in flight, not from 50."""
    limit = LagLimit(limit=50)
    windows(limit, 0.200, 0.1, in_flight=20)
    assert limit.limit == 50  # one stalled window may be a background job's
    windows(limit, 0.200, 0.1, in_flight=20, start=0.1)
    assert limit.limit == 10  # two running: 20 * 0.5
    windows(limit, 0.200, 0.3, in_flight=FULL, start=0.2)
    assert limit.limit == limit.min_limit


def test_one_late_timer_in_a_window_is_not_a_queue():
    limit = LagLimit(limit=50)
    now = 0.0
    for _ in range(20):  # each window: four timers on time, one 120 ms late (a metrics scrape, a GC pause)
        for lag in (0.001, 0.002, 0.120, 0.001, 0.002):
            limit.in_flight(50)
            limit.lag(lag, now, 50)
            now += 0.02
    assert limit.limit > 50


def test_a_slow_provider_does_not_cut_the_limit():
    """Requests waiting on the network hold no CPU: many in flight, the loop on time, the limit grows."""
    limit = LagLimit(limit=50)
    windows(limit, 0.003, 3, in_flight=400)
    assert limit.limit == limit.max_limit


def test_the_limit_stays_within_its_bounds():
    limit = LagLimit(limit=50, min_limit=8)
    windows(limit, 1.0, 5, in_flight=100)
    assert limit.limit == 8


def test_the_probe_measures_a_blocked_loop():
    """A real event loop blocked 60 ms at a time while the limit binds: the probe sees it, the limit falls."""
    import time

    async def scenario():
        inner = Slow()
        app = AdmissionControl(inner, AdmissionGate(classify, LagLimit(limit=4, min_limit=1)))
        held = [asyncio.create_task(request(app, "POST", "/v1/payments/authorize")) for _ in range(4)]
        for _ in range(12):
            await asyncio.sleep(0.001)
            time.sleep(0.06)  # CPU work holding the loop
        limit = app.gate.limiter.limit
        inner.release.set()
        await asyncio.gather(*held)
        return limit

    assert asyncio.run(scenario()) < 4


class Slow:
    """An inner app that answers 200 after being released."""

    def __init__(self):
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope, receive, send):
        self.entered += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def request(app, method: str, path: str) -> tuple[int, dict, bytes]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def test_above_the_limit_new_work_is_refused_at_once_and_money_in_motion_still_gets_in():
    async def scenario():
        inner = Slow()
        fixed = LagLimit(limit=2, min_limit=2, max_limit=2, lag_target_s=-1.0)  # always behind: a hard limit
        gate = AdmissionGate(classify, fixed, reserve=0.5)
        app = AdmissionControl(inner, gate)
        held = [asyncio.create_task(request(app, "POST", "/v1/payments/authorize")) for _ in range(2)]
        await asyncio.sleep(0.01)
        status, headers, body = await asyncio.wait_for(request(app, "POST", "/v1/payments/authorize"), 1)
        assert status == 503 and headers["retry-after"] == "1"
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(body)["type"].endswith("/overloaded")
        critical = [asyncio.create_task(request(app, "POST", f"/v1/payments/pay_{i}/capture")) for i in range(5)]
        await asyncio.sleep(0.01)
        # the limit is 2 (up to 4 for new work while the loop keeps up); captures go above that by the reserve:
        # 2 * 2 * 1.5 + 1 = 7
        assert inner.entered == 7
        status, _, _ = await asyncio.wait_for(request(app, "POST", "/v1/payments/pay_9/refund"), 1)
        assert status == 503  # the reserve is bounded too
        health = asyncio.create_task(request(app, "GET", "/healthz"))
        await asyncio.sleep(0.01)
        assert inner.entered == 8  # never limited
        inner.release.set()
        results = await asyncio.gather(*held, *critical, health)
        assert [r[0] for r in results] == [200] * 8
        assert gate.in_flight == 0 and gate.refused == {admission.CRITICAL: 1, admission.NORMAL: 1}
        assert (await request(app, "POST", "/v1/payments/authorize"))[0] == 200  # room again

    asyncio.run(scenario())


def test_over_the_limit_a_loop_that_keeps_up_admits_up_to_twice_it():
    """After a stall, requests that waited for the provider, not the loop, arrive together: while the latest lag
    sample is on target they are admitted up to twice the limit; a lagging loop refuses at the limit."""
    limiter = LagLimit(limit=10, min_limit=10, max_limit=10)
    gate = AdmissionGate(classify, limiter, reserve=0.0)
    gate.in_flight = 15
    assert gate.admits(admission.NORMAL)
    gate.in_flight = 20
    assert not gate.admits(admission.NORMAL)
    gate.in_flight = 15
    limiter.lag(0.2, now=0.0, in_flight=15)  # the loop fell behind
    assert not gate.admits(admission.NORMAL)
    gate.in_flight = 9
    assert gate.admits(admission.NORMAL)


def test_over_the_limit_nothing_more_is_admitted_until_the_loop_settles_after_a_late_window():
    """Overloaded, the latest lag sample is on time now and then; admitting up to twice the limit at those moments
    kept the overload-spike drill's loop ~0.8 busy whatever the limit. After a late window the limit holds."""
    limiter = LagLimit(limit=10, min_limit=10, max_limit=10)
    gate = AdmissionGate(classify, limiter, reserve=0.0)
    gate.in_flight = 15
    limiter.lag(0.060, now=0.0, in_flight=15)  # a late window
    limiter.lag(0.002, now=0.05, in_flight=15)  # and the latest sample on time
    assert not gate.admits(admission.NORMAL)
    now = 0.1
    for _ in range(limiter.settle):  # windows on time, one after the other
        limiter.lag(0.002, now, in_flight=15)
        now += limiter.window_s * 1.01
    assert gate.admits(admission.NORMAL)


def test_the_reference_service_classifies_money_in_motion_as_critical():
    assert classify("POST", "/v1/payments/pay_1/capture") == admission.CRITICAL
    assert classify("POST", "/v1/payments/pay_1/refund") == admission.CRITICAL
    assert classify("POST", "/v1/webhooks/acme") == admission.CRITICAL
    assert classify("POST", "/v1/payments/authorize") == admission.NORMAL
    assert classify("POST", "/v1/payouts") == admission.NORMAL
    assert classify("GET", "/v1/payments/pay_1") == admission.NORMAL
    assert {classify("GET", p) for p in ("/healthz", "/metrics", "/admin/faults")} == {admission.EXEMPT}


def test_the_request_cost_fault_holds_the_loop_for_admitted_api_requests_only():
    """A costlier release (the overload-spike drill's fault): each admitted API request holds the event loop
    extra_ms; health, metrics and admin never pay it, and a refusal stays cheap (the fault is inside admission)."""
    import time

    from moneypath.reference.refservice.service_faults import RequestCost, service_faults

    async def scenario():
        faults = service_faults()
        inner = Slow()
        inner.release.set()
        cost = RequestCost(inner, faults, lambda method, path: classify(method, path) != admission.EXEMPT)
        fixed = LagLimit(limit=1, min_limit=1, max_limit=1, lag_target_s=-1.0)  # always behind: a hard limit
        app = AdmissionControl(cost, AdmissionGate(classify, fixed))

        async def timed(method, path):
            started = time.perf_counter()
            status = (await request(app, method, path))[0]
            return status, time.perf_counter() - started

        assert (await timed("POST", "/v1/payments/authorize"))[1] < 0.15  # no fault: no cost
        faults.set("request_cost", {"extra_ms": 200})
        status, took = await timed("POST", "/v1/payments/authorize")
        assert status == 200 and took >= 0.2
        assert (await timed("GET", "/healthz"))[1] < 0.15
        assert (await timed("GET", "/admin/faults"))[1] < 0.15
        inner.release.clear()  # one authorization holds the only slot: the next is refused, without the cost
        held = asyncio.create_task(request(app, "POST", "/v1/payments/authorize"))
        await asyncio.sleep(0.1)
        status, took = await asyncio.wait_for(timed("POST", "/v1/payments/authorize"), 5)
        assert status == 503 and took < 0.15
        inner.release.set()
        assert (await held)[0] == 200
        faults.clear("request_cost")
        assert (await timed("POST", "/v1/payments/authorize"))[1] < 0.15

    asyncio.run(scenario())


def test_each_refusal_is_counted_by_priority_in_the_catalogs_signal():
    """The service counts what it sheds (requests_shed_total), so LoadShedding can page: the SLOs cannot see a
    refusal. On a foreign catalog with the feature switched on too: the metric is the catalog's, not the reference's."""
    import yaml
    from prometheus_client import CollectorRegistry

    from moneypath.catalog.conventions import Key
    from moneypath.catalog.load import load_catalog, parse_catalog
    from moneypath.instrument import MoneyPath
    from moneypath.instrument._prometheus_backend import PrometheusBackend
    from tests.conftest import CATALOG_PATH, FOREIGN_PATH

    foreign = yaml.safe_load(FOREIGN_PATH.read_text())
    foreign.setdefault("features", {})["admission"] = True
    foreign["signals"][Key.REQUESTS_SHED_TOTAL] = {"type": "counter", "help": "Refused past capacity.",
                                                   "labels": {"priority": ["critical", "normal"]}}

    async def scenario(mp):
        inner = Slow()
        fixed = LagLimit(limit=1, min_limit=1, max_limit=1, lag_target_s=-1.0)  # always behind: a hard limit
        app = AdmissionControl(inner, AdmissionGate(classify, fixed, reserve=0.0, on_refuse=mp.count_shed))
        # a limit of 1 without reserve: one new payment fills it, and captures get the critical slots above what
        # new work can reach (2 * 1 + 1 = 3)
        held = [asyncio.create_task(request(app, "POST", path))
                for path in ("/v1/payments/authorize", "/v1/payments/pay_0/capture", "/v1/payments/pay_2/capture")]
        await asyncio.sleep(0.01)
        assert inner.entered == 3
        for path in ("/v1/payments/authorize", "/v1/payouts", "/v1/payments/pay_1/capture"):
            assert (await asyncio.wait_for(request(app, "POST", path), 1))[0] == 503
        inner.release.set()
        await asyncio.gather(*held)

    for catalog in (load_catalog(CATALOG_PATH), parse_catalog(yaml.safe_dump(foreign), "foreign")):
        mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
        asyncio.run(scenario(mp))
        name = catalog.metric(Key.REQUESTS_SHED_TOTAL)
        assert mp.registry.get_sample_value(name, {"priority": "normal"}) == 2, name
        assert mp.registry.get_sample_value(name, {"priority": "critical"}) == 1, name


def test_the_protocols_refusals_are_tallied_and_recorded_together_within_the_tally_interval():
    """Refused as the headers are parsed (admission_http), a refusal costs a dict entry; the metrics get one call
    per kind and method within TALLY_S, and the tally left when the service stops is recorded by record_tally."""
    recorded: list[tuple] = []
    gate = AdmissionGate(classify, LagLimit(limit=0, min_limit=0, max_limit=0),
                         on_refuse=lambda kind, n: recorded.append(("shed", kind, n)),
                         on_wire_refusals=lambda method, n: recorded.append(("http", method, n)))

    async def scenario():
        for _ in range(3):
            gate.refuse_on_the_wire(admission.NORMAL, "POST")
        gate.refuse_on_the_wire(admission.NORMAL, "GET")
        gate.refuse_on_the_wire(admission.CRITICAL, "POST")
        assert recorded == []  # nothing on the hot path
        assert gate.refused == {admission.CRITICAL: 1, admission.NORMAL: 4}  # counted at once all the same
        await asyncio.sleep(admission.TALLY_S * 3)
        assert sorted(recorded) == [("http", "GET", 1), ("http", "POST", 1), ("http", "POST", 3),
                                    ("shed", admission.CRITICAL, 1), ("shed", admission.NORMAL, 1),
                                    ("shed", admission.NORMAL, 3)]
        recorded.clear()
        gate.refuse_on_the_wire(admission.NORMAL, "POST")
        gate.record_tally()  # as the service stops: before the timer
        assert recorded == [("shed", admission.NORMAL, 1), ("http", "POST", 1)]
        await asyncio.sleep(admission.TALLY_S * 3)  # the timer finds the tally empty: nothing twice
        assert len(recorded) == 2
        recorded.clear()
        gate.refuse_on_the_wire(admission.NORMAL, "POST")  # and the loop stops before its timer fires

    async def on_another_loop():
        gate.refuse_on_the_wire(admission.NORMAL, "POST")  # the tally left behind is recorded from here
        await asyncio.sleep(admission.TALLY_S * 3)
        assert recorded == [("shed", admission.NORMAL, 2), ("http", "POST", 2)]

    asyncio.run(scenario())
    asyncio.run(on_another_loop())


def test_copies_of_a_request_in_flight_take_no_slot_up_to_a_bound():
    gate = AdmissionGate(lambda method, path: "normal", LagLimit(limit=1, min_limit=1, max_limit=1))
    key = b"Bearer t\nkey-1"
    assert not gate.admits_copy(key), "nothing of that key is in flight: not a copy"
    gate.admit()
    gate.key(key)
    assert all(gate.admits_copy(key) for _ in range(COPIES_MAX - 1)) and gate.in_flight == 1
    assert not gate.admits_copy(key), "past the bound a copy is new work"
    assert not gate.admits_copy(b"Bearer other\nkey-1"), "another client's same key is not a copy"
    for _ in range(COPIES_MAX):
        gate.unkey(key)
    assert gate.keys == {}
