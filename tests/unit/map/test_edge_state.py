"""The edge rules (moneypath.map.edge_state.decide) over every combination of what may be read: traffic (none
declared, not read, zero, some), targets (alive, dead), counters (data or not), alerts (none, ticket, page) and
objectives (none, within, beyond, not measured). Never green without traffic, its targets up and every objective
measured and within; the states are one typed set whose results are the three (`State.outcome`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from moneypath._common.verdict import Check, Outcome
from moneypath.map.edge_state import EdgeReading, Hit, decide
from moneypath.map.legend import legend
from moneypath.map.marks import ORDER, MapHealth, State

OBJECTIVE = st.sampled_from(list(Outcome)).map(
    lambda o: Check(name="SLO x", outcome=o, why=f"SLO x: {o.value}"))
HIT = st.sampled_from(["page", "ticket"]).map(lambda s: Hit(f"A{s}", s, f"A{s}{{}}", "reading m"))

readings = st.builds(
    EdgeReading,
    metrics=st.sampled_from([(), ("m_total",), ("m_total", "m_seconds")]),
    figures=st.just(("1/s",)),
    any_data=st.booleans(),
    traffic_signal=st.booleans(),
    traffic=st.one_of(st.none(), st.just(0.0), st.floats(min_value=0.001, max_value=1e6)),
    hits=st.lists(HIT, max_size=2).map(tuple),
    not_data=st.one_of(st.none(), st.just("target t (job j): counters go backwards")),
    dead=st.one_of(st.none(), st.just("target t (job j) is down (up 0)")),
    objectives=st.lists(OBJECTIVE, max_size=3).map(tuple),
)


@given(readings)
def test_never_green_without_traffic_its_targets_up_and_every_objective_met(r):
    mark = decide(r)
    if mark.state is State.GREEN:
        assert r.metrics and r.any_data and r.traffic_signal and r.traffic is not None and r.traffic > 0
        assert r.not_data is None and r.dead is None and not r.hits
        assert r.objectives and all(c.outcome is Outcome.PASS for c in r.objectives)
    # and the other way round: all of that is green
    if (r.metrics and r.any_data and r.traffic_signal and r.traffic and r.not_data is None and r.dead is None
            and not r.hits and r.objectives and all(c.outcome is Outcome.PASS for c in r.objectives)):
        assert mark.state is State.GREEN


@given(readings)
def test_each_state_says_why_and_its_result(r):
    mark = decide(r)
    assert mark.why
    if mark.state.outcome is Outcome.NOT_MEASURED and mark.state is State.GREY:
        assert mark.why.startswith("not measured: ")
    if mark.state is State.IDLE:
        assert r.traffic == 0 and r.dead is None and mark.why.startswith("idle: no traffic in the last ")
    if mark.state is State.NO_OBJECTIVE:
        assert not r.objectives and r.traffic and mark.why.startswith("no objective: ")
    if r.not_data is not None or (r.dead is not None and not r.hits):
        assert mark.state is State.GREY and mark.figures == ()  # counters not data, a dead target: no figure
    if any(h.severity == "page" for h in r.hits) and r.metrics and r.not_data is None:
        assert mark.state is State.RED


def test_the_states_are_one_set_each_with_its_result_and_legend_entry(catalog):
    from moneypath.map.graph import build_map

    assert {s.outcome for s in State} == set(Outcome)
    assert [s for s in State if s.outcome is Outcome.PASS] == [State.GREEN]
    assert {s for s in State if s.outcome is Outcome.FAIL} == {State.RED, State.AMBER}
    assert set(ORDER) == set(State)
    assert [s.rank for s in (State.GREY, State.GREEN, State.AMBER, State.RED)] == [0, 1, 2, 3]  # the dashboard's
    key = legend(build_map([catalog]), MapHealth(), False)
    assert [i.mark for i in key.items if i.mark.startswith("state:")] == [f"state:{s.value}" for s in reversed(ORDER)]
    assert {i.text for i in key.items if i.mark.startswith("state:")} == {s.meaning for s in State}
