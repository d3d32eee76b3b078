"""The load generator judged from synthetic worker timelines: a worker lost (its heartbeats stopped, it left, it fell
behind), the stretch until the asked rate held again, generator-bound runs, the CPU per unit of rate; and what that
does to the rate gates (load_generator)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.loadtest.command import gates, load_generator
from moneypath.loadtest.command import worker_health as wh
from moneypath.loadtest.command.gates import Gate
from moneypath.loadtest.in_locust import worker_rates

PACE = 1.0  # each user 1 request/s


def timeline(seconds: int, workers: dict, users: int = 20, pace: float | None = PACE) -> wh.Timeline:
    """`workers`: id -> function(t) -> (state, users, cpu, rps); reports fresh unless the state is lost."""
    samples = []
    last: dict[str, float] = {}
    for t in range(1, seconds + 1):
        points = {}
        for w, f in workers.items():
            state, n, cpu, rps = f(t)
            if state in wh.UP:
                last[w] = t
            points[w] = wh.Point(state, n, cpu, rps, None, last.get(w))
        samples.append(wh.HealthSample(float(t), users, 5.0, points))
    return wh.Timeline("master", pace, samples, {w: i for i, w in enumerate(workers)}, 1000.0)


def steady(users=10, cpu=30.0):
    return lambda t: ("running", users, cpu, users * PACE)


def dies_at(at: int, back_at: int | None = None, users=10):
    """Carries its users until `at`, then missing (Locust: heartbeats stopped) and gone."""
    return lambda t: ("running", users, 30.0, users * PACE) if t < at else ("missing", 0, None, 0.0)


def takes_over(at: int, after: int, users=10):
    """The survivor: its own users, then the lost worker's too from `after` (Locust rebalancing)."""
    return lambda t: ("running", users if t < after else 2 * users, 30.0,
                      users * PACE if t < after else 2 * users * PACE)


def test_a_worker_that_dies_is_lost_when_it_last_reported_with_the_rate_it_carried():
    tl = timeline(30, {"a": dies_at(15), "b": takes_over(15, 19)})
    health = wh.judge(tl)
    [loss] = health.losses
    assert (loss.worker, loss.at_s, loss.detected_s, loss.carried) == ("a", 14.0, 15.0, 10.0)
    assert loss.how == "its heartbeats stopped"
    assert loss.recovered_s == 19.0 and health.stretches == [(14.0, 19.0)] and health.recovered
    assert not health.generator_bound
    lines = health.lines()
    assert lines[0] == "worker 1 (a) lost at 14 s (its heartbeats stopped), carrying 10.0 requests/s; the asked rate " \
                       "held again at 19 s"
    assert lines[1] == "not measured for the rate-dependent gates: 14-19 s; the run is judged on the rest"


def test_the_rate_never_held_again_leaves_the_stretch_open_to_the_end():
    tl = timeline(30, {"a": dies_at(15), "b": steady()})
    health = wh.judge(tl)
    assert health.stretches == [(14.0, None)] and not health.recovered
    assert health.losses[0].recovered_s is None
    assert "the asked rate never held again" in health.lines()[0]
    assert "14 s to the end" in health.lines()[1]


def test_a_worker_that_falls_behind_is_lost_from_the_start_of_its_fall():
    def slows(t):
        return ("running", 10, 30.0, 10.0 if t < 12 else 1.0)

    health = wh.judge(timeline(30, {"a": slows, "b": steady()}))
    [loss] = health.losses
    assert loss.at_s == 12.0 and loss.detected_s == 12.0 + wh.COLLAPSE_S - 1 and loss.carried == 10.0
    assert loss.how.startswith("it fell behind")


def test_a_worker_slow_from_the_start_never_carried_its_users_so_it_is_no_loss_but_a_short_rate():
    def burned(t):
        return ("running", 10, 99.0, 0.5)

    tl = timeline(20, {"a": burned, "b": steady()})
    health = wh.judge(tl)
    assert health.losses == []
    assert health.generator_bound and health.short_of_cpu
    assert health.bound == ["worker 1 (a) short of CPU: 99 % of its core (median)"]
    # the CPU per request comes from the worker that was not saturated: 0.3 cores for 10 requests/s
    assert abs(health.cores_per_rate - 0.03) < 1e-9
    assert health.workers_for(100) == 4  # 100/s x 0.03 cores = 3 cores, at 0.75 of a core each


def test_a_short_rate_alone_never_names_the_generator():
    """Neither short of CPU nor of users: the shortfall is the service's, and the gates judge it."""
    def short(t):
        return ("running", 10, 40.0, 6.0)

    tl = timeline(20, {"a": short, "b": short})
    health = wh.judge(tl)
    assert not health.generator_bound and health.lines() == []
    assert abs(health.achieved_share - 0.6) < 1e-9


def test_a_saturated_master_or_single_process_is_the_bottleneck_too():
    tl = timeline(20, {"a": steady(), "b": steady()})
    tl.samples = [wh.HealthSample(s.t, s.target_users, 97.0, s.workers) for s in tl.samples]
    assert wh.judge(tl).bound == ["the Locust master short of CPU: 97 % of its core (median)"]
    local = wh.Timeline("local", PACE, [wh.HealthSample(float(t), 20, None, {"local": wh.Point("running", 20, 95.0, 20.0,
                                                                                          None, float(t))})
                                        for t in range(1, 20)])
    health = wh.judge(local)
    assert health.bound == ["the load generator's one process short of CPU: 95 % of its core (median)"]
    assert health.losses == []  # one process: nothing to lose but the run


def test_a_closed_loop_has_no_asked_rate_so_only_cpu_can_bind_it():
    tl = timeline(20, {"a": lambda t: ("running", 10, 50.0, 3.0)}, pace=None)
    health = wh.judge(tl)
    assert not health.generator_bound and health.achieved_share is None


def test_the_seconds_after_a_change_of_users_are_left_out_of_the_rate():
    """A spike: the rate lags the users asked for a few seconds; those seconds do not make the rate short."""
    samples = []
    for t in range(1, 40):
        users = 20 if 10 <= t < 20 else 2
        rate = users * PACE if not (10 <= t < 13 or 20 <= t < 23) else 2.0
        samples.append(wh.HealthSample(float(t), users, 1.0, {"a": wh.Point("running", users, 10.0, rate, None, float(t))}))
    health = wh.judge(wh.Timeline("master", PACE, samples, {"a": 0}))
    assert not health.generator_bound and health.achieved_share == 1.0


def test_a_workers_rate_comes_from_its_reports_and_falls_to_zero_when_they_stop():
    reports = [(1.0, 10, 0), (2.0, 20, 0), (3.0, 30, 1), (4.0, 50, 3)]
    assert worker_rates.rates_at(reports, 4.2, 3.0) == (40 / 3, 1.0, 4.0)  # 1 s to 4 s: 40 requests, 3 flows
    assert worker_rates.rates_at(reports, 4.2, 1.0) == (20.0, 2.0, 4.0)  # the last two reports
    assert worker_rates.rates_at(reports[:1], 1.5, 3.0) == (None, None, 1.0)  # one report: no rate yet
    assert worker_rates.rates_at(reports, 4.0 + worker_rates.STALE_S + 0.1, 3.0) == (0.0, 0.0, 4.0)  # quiet: sends nothing
    assert worker_rates.rates_at([], 3.0, 3.0) == (None, None, None)


def test_the_timeline_file_reads_back(tmp_path):
    path = tmp_path / "locust_workers.json"
    path.write_text(json.dumps({"started_at": 5.0, "mode": "master", "pace": 0.5, "workers": {"w1": {"index": 0}},
                                "samples": [{"t": 1.0, "target_users": 4, "master_cpu": 3.0, "workers": {
                                    "w1": {"state": "running", "users": 4, "cpu": 12.0, "rps": 2.0, "fps": None,
                                           "last_report": 0.9}}}]}))
    tl = wh.load(path)
    assert tl.started_at == 5.0 and tl.pace == 0.5 and tl.asked(tl.samples[0]) == 2.0
    assert tl.samples[0].workers["w1"] == wh.Point("running", 4, 12.0, 2.0, None, 0.9)
    assert wh.load(tmp_path / "missing.json") is None


@settings(max_examples=60, deadline=None)
@given(at=st.integers(5, 40), gap=st.integers(1, 8), extra=st.integers(-1, 12))
def test_property_a_death_is_found_once_and_its_stretch_ends_when_the_rate_held_long_enough(at, gap, extra):
    """Whenever one of two workers dies and the other takes over `gap` seconds later: one loss, at its last report;
    the stretch ends at the takeover when HOLD_S seconds follow it, else it stays open; every second judged
    (outside the stretch) carries the asked rate."""
    tl = timeline(at + gap + extra, {"a": dies_at(at), "b": takes_over(at, at + gap)})
    health = wh.judge(tl)
    assert [(x.worker, x.at_s) for x in health.losses] == [("a", at - 1.0)]
    [(a, b)] = health.stretches
    assert a == at - 1
    assert b == (at + gap if extra >= wh.HOLD_S - 1 else None)
    for s in tl.samples:
        if a <= s.t and (b is None or s.t < b):
            continue
        assert tl.achieved(s, wh.REQUESTS_PER_S) >= wh.HELD * tl.asked(s)


# ---------------------------------------------------------------- what it does to the gates


def rate_gates() -> list[Gate]:
    return [Gate("p99_latency_locust", "p99, Locust", "locust", PASS, "200 ms", "<= 1000 ms"),
            Gate("p99_latency_prometheus", "p99, service", "prometheus", PASS, "150 ms", "<= 1000 ms"),
            Gate("failure_ratio_prometheus", "errors, service", "prometheus", FAIL, "5 %", "<= 1 %", "over"),
            Gate("duplicate_charges", "zero duplicate charges", "prometheus", PASS, "0", "0"),
            Gate.skip("flow_p99_locust", "flow p99", "locust", "-", "-", "no flows")]


def test_an_open_stretch_turns_the_rate_gates_that_passed_into_not_measured_and_keeps_failures_and_money():
    health = wh.judge(timeline(30, {"a": dies_at(15), "b": steady()}))
    out = {gt.name: gt for gt in load_generator.apply(rate_gates(), health)}
    assert out["p99_latency_locust"].outcome is NOT_MEASURED and out["p99_latency_prometheus"].outcome is NOT_MEASURED
    assert "the asked rate never held again" in out["p99_latency_locust"].reason
    assert "worker 1 (a) lost at 14 s" in out["p99_latency_locust"].reason
    assert out["failure_ratio_prometheus"].outcome is FAIL  # failed at a lower rate: it fails at the asked one too
    assert out["duplicate_charges"].outcome is PASS  # money holds at any rate
    assert out["flow_p99_locust"].skipped
    assert gates.gates_verdict(list(out.values())) is FAIL


def test_a_recovered_stretch_takes_the_rate_gates_judged_on_the_rest_and_says_so():
    health = wh.judge(timeline(30, {"a": dies_at(15), "b": takes_over(15, 19)}))
    rest = {"p99_latency_locust": Gate("p99_latency_locust", "p99, Locust", "locust", FAIL, "1200 ms", "<= 1000 ms",
                                       "over")}
    out = {gt.name: gt for gt in load_generator.apply(rate_gates(), health, rest)}
    assert out["p99_latency_locust"].outcome is FAIL
    assert out["p99_latency_locust"].observed == "1200 ms (without 14-19 s: a load-generator worker was lost)"
    # not judged on the rest (here: no Prometheus answer for it): not measured, never the whole run's pass
    assert out["p99_latency_prometheus"].outcome is NOT_MEASURED
    assert "not judged without 14-19 s" in out["p99_latency_prometheus"].reason


def test_a_bound_generator_leaves_locust_timings_not_measured_even_when_they_failed():
    health = wh.judge(timeline(20, {"a": lambda t: ("running", 10, 99.0, 0.5), "b": steady()}))
    gts = [*rate_gates(), Gate("failure_ratio_locust", "errors, Locust", "locust", FAIL, "9 %", "<= 1 %", "over")]
    out = {gt.name: gt for gt in load_generator.apply(gts, health)}
    assert out["failure_ratio_locust"].outcome is NOT_MEASURED
    assert wh.BOTTLENECK in out["failure_ratio_locust"].reason
    assert out["p99_latency_prometheus"].outcome is NOT_MEASURED and out["failure_ratio_prometheus"].outcome is FAIL


def test_a_healthy_generator_changes_nothing():
    health = wh.judge(timeline(20, {"a": steady(), "b": steady()}))
    assert health.lines() == [] and load_generator.apply(rate_gates(), health) == rate_gates()
    assert load_generator.apply(rate_gates(), None) == rate_gates()


def test_the_rest_is_the_run_less_the_stretch_between_the_snapshots_around_it():
    def entry(n, times):
        return {"method": "POST", "name": "authorize [acme]", "num_requests": n, "num_failures": 0,
                "total_response_time": float(sum(int(k) * v for k, v in times.items())), "response_times": times}

    kept = {10.0: [entry(10, {"100": 10})], 14.0: [entry(12, {"100": 10, "900": 2})],
            20.0: [entry(20, {"100": 15, "900": 5})]}
    final = [entry(30, {"100": 25, "900": 5})]
    [rest] = load_generator.rest_entries(final, kept, [(12.0, 19.0)])  # outward: 10 s to 20 s left out
    assert rest["num_requests"] == 20 and rest["response_times"] == {"100": 20}
    assert load_generator.rest_entries(final, kept, [(12.0, None)]) is None
    assert load_generator.rest_entries(final, kept, [(5.0, 19.0)]) is None  # no snapshot before it
