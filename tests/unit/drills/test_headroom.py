"""The headroom probe's decision: the peak as written, scaled to what the target served, or not measured with
the figures; and the probe itself on a load that serves a known share."""

from __future__ import annotations

from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.drills.headroom import HeadroomProbe, plan, probe
from moneypath.formats.drill import Headroom

SPEC = Headroom(min_multiple=5)  # 25 % spare


def probed(served: float, asked: float = 100.0) -> HeadroomProbe:
    return HeadroomProbe(asked=asked, served=served, refused=3, failed=4, in_flight=24, seconds=3.0)


def test_a_target_that_keeps_up_runs_the_peak_as_written():
    decided = plan(probed(96.0), peak_rate=80, baseline_rate=8, spec=SPEC)
    assert decided.rate == 80 and "runs as written" in decided.reason


def test_a_slower_target_gets_a_peak_it_carries_with_the_spare_kept():
    decided = plan(probed(60.0), peak_rate=80, baseline_rate=8, spec=SPEC)
    assert decided.rate == 48  # 60 / 1.25
    assert "scales from 80/s to 48/s" in decided.reason and "6.0x the baseline" in decided.reason


def test_below_the_least_multiple_is_not_measured_with_the_figures():
    decided = plan(probed(45.0), peak_rate=80, baseline_rate=8, spec=SPEC)  # 36/s < 5 x 8
    assert decided.rate is None
    assert "served 45.0 payments/s of 100.0 asked" in decided.reason and "3 refused" in decided.reason
    assert "needs 40/s at the least (5x the baseline 8/s)" in decided.reason


class HalfServed:
    """A load whose every other payment is refused: what the probe counts from its outcomes."""

    def __init__(self, rate: float, cap: int):
        self.rate, self.cap, self.started = rate, cap, False

    def start(self):
        self.started = True

    def stop(self):
        pass

    def snapshot(self):
        out = []
        for i in range(30):
            o = PaymentOutcome(t=0.0, provider="acme", currency="EUR", amount_minor=100, correlation_id=str(i), finished=1.0)
            o.payment_id, o.refused = (f"p{i}", False) if i % 2 == 0 else (None, True)
            out.append(o)
        return out


def test_the_probe_asks_the_peak_plus_its_spare_and_counts_acknowledged_payments():
    made = []
    ticks = iter([100.0, 103.0])

    def make(rate, cap):
        made.append(HalfServed(rate, cap))
        return made[-1]

    result = probe(make, 80, SPEC, clock=lambda: next(ticks), sleep=lambda s: None)
    assert made[0].rate == 100.0 and made[0].cap == 24 and made[0].started
    assert result.served == 5.0 and result.refused == 15 and result.failed == 15 and result.seconds == 3.0


LINE = ("the metrics counted 150 of 300 authorizations sent to 127.0.0.1:8102 (0.50; 296 acknowledged): several "
        "workers without multiprocess mode, or another instance scraped")


def test_the_probes_stretch_is_reconciled_from_its_start_and_the_first_check_off_is_kept():
    from moneypath._common.verdict import FAIL, PASS, Check

    ticks, asked = iter([100.0, 103.0]), []
    good, bad = Check(name="conservation", outcome=PASS, why="ok"), Check(name="conservation", outcome=FAIL, why=LINE)

    def reconcile(start):
        asked.append(start)
        return [good, bad]

    result = probe(HalfServed, 80, SPEC, clock=lambda: next(ticks), sleep=lambda s: None, reconcile=reconcile)
    assert asked == [100.0] and result.conservation is bad
    assert probe(HalfServed, 80, SPEC, clock=iter([0.0, 3.0]).__next__, sleep=lambda s: None).conservation is None


def test_a_probe_whose_counts_do_not_reconcile_measures_no_headroom():
    from dataclasses import replace

    from moneypath._common.verdict import FAIL, PASS, Check

    off = replace(probed(96.0), conservation=Check(name="conservation", outcome=FAIL, why=LINE))
    decided = plan(off, peak_rate=80, baseline_rate=8, spec=SPEC)
    assert decided.rate is None
    assert decided.reason == ("headroom not measured: the target served 96.0 payments/s of 100.0 asked in 3.0 s with "
                              f"at most 24 in flight (4 not acknowledged, 3 refused), but {LINE}: the peak would be "
                              "judged on counters that did not count the drill's payments")
    kept = replace(probed(96.0), conservation=Check(name="conservation", outcome=PASS, why="ok"))
    assert plan(kept, peak_rate=80, baseline_rate=8, spec=SPEC).rate == 80


def test_the_demo_counts_a_drill_not_measured_apart_and_exits_3(catalog, monkeypatch, capsys, tmp_path):
    from moneypath.drills import demo
    from moneypath.drills.runner import Result

    given = []

    def ran(drills, *a, **kw):
        given.extend(drills)
        return [Result(d.name, "not measured" if d.name == "healthy-baseline-peak" else "pass", {}, "r.md")
                for d in drills]

    monkeypatch.setattr(demo, "run_in_lanes", ran)
    monkeypatch.setattr(demo, "print_summary", lambda results: None)
    code = demo.run_demo(catalog, tmp_path / "never-started")
    out = capsys.readouterr().out
    assert code == 3
    n = len(given)
    assert f"{n - 1} of {n} drills passed (1 not measured: healthy-baseline-peak) in " in out
