"""Conservation of counts (moneypath.check.conservation): the exact bounds from call times and sample times, the
counter read from raw samples, and the line."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from moneypath._common.prometheus import PrometheusError
from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.check import conservation as c
from moneypath.check.conservation import Counted, CountedCall, GroundTruth, reconcile

T = "127.0.0.1:8000"


def _counted(total: float, by_outcome: dict | None = None) -> Counted:
    return Counted(metric="shop_authorizations_total", target=T, start=100.0, end=200.0, total=total,
                   by_outcome=by_outcome or {})


def _truth(sent: int, ack: int | dict, shared: bool = False, may: dict | None = None) -> GroundTruth:
    return GroundTruth(target=T, start=100.0, end=200.0, sent=sent,
                       acknowledged=ack if isinstance(ack, dict) else {c.ANY: ack}, shared=shared, may=may or {})


def test_the_issue_s_sticky_workers_read_69_of_259_with_the_likely_cause():
    check = reconcile(_truth(259, 259), _counted(69))
    assert check.outcome is FAIL
    assert check.why == (f"the metrics counted 69 of 259 authorizations sent to {T} (0.27; 259 acknowledged): "
                         "several workers without multiprocess mode, or another instance scraped")
    assert check.figures["ratio"] == 69 / 259 and check.figures["target"] == T


def test_double_counting_fails_on_a_target_serving_only_the_run_and_is_not_seen_on_a_shared_one():
    assert reconcile(_truth(259, 259), _counted(518)).why.endswith(c.OVER)
    shared = reconcile(_truth(259, 259, shared=True), _counted(518))
    assert shared.outcome is PASS and "double counting cannot be seen" in shared.why


def test_per_outcome_lower_and_upper_bounds():
    truth = _truth(100, {"approved": 80, "declined": 20}, may={"approved": 80, "declined": 20})
    assert reconcile(truth, _counted(100, {"approved": 80, "declined": 20})).outcome is PASS
    swapped = reconcile(truth, _counted(100, {"approved": 100, "declined": 0}))
    assert swapped.outcome is FAIL and "outcome declined: counted 0 of 20 acknowledged" in swapped.why


def test_nothing_to_reconcile_is_not_measured():
    assert reconcile(_truth(0, 0), _counted(0)).outcome is NOT_MEASURED
    assert reconcile(_truth(10, 10), "not measured: no series").outcome is NOT_MEASURED
    assert reconcile(None, None).outcome is NOT_MEASURED


def test_from_calls_takes_exact_bounds_at_the_sample_times():
    calls = [CountedCall(95, 96, True, "approved", T),  # answered before the window: in neither bound
             CountedCall(99, 101, True, "approved", T),  # in flight at the start: may count, not surely
             CountedCall(120, 121, True, "approved", T),  # inside: surely counted
             CountedCall(130, None, False, None, T),  # no answer: may count under any outcome
             CountedCall(199.9, 200.5, True, "declined", T),  # in flight at the end: may count
             CountedCall(150, 151, True, "approved", "127.0.0.1:9"),  # another address
             CountedCall(201, 202, True, "approved", T)]  # after the window
    truth = GroundTruth.from_calls(calls, T, 100.0, 200.0)
    assert truth.acknowledged == {"approved": 1}
    assert truth.sent == 4
    assert truth.may == {"approved": 3, "declined": 2}


def test_increase_counts_born_series_from_zero_and_resets_as_new_counts():
    assert c.increase([(90, 5), (110, 7), (130, 9)], 100, 130) == 4
    assert c.increase([(110, 3), (120, 4)], 100, 130) == 4
    assert c.increase([(90, 5), (110, 8), (120, 2)], 100, 130) == 5
    assert c.increase([(140, 1)], 100, 130) is None


class _Prom:
    def __init__(self, result=None, error=None):
        self.result, self.error, self.asked = result, error, []

    def instant(self, query, at=None):
        self.asked.append((query, at))
        if self.error:
            raise self.error
        return self.result


def _series(outcome, points):
    return {"metric": {"instance": T, "outcome": outcome}, "values": [[t, str(v)] for t, v in points]}


def test_counted_reads_raw_samples_from_the_target_s_address_only(catalog):
    prom = _Prom([_series("approved", [(95, 10), (100, 10), (105, 14), (110, 20), (115, 26)]),
                  _series("declined", [(110, 2), (115, 3)])])  # born after the opening scrape: counted from 0
    got = c.counted(prom, catalog, T, 102.0, clock=lambda: 116.0)
    assert (got.start, got.end, got.total) == (105, 115, 15)
    assert got.by_outcome == {"approved": 12, "declined": 3}
    assert got.scrape_interval_s == 5
    assert f'instance="{T}"' in prom.asked[0][0] and catalog.metric("authorizations_total") in prom.asked[0][0]


def test_counted_without_series_or_answer_or_opening_scrape_is_not_measured(catalog):
    assert "no " in c.counted(_Prom([]), catalog, T, 100.0, clock=lambda: 111.0)
    err = PrometheusError("cannot reach Prometheus", url="u", path="/")
    assert "did not answer" in c.counted(_Prom(error=err), catalog, T, 100.0, clock=lambda: 111.0)
    once = _Prom([_series("approved", [(95, 1), (105, 2)])])
    assert "fewer than two scrapes" in c.counted(once, catalog, T, 100.0, clock=lambda: 106.0)


def test_address_is_host_and_port():
    assert c.address("http://127.0.0.1:8000/") == T
    assert c.address("https://shop.example") == "shop.example:443"


# A simulated run: each call is sent, then counted once by the service at a moment between sending and answering
# (or after sending, when no answer came), then answered; Prometheus reads the counter at two scrape times.
_call = st.tuples(st.floats(0, 100), st.floats(0, 0.5), st.floats(0, 1), st.booleans(), st.booleans())


@settings(max_examples=300, deadline=None)
@given(calls=st.lists(_call, max_size=60), t0=st.floats(0, 50), span=st.floats(1, 60),
       lost=st.floats(0, 1), extra=st.floats(0, 1))
def test_never_passes_when_counted_leaves_the_bounds(calls, t0, span, lost, extra):
    t1 = t0 + span
    run, counted_at = [], []
    for sent, count_after, answer_after, answered, ok in calls:
        answered_at = sent + count_after + answer_after if answered else None
        run.append(CountedCall(sent, answered_at, answered and ok, None, T))
        counted_at.append(sent + count_after)
    truth = GroundTruth.from_calls(run, T, t0, t1, skew_s=0.0)
    honest = sum(1 for t in counted_at if t0 < t <= t1)
    # what the service counted is in the bounds: an honest counter passes (or is not measured: nothing sent)
    assert reconcile(truth, _counted(honest)).outcome in (PASS, NOT_MEASURED)
    ack = truth.acknowledged_total
    under = int(ack * (1 - c.TOLERANCE) - c.SLACK_CALLS - 1 - lost * 10)
    if under >= 0:  # counted below the acknowledged beyond the tolerance: never a pass
        assert reconcile(truth, _counted(under)).outcome is FAIL
    over = int(truth.sent * (1 + c.TOLERANCE) + c.SLACK_CALLS + 1 + extra * 10)
    assert reconcile(truth, _counted(over)).outcome is (FAIL if truth.sent or ack else NOT_MEASURED)
    assert reconcile(GroundTruth(**{**truth.__dict__, "shared": True}), _counted(over)).outcome in (PASS, NOT_MEASURED)


def test_every_scraped_instance_each_from_its_own_scrapes(catalog):
    """A service scraped on a metrics port of its own: every instance's counter, each over its own scrapes; the
    lower bound over the window all of them cover."""
    a = {"metric": {"instance": "127.0.0.1:9100", "job": "svc"}, "values": [[99, "0"], [101, "1"], [111, "9"]]}
    b = {"metric": {"instance": "127.0.0.1:9101", "job": "svc"}, "values": [[103, "0"], [108, "5"]]}
    got = c.counted(_Prom([a, b]), catalog, None, 100.0, clock=lambda: 112.0)
    assert (got.target, got.total, got.start, got.end, got.inner) == (c.EVERY, 13, 101, 111, (103, 108))
    assert got.instances == ("127.0.0.1:9100", "127.0.0.1:9101")
    calls = [CountedCall(102, 102.5, True, None, "x:1"), CountedCall(104, 105, True, None, "x:2"),
             CountedCall(110, 110.5, True, None, "x:1")]
    truth = GroundTruth.from_calls(calls, None, got.start, got.end, inner=got.inner, skew_s=0)
    assert (truth.acknowledged_total, truth.sent, truth.target) == (1, 3, c.EVERY)
