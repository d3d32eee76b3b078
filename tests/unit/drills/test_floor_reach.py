"""An expected page that did not come, judged against what the drill delivered (moneypath.drills.floor_reach): a
service that could not carry the drill's rate left the alert's event floor out of reach, so detection is not
measured, with the delivered rate; when the drill brought the floor and nothing paged, it stays a failure."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from moneypath.check.drill_files import load_drill
from moneypath.drills import floor_reach
from moneypath.drills.endpoints import Target
from moneypath.drills.event_guards import held_counts
from moneypath.drills.journal import AlertRow
from moneypath.drills.runner import DrillRun
from tests.conftest import ROOT
from tests.support.drill_fakes import Clock, FakePages, FakeProm

OUTAGE = ROOT / "runbooks" / "drills" / "provider-partial-outage.yaml"  # 10/s, half to globex; floor 10 in 5 s at 60x
INJECTED = 1000.0


def outcomes(n: int, seconds: float, refused_every: int = 0, since: float = INJECTED) -> list:
    """`n` payments evenly over `seconds` from `since`; every `refused_every`-th refused (429 + Retry-After)."""
    return [SimpleNamespace(t=since + i * seconds / n, refused=bool(refused_every) and i % refused_every == 0)
            for i in range(n)]


@pytest.fixture
def drill(catalog):
    return load_drill(OUTAGE, catalog, ROOT)


def windows(drill, catalog, count):
    [expected] = drill.alerts.expected
    return held_counts(drill, catalog, 60, [expected], lambda expr: [({"provider": "globex"}, count)])


def test_delivered_counts_what_was_sent_in_the_wait_less_refusals():
    sent = outcomes(30, 10.0, refused_every=3) + outcomes(5, 1.0, since=INJECTED - 5)  # 5 before the fault
    got = floor_reach.delivered(sent, 10, INJECTED, INJECTED + 22)
    assert (got.sent, got.planned, got.seconds) == (20, 220, 22.0)
    assert got.rate == pytest.approx(20 / 22)
    assert floor_reach.delivered(outcomes(10, 10.0), 10, INJECTED, INJECTED + 10).most_in(5) == 6  # 0 s to 5 s


def test_a_drill_that_delivered_under_the_floor_reads_not_measured_with_its_rate(drill, catalog):
    got = floor_reach.delivered(outcomes(68, 22.0), 10, INJECTED, INJECTED + 22)
    [expected] = drill.alerts.expected
    lines = floor_reach.unreached(drill, windows(drill, catalog, 7.5), got)
    assert lines == {expected.alert: (
        "not measured: the drill delivered 68 of 220 planned payments (3.1/s of 10/s): "
        f"{expected.alert}'s 5 s window held 7.5 events for provider globex, under its floor of 10 — the alert could "
        "not fire")}


def test_a_drill_that_brought_the_floor_leaves_the_missing_page_a_failure(drill, catalog):
    full = floor_reach.delivered(outcomes(220, 22.0), 10, INJECTED, INJECTED + 22)  # 5 globex payments/s: 25 in 5 s
    assert floor_reach.unreached(drill, windows(drill, catalog, 7.5), full) == {}
    short = floor_reach.delivered(outcomes(68, 22.0), 10, INJECTED, INJECTED + 22)
    assert floor_reach.unreached(drill, windows(drill, catalog, 12.0), short) == {}  # the window held the floor


def test_an_unread_window_is_said_so(drill, catalog):
    [expected] = drill.alerts.expected

    def down(expr):
        raise OSError("connection refused")

    found = held_counts(drill, catalog, 60, [expected], down)
    got = floor_reach.delivered(outcomes(20, 22.0), 10, INJECTED, INJECTED + 22)
    assert "window could not be read for provider globex, under its floor of 10" in \
        floor_reach.unreached(drill, found, got)[expected.alert]


@pytest.mark.parametrize("sent, status", [(68, "not measured"), (220, "fail")])
def test_detected_is_not_measured_only_when_the_drill_did_not_bring_the_floor(drill, catalog, sent, status):
    clock = Clock()
    live = DrillRun(drill, catalog, Target(service="http://svc", prometheus="http://127.0.0.1:9",
                                           pager="http://127.0.0.1:9", time_factor=60), say=lambda _: None, clock=clock)
    live.prom.close(), live.pages_source.close()
    live.prom, live.pages_source = FakeProm(), FakePages()
    live.prom.answer = lambda expr: [({"provider": "globex"}, 7.5)] if "increase(" in expr else []
    start = clock()
    live.faults.record.injected_at = start
    clock.t = start + 22
    live.load = SimpleNamespace(rate=10.0, snapshot=lambda: outcomes(sent, 22.0, since=start), stop=lambda: None)
    live._guard_windows()
    live.close()
    [expected] = drill.alerts.expected
    row = AlertRow(alert=expected.alert, labels=expected.labels, expectation="expected", deadline_s=30,
                   first_firing_at=None, paged_at=None, resolved_at=None, receivers=[], ok=False, reason="no page")
    live._judge_pages([row], start)
    detected = next(o for o in live.objectives if o.name == "detected")
    assert detected.status == status, detected.reason
    if status == "not measured":
        assert detected.reason.startswith(f"not measured: the drill delivered {sent} of 220 planned payments "
                                          "(3.1/s of 10/s): "), detected.reason
    else:
        assert "held 7.5 events for provider globex at the deadline (floor 10)" in detected.reason
    unexpected = next(o for o in live.objectives if o.name == "no_unexpected_pages")
    assert unexpected.status == "pass"  # what the drill did not bring says nothing of other pages
