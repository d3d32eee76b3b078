"""The overload gates: phases from the scenario, figures per phase from Locust's snapshots, the verdicts."""

from __future__ import annotations

import pytest

from moneypath.formats import scenarios
from moneypath.loadtest.command import gates, overload
from moneypath.loadtest.command.stats import Tick, summarize
from moneypath.loadtest.in_locust import shape
from tests.conftest import SHIPPED_SCENARIOS
from tests.support.locust_stats import entry


@pytest.fixture(scope="module")
def spec(catalog):
    return scenarios.load(SHIPPED_SCENARIOS, catalog)


@pytest.fixture
def thr(catalog):
    return gates.thresholds(catalog, reconcile_within_s=30)  # the reference catalog: p99 300 ms, budget 0.1 %


def test_the_shipped_overload_is_a_minute_at_3x_between_two_at_1x(spec):
    s = spec.get("overload")
    p = overload.phases(s, 180)
    assert p.overload == (60, 120) and p.recovery == (150, 180)
    assert [shape.users_at(s, 100, t, 180) for t in (30, 60, 119, 120, 179)] == [100, 300, 300, 100, 100]
    assert overload.phases(spec.get("checkout"), 60) is None


def test_an_overload_needs_a_spike(tmp_path, catalog):
    text = SHIPPED_SCENARIOS.read_text().replace("    spike: {multiplier: 3, duration_s: 60}\n    duration_s: 180\n", "")
    path = tmp_path / "scenarios.yaml"
    path.write_text(text)
    with pytest.raises(scenarios.ScenarioError, match="overload needs a spike"):
        scenarios.load(path, catalog)


def phase(authorize_ms=None, refused=0, refused_ms=50, failed=0, captures=None, refused_captures=0, seconds=60):
    """A phase's entries: 1000 authorizations answered, `refused` authorizations refused, some captures."""
    entries = [entry("authorize [acme]", times=authorize_ms or {"120": 990, "250": 10}, failures=failed)]
    if refused:
        entries.append(entry("authorize [acme]", method="REFUSED", times={str(refused_ms): refused}, failures=refused))
    entries.append(entry("capture [acme]", times=captures or {"80": 500}))
    if refused_captures:
        entries.append(entry("capture [acme]", method="REFUSED", times={"20": refused_captures},
                             failures=refused_captures))
    entries.append(entry("authorize [acme] (attempt)", times={"5000": 40}, failures=40))  # attempts: not judged
    return overload.figures(entries, seconds)


def judged(thr, spec, over, recovery, rate=25.0, recovered_after=4.0):
    s = spec.get("overload")
    o = overload.Overload(overload.phases(s, 180), rate, over, recovery, recovered_after, s.overload.goodput_share)
    return {g.name: g for g in overload.gates(o, thr, s)}


def test_a_service_that_sheds_fast_and_recovers_passes(thr, spec):
    over = phase(refused=2000, refused_captures=20)
    assert over.goodput_rps == pytest.approx(1500 / 60) and over.refused == 2020
    assert over.refused_share == {"in motion": pytest.approx(20 / 520), "new money": pytest.approx(2000 / 3000)}
    g = judged(thr, spec, over, phase())
    assert {name: gate.status for name, gate in g.items()} == dict.fromkeys(scenarios.OVERLOAD_GATES, gates.PASS)
    assert "100%" in g["overload_goodput"].observed and "after 4 s" in g["overload_recovery"].observed


def test_a_service_that_queues_instead_of_refusing_fails(thr, spec):
    """No refusal at all: the admitted latency and the timeouts give it away, goodput falls short."""
    over = phase(authorize_ms={"120": 300, "4000": 700}, failed=700)
    g = judged(thr, spec, over, phase())
    assert g["overload_admitted"].status == gates.FAIL and "700 admitted requests failed" in g["overload_admitted"].reason
    assert g["overload_goodput"].status == gates.FAIL  # 800 answered in 60 s of a 25/s saturation
    assert g["overload_refused_fast"].status == gates.PASS and g["overload_refused_fast"].observed == "nothing refused"
    assert g["overload_priority"].status == gates.SKIP


def test_slow_refusals_and_captures_refused_first_fail(thr, spec):
    g = judged(thr, spec, phase(refused=100, refused_ms=900, refused_captures=400), phase())
    assert g["overload_refused_fast"].status == gates.FAIL and "900 ms" in g["overload_refused_fast"].reason
    assert g["overload_priority"].status == gates.FAIL


def test_a_metastable_service_fails_the_recovery(thr, spec):
    """After the load dropped it still refuses a third of what it gets: retries, breakers or queues keep it down."""
    g = judged(thr, spec, phase(refused=2000), phase(refused=500), recovered_after=None)
    r = g["overload_recovery"]
    assert r.status == gates.FAIL and "metastable" in r.reason and "never" in r.observed


def test_a_phase_the_run_did_not_reach_fails_every_gate(thr, spec):
    g = judged(thr, spec, None, None)
    assert all(gate.status == gates.FAIL for gate in g.values())


def test_phases_come_from_subtracting_snapshots():
    at_60 = [entry("authorize [acme]", times={"100": 100})]
    at_120 = [entry("authorize [acme]", times={"100": 400, "200": 50}),
              entry("authorize [acme]", method="REFUSED", times={"10": 300}, failures=300)]
    final = [entry("authorize [acme]", times={"100": 600, "200": 50}),
             entry("authorize [acme]", method="REFUSED", times={"10": 300}, failures=300)]
    snaps = {60.0: at_60, 120.0: at_120}
    over = overload.figures(overload.between(snaps, final, 60, 120, 180), 60)
    assert (over.requests, over.refused, over.succeeded) == (650, 300, 350)
    after = overload.figures(overload.between(snaps, final, 120, 180, 180), 60)
    assert (after.requests, after.refused, after.succeeded) == (200, 0, 200)
    assert overload.between(snaps, final, 120, 150, 180) is None  # no snapshot at 150 s: the run stopped early


def test_refusals_fail_the_failure_ratio_but_stay_out_of_the_latency():
    entries = [entry("authorize [acme]", times={"250": 100}),
               entry("authorize [acme]", method="REFUSED", times={"2": 900}, failures=900)]
    s = summarize(entries)
    assert s.authorize_p99_ms == 250 and (s.judged_failures, s.judged_requests) == (900, 1000)
    assert s.http_requests == 1000


def ticks(*pairs, started=1000.0):
    """(second into the run, failures/s) at 100 requests/s and a p99 of 120 ms."""
    return [Tick(started + t, 100, 100.0, f, 50, 100, 120, 0, 0) for t, f in pairs]


def test_recovery_time_is_when_the_seconds_stay_clean():
    history = ticks((118, 50), (121, 30), (125, 2), (126, 0), (127, 0), (140, 0))
    assert overload.recovered_after(history, 1000.0, 120, 0.001, 300) == 6  # last bad second 125 → clean from 126
    assert overload.recovered_after(ticks((121, 0), (130, 0)), 1000.0, 120, 0.001, 300) == 0
    assert overload.recovered_after(ticks((121, 0), (130, 9)), 1000.0, 120, 0.001, 300) is None


def test_a_foreign_services_phase_is_judged_by_its_own_names_and_judged_provider():
    """The ticket shop's providers (knet, komoju), one of them judged alone, as `judge_provider` does."""
    entries = [entry("authorize [knet]", times={"90": 400}),
               entry("authorize [knet]", method="REFUSED", times={"4": 600}, failures=600),
               entry("capture [knet]", times={"70": 200}),
               entry("authorize [komoju]", times={"2000": 50}, failures=50)]
    knet = overload.figures(entries, 10, judge_provider="knet")
    assert (knet.requests, knet.refused, knet.succeeded, knet.admitted_failed) == (1200, 600, 600, 0)
    assert knet.authorize_p99_ms == 90 and knet.refused_share == {"in motion": 0.0, "new money": 0.6}
    assert overload.figures(entries, 10).admitted_failed == 50  # komoju's failures count when all are judged
