"""Soak drift (moneypath.loadtest.command.soak.drift) on synthetic samples: growth is caught, flat passes, missing inputs
and short runs say why, a database growing in chunks is judged by its trend, not by where a chunk lands."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from moneypath.loadtest.command.soak import drift
from moneypath.loadtest.command.soak.drift import Sample
from tests.support.drift_samples import RATE, START, compute, run


def test_a_flat_run_passes_every_metric_with_the_figures_of_both_minutes():
    d = compute(run())
    assert d.reason == ""
    assert d.windows.first == (START + 15, START + 75) and d.windows.last == (START + 540, START + 600)
    cpu, p99, rss, db = (d.metric(k) for k in ("cpu_ms_per_authorization", "p99_ms", "rss_mb", "db_bytes_per_payment"))
    assert cpu.first == pytest.approx(2.0) and cpu.last == pytest.approx(2.0) and cpu.status == drift.PASS
    assert p99.drift == pytest.approx(0.01) and p99.status == drift.PASS
    assert rss.first == pytest.approx(80.0) and rss.status == drift.PASS
    assert db.first == pytest.approx(1500.0) and db.last == pytest.approx(1500.0) and db.status == drift.PASS
    assert all(m.reason == "" for m in d.metrics)


def test_cpu_per_authorization_that_grows_fails_with_both_figures_in_the_reason():
    d = compute(run(cpu_growth=0.2))  # 20 % more CPU per authorization by the end
    cpu = d.metric("cpu_ms_per_authorization")
    assert cpu.status == drift.FAIL
    assert 0.12 < cpu.drift < 0.2
    assert "service CPU per authorization grew +" in cpu.reason and "limit +5%" in cpu.reason


def test_cpu_is_judged_at_the_runs_mix_so_a_mix_that_settles_is_not_read_as_drift():
    """Measured (10-minute soak, history seeded): authorizations 47.3 % of requests in the first minute, 44.7 % in
    the last, as users come to have payments to capture; CPU per second and requests per second flat; CPU over
    authorizations alone +7.4 %, a failed gate. Here: a constant cost per request, the mix moving the same way."""
    def mix(t):  # requests per authorization: 2.11 at the start, settling at 2.24 after four minutes
        return 2.11 + 0.13 * min(1.0, t / 240)

    def settling(cpu_growth=0.0):
        samples, out, cpu_s = run(requests_per_authorization=mix), [], 0.0
        for a, b in zip(samples, samples[1:]):  # 1 ms per request, times 1 + cpu_growth by the end
            cpu_s += (b.requests - a.requests) * (1 + cpu_growth * (b.t - START) / 600) / 1000
            out.append(Sample(b.t, cpu_s, b.rss_bytes, b.db_bytes, b.authorizations, b.requests))
        return [Sample(START, 0.0, samples[0].rss_bytes, samples[0].db_bytes, 0.0, 0.0), *out]

    from moneypath.loadtest.command import run_report

    d = compute(settling())
    cpu = d.metric("cpu_ms_per_authorization")
    assert cpu.status == drift.PASS and cpu.drift == pytest.approx(0.0, abs=1e-6)
    plotted = run_report.drift_series(d.to_dict())[1].values  # the report's plot at the same mix: flat too
    assert len(plotted) == 20 and max(plotted) / min(plotted) == pytest.approx(1.0, abs=1e-6)
    assert cpu.first == pytest.approx(2.2, rel=0.01)  # 1 ms per request x the steady part's ~2.2 requests each
    assert cpu.reason.startswith("at the run's mix (authorizations ") and "CPU over authorizations alone" in cpu.reason
    alone = float(cpu.reason.rsplit(", ", 1)[1].rstrip("%)")) / 100
    assert 0.04 < alone < 0.07  # what the gate judged before: a failure
    grows = compute(settling(cpu_growth=0.2)).metric("cpu_ms_per_authorization")
    assert grows.status == drift.FAIL and 0.12 < grows.drift < 0.2  # a real growth per request is still caught
    steady = compute(run(requests_per_authorization=lambda t: 2.2)).metric("cpu_ms_per_authorization")
    assert steady.reason == "" and steady.first == pytest.approx(2.0)  # a mix that does not move: no note


def test_no_cpu_in_the_first_minute_with_the_mix_moving_is_not_judged_and_raises_nothing():
    # the note on the mix divided by the first minute's CPU over authorizations alone: a ZeroDivisionError here once
    samples = [replace(s, cpu_s=0.0 if s.t - START <= 80 else (s.t - START - 80) * 0.3)
               for s in run(requests_per_authorization=lambda t: 2.0 + 0.3 * min(1.0, t / 240))]
    cpu = compute(samples).metric("cpu_ms_per_authorization")
    assert cpu.status == drift.NOT_JUDGED and "first minute's figure is 0" in cpu.reason


def test_a_memory_leak_fails_and_a_small_wobble_does_not():
    leak = compute(run(rss_growth_mb_per_s=0.02)).metric("rss_mb")  # 80 MB -> ~92 MB
    assert leak.status == drift.FAIL and leak.drift > 0.1
    assert leak.first == pytest.approx(80.0 + 0.02 * 45) and leak.last == pytest.approx(80.0 + 0.02 * 570)
    assert "least-squares" not in leak.reason  # a steady leak: the line and the minutes' means agree
    slight = compute(run(rss_growth_mb_per_s=0.005)).metric("rss_mb")  # ~ +3.4 %
    assert slight.status == drift.PASS and 0.02 < slight.drift < 0.05


def test_p99_growth_is_judged_one_sided():
    assert compute(run(), p99=(100.0, 106.0)).metric("p99_ms").status == drift.FAIL
    assert compute(run(), p99=(100.0, 105.0)).metric("p99_ms").status == drift.PASS
    fell = compute(run(), p99=(100.0, 60.0)).metric("p99_ms")
    assert fell.status == drift.PASS and fell.drift == pytest.approx(-0.4)


def test_database_growing_per_payment_fails():
    d = compute(run(db=lambda t, n: 4096 + n * (1500 + 2 * t)))  # each payment costs more as the run goes on
    assert d.metric("db_bytes_per_payment").status == drift.FAIL


def test_database_bytes_are_judged_at_the_runs_mix_too():
    """Measured (2026-11-27, a 10-minute soak of the reference mix at --rate 150): authorizations 46.7 % of requests
    in the first quarter, 44.7 % in the last, and every request writes; bytes over authorizations alone +6.2 %, a
    failed gate, at the run's mix +1.5 %. Here: a constant 700 B per request, the mix settling (2.0 requests per
    authorization at the start, 2.3 after four minutes)."""
    def mix(t):
        return 2.0 + 0.3 * min(1.0, t / 240)

    def settling(bytes_per_request):
        return [replace(s, db_bytes=4096 + s.requests * bytes_per_request(s.t - START))
                for s in run(requests_per_authorization=mix)]

    d = compute(settling(lambda t: 700.0))
    db = d.metric("db_bytes_per_payment")
    assert db.status == drift.PASS and db.drift == pytest.approx(0.0, abs=1e-6)
    assert d.db_per == "requests" and 2.1 < d.requests_per_authorization < 2.3  # the steady part's mix
    assert db.first == pytest.approx(700 * d.requests_per_authorization)  # 700 B a request, at that mix
    assert db.reason.startswith("at the run's mix (authorizations ") and "in the first span" in db.reason
    alone = float(db.reason.rsplit(", ", 1)[1].rstrip("%)")) / 100
    assert alone > 0.05  # what the gate judged before: a failure
    grows = compute(settling(lambda t: 700.0 + 0.2 * t)).metric("db_bytes_per_payment")
    assert grows.status == drift.FAIL and grows.drift > 0.1  # a real growth per request is still caught
    steady = compute(run(requests_per_authorization=lambda t: 2.2))
    db = steady.metric("db_bytes_per_payment")
    assert steady.db_per == "requests" and db.reason == "" and db.first == pytest.approx(1500)  # a steady mix: no note
    assert compute(run()).db_per == "authorizations"  # no requests counted: against authorizations, as before


def test_requests_missing_in_one_window_fall_back_to_authorizations_and_say_so():
    """Requests counted at the steady part's edges but not around the end of the first minute and of the first
    database span (those samples lost the count): CPU and database bytes are judged over authorizations alone, and
    each reason says why it is not at the run's mix."""
    samples = run(requests_per_authorization=lambda t: 2.2)
    holed = [replace(s, requests=None) if START + 55 <= s.t <= START + 185 else s for s in samples]
    d = compute(holed)
    assert d.db_per == "authorizations"
    for key in ("cpu_ms_per_authorization", "db_bytes_per_payment"):
        m = d.metric(key)
        assert m.status == drift.PASS
        assert m.reason.startswith("over authorizations alone: requests were not counted in both ")
    steady = compute(samples)
    assert all(steady.metric(k).reason == "" for k in ("cpu_ms_per_authorization", "db_bytes_per_payment"))


def chunky(chunk_bytes, phase=0.37):
    """A file that grows `chunk_bytes` at a time (pages, the WAL's high-water mark) as 1500 B per payment come in."""
    return lambda t, n: 4096 + chunk_bytes * math.ceil(1500 * n / chunk_bytes + phase)


def test_sqlite_growing_in_chunks_is_judged_by_its_trend_not_by_where_a_chunk_lands():
    """3 MB chunks, one every ~14 s: a minute holds four chunks or five. The trend over the span is what
    a payment costs; the growth inside each minute would have reported +25 % drift that is not there."""
    samples = run(db=chunky(3 << 20))
    d = compute(samples)
    db = d.metric("db_bytes_per_payment")
    assert db.status == drift.PASS
    assert db.first == pytest.approx(1500, rel=0.02) and db.last == pytest.approx(1500, rel=0.02)
    naive = []
    for a, b in (d.windows.first, d.windows.last):
        grow = drift.value_at(samples, "db_bytes", b) - drift.value_at(samples, "db_bytes", a)
        naive.append(grow / (RATE * (b - a)))
    assert abs(naive[1] / naive[0] - 1) > 0.2


def test_chunks_too_coarse_for_the_span_are_shown_not_judged():
    db = compute(run(db=chunky(16 << 20))).metric("db_bytes_per_payment")  # one chunk every ~75 s
    assert db.status == drift.NOT_JUDGED and db.first is not None
    assert "grew in only 1 steps" in db.reason or "grew in only 2 steps" in db.reason


def test_a_database_leak_in_chunks_is_still_caught():
    leak = compute(run(db=lambda t, n: 4096 + (3 << 20) * math.ceil(n * (1500 + 1.0 * t) / (3 << 20))))
    assert leak.metric("db_bytes_per_payment").status == drift.FAIL


def test_missing_inputs_give_reasons_per_metric():
    d = compute(run(cpu=False, rss=False), p99=(None, None),
                missing={"cpu": "no local service processes", "rss": "no local service processes",
                         "p99": "no latency histogram in the catalog"})
    cpu, p99, rss, db = (d.metric(k) for k in ("cpu_ms_per_authorization", "p99_ms", "rss_mb", "db_bytes_per_payment"))
    assert cpu.status == drift.NOT_MEASURED and cpu.reason == "not measured: no local service processes"
    assert p99.reason == "not measured: no latency histogram in the catalog"
    assert rss.status == drift.NOT_MEASURED
    assert db.status == drift.PASS  # what was measured is still judged


def test_no_authorization_count_leaves_the_per_authorization_figures_unmeasured():
    d = compute(run(auth=False), missing={"authorizations": "no Locust history"})
    assert d.metric("cpu_ms_per_authorization").reason == "not measured: no Locust history"
    assert d.metric("db_bytes_per_payment").reason == "not measured: no Locust history"
    assert d.metric("rss_mb").status == drift.PASS


def test_inputs_absent_without_a_stated_reason_still_say_what_is_missing():
    d = compute(run(cpu=False), p99=(100.0, None))
    assert d.metric("cpu_ms_per_authorization").reason == "not measured: no samples at the window's edges (first minute)"
    assert d.metric("p99_ms").reason == "not measured: no latency for the window (last minute)"


def test_a_hole_in_the_sampling_at_a_window_edge_is_not_bridged():
    samples = [s for s in run() if not (START + 500 < s.t < START + 590)]
    cpu = compute(samples).metric("cpu_ms_per_authorization")
    assert cpu.status == drift.NOT_MEASURED and "(last minute)" in cpu.reason


def test_a_run_shorter_than_warmup_and_two_minutes_is_not_judged():
    d = compute(run(duration_s=130), duration_s=130, warmup_s=15)
    assert d.windows is None and "run too short for drift: 130 s" in d.reason and "135 s" in d.reason
    assert all(m.status == drift.NOT_JUDGED for m in d.metrics)
    assert drift.summary_lines(d) == [f"drift: not judged: {d.reason}"]
    assert compute(run(duration_s=135), duration_s=135).windows is not None


def test_the_database_span_is_a_quarter_of_the_steady_part_and_never_overlaps():
    w, _ = drift.windows(START, START + 3600, 15)
    assert w.db_first == (START + 15, START + 15 + 3585 / 4)
    w, _ = drift.windows(START, START + 135, 15)  # steady part of exactly two minutes
    assert w.db_first[1] <= w.db_last[0]


def test_a_first_figure_of_zero_is_not_turned_into_a_ratio():
    d = compute(run(), p99=(0.0, 10.0))
    assert d.metric("p99_ms").status == drift.NOT_JUDGED and "no ratio" in d.metric("p99_ms").reason


def test_summary_lines_mark_each_metric():
    lines = drift.summary_lines(compute(run(cpu_growth=0.3), missing={"rss": "no local service processes"}))
    assert lines[0].startswith("drift, first minute after the warm-up -> last minute")
    assert any(line.startswith("  FAIL service CPU per authorization: 2.") for line in lines), lines
    assert "  -    service resident memory: not measured: no local service processes" in lines
    assert any(line.startswith("  ok   database bytes per payment: 1,500 B -> 1,500 B") for line in lines)


def test_to_dict_is_plain_data():
    data = compute(run()).to_dict()
    assert data["limit"] == drift.DRIFT_LIMIT and data["windows"]["first"] == (START + 15, START + 75)
    assert {m["key"] for m in data["metrics"]} == {"cpu_ms_per_authorization", "p99_ms", "rss_mb",
                                                   "db_bytes_per_payment"}
    assert data["samples"][0]["t"] == START


# ---------------------------------------------------------------- gates, scenario file, report


def scenario(**kw):
    from moneypath.formats.scenarios import Scenario

    return Scenario(description="d", name="soak", **kw)


def test_each_drift_figure_is_a_gate_that_passes_fails_or_says_why_it_was_skipped():
    from moneypath.loadtest.command import gates

    d = compute(run(cpu_growth=0.3, rss=False), missing={"rss": "no local service processes"})
    by_name = {g.name: g for g in gates.drift_gates(d, scenario())}
    assert set(by_name) == set(gates.DRIFT_GATES.values())
    assert by_name["drift_cpu_per_authorization"].status == gates.FAIL
    assert by_name["drift_cpu_per_authorization"].reason.startswith("service CPU per authorization grew +")
    assert by_name["drift_p99"].status == gates.PASS and by_name["drift_p99"].observed == "100 ms -> 101 ms (+1.0%)"
    assert by_name["drift_rss"].status == gates.NOT_MEASURED
    assert by_name["drift_rss"].reason == "not measured: no local service processes"
    later = {g.name: g for g in gates.drift_gates(compute(filling(), memory_warmup_s=300), scenario())}
    assert later["drift_rss"].status == gates.PASS and "after the memory warm-up" in later["drift_rss"].limit
    assert "left out the 300 s" in later["drift_rss"].reason and "memory" not in later["drift_p99"].limit
    assert gates.breaches(list(by_name.values())) == [by_name["drift_cpu_per_authorization"].reason,
                                                      by_name["drift_rss"].reason]  # not measured fails too
    skipped = {g.name: g for g in gates.drift_gates(d, scenario(skip_gates=["drift_cpu_per_authorization"]))}
    assert skipped["drift_cpu_per_authorization"].status == gates.SKIP


def test_a_short_run_skips_every_drift_gate_with_the_reason():
    from moneypath.loadtest.command import gates

    d = compute(run(duration_s=100), duration_s=100)
    assert {(g.status, g.reason) for g in gates.drift_gates(d, scenario())} == {(gates.SKIP, d.reason)}


def test_the_shipped_soak_asks_for_drift_and_the_drift_gates_can_be_skipped_by_name(catalog):
    from moneypath.formats import scenarios
    from tests.conftest import SHIPPED_SCENARIOS as SCENARIOS

    spec = scenarios.load(SCENARIOS, catalog)
    assert spec.get("soak").drift is True
    # memory from minute 6: the reference keeps each webhook's nonce for its replay window
    from moneypath.reference.signing import DEFAULT_WINDOW_S
    assert spec.get("soak").drift_memory_warmup_s == DEFAULT_WINDOW_S
    assert [name for name, s in spec.scenarios.items() if s.drift] == ["soak"]
    assert {"drift_cpu_per_authorization", "drift_p99", "drift_rss", "drift_db_per_payment"} <= set(scenarios.GATE_NAMES)
    with pytest.raises(ValueError, match="unknown gate 'drift_cpu'"):
        scenario(skip_gates=["drift_cpu"])


def test_the_report_shows_both_minutes_the_drift_and_where_figures_came_from(tmp_path):
    from moneypath.loadtest.command import run_report

    d = compute(run(cpu_growth=0.3), sources={"cpu": "service processes"}).to_dict()
    section = run_report.drift_section(d)
    page = run_report.doc.Document("t", [section]).to_markdown()
    assert "| service CPU per authorization | 2.0" in page and "| FAIL |" in page
    assert "- **cpu**: service processes" in page
    assert "one-sided" in page
    assert "size against authorizations over" in page  # these samples count no requests
    counted = compute(run(requests_per_authorization=lambda t: 2.2)).to_dict()
    assert counted["db_per"] == "requests"
    at_mix = run_report.doc.Document("t", [run_report.drift_section(counted)]).to_markdown()
    assert "size against requests at the run's mix" in at_mix
    short = run_report.doc.Document("t", [run_report.drift_section(compute(run(100), duration_s=100).to_dict())])
    short = short.to_markdown()
    assert "Drift not judged: run too short for drift" in short
    rss, cpu = run_report.drift_series(d)
    assert rss.values[0] == pytest.approx(80.0) and len(cpu.times) == 600 // 30
    assert cpu.values[0] == pytest.approx(2.0, rel=0.02) and cpu.values[-1] == pytest.approx(2.6, rel=0.02)
    made = run_report._drift_plots(run_report.pyplot(), d, tmp_path)
    assert [name for _, name in made] == ["drift-rss.png", "drift-cpu.png"]
    assert all((tmp_path / name).stat().st_size > 1000 for _, name in made)


def test_memory_is_judged_on_its_line_so_a_plateau_whose_last_minute_is_high_passes_and_says_so():
    """The measured hour-long soak in miniature: a creep of +3.6 % over the run (its least-squares line), the first
    minute 1.4 % under it, the last 0.9 % over, the minutes between ±1 %: +6.0 % from the two minutes' means."""
    def wobbling(leak_mb_per_s=0.0):
        def rss(t):
            k = 0.986 if t <= 75 else 1.009 if t >= 540 else (1.01 if int(t // 60) % 2 else 0.99)
            return 100.0 * (1 + 0.036 * (t - 45) / 525) * k + leak_mb_per_s * t
        return [replace(s, rss_bytes=rss(s.t - START) * 1e6) for s in run()]

    rss = compute(wobbling()).metric("rss_mb")
    assert rss.status == drift.PASS and rss.drift == pytest.approx(0.0454, abs=1e-3)  # read at the minutes' middles
    assert rss.reason == ("read off the least-squares line through the 118 samples from the first minute to the "
                          "last; the minutes' own means 98.6 MB -> 104.5 MB (+6.0%)")  # what the gate judged before
    leak = compute(wobbling(leak_mb_per_s=0.02)).metric("rss_mb")  # the same wobble on a steady leak: still caught
    assert leak.status == drift.FAIL and leak.drift > 0.1 and "the minutes' own means" in leak.reason


def test_a_late_rise_the_line_averages_away_fails_on_the_last_minutes_mean_and_a_step_halfway_reads_higher():
    late = [replace(s, rss_bytes=(100.0 + max(0.0, s.t - START - 480) * 0.06) * 1e6) for s in run()]  # +7 % in 2 min
    rss = compute(late).metric("rss_mb")
    assert rss.drift < 0.05 and rss.status == drift.FAIL  # on the line alone it would pass
    assert rss.reason.startswith("service resident memory's last minute (105.4 MB) is +") and "a late rise" in rss.reason
    assert "the minutes' own means 100.0 MB -> 105.4 MB (+5.4%)" in rss.reason
    step = [replace(s, rss_bytes=(100.0 + (4.0 if s.t > START + 307 else 0.0)) * 1e6) for s in run()]  # +4 % halfway
    stepped = compute(step).metric("rss_mb")  # the line's price for a plateau's wobble: a step halfway reads ~1.35x
    assert stepped.status == drift.FAIL and stepped.drift == pytest.approx(0.054, abs=0.002)


def filling(window_s=300.0, fill_mb=20.0, leak_mb_per_s=0.0):
    """RSS of a service whose bounded in-memory state fills linearly for `window_s` (nonces kept for a replay
    window), then stays flat; plus a leak if asked."""
    samples = run()
    return [Sample(s.t, s.cpu_s, (80.0 + fill_mb * min(1.0, (s.t - START) / window_s)
                                  + leak_mb_per_s * (s.t - START)) * 1e6, s.db_bytes, s.authorizations)
            for s in samples]


def test_memory_judged_after_its_own_warm_up_passes_a_bounded_fill_and_says_what_it_left_out():
    early = compute(filling()).metric("rss_mb")
    assert early.status == drift.FAIL  # the fill read as drift from the first minute after 15 s
    d = compute(filling(), memory_warmup_s=300)
    rss = d.metric("rss_mb")
    assert d.windows.rss_first == (START + 300, START + 360) and d.windows.first == (START + 15, START + 75)
    assert rss.status == drift.PASS and rss.first == pytest.approx(100.0) and rss.drift == pytest.approx(0.0)
    assert "first minute from 300 s: left out the 300 s" in rss.reason
    assert d.metric("cpu_ms_per_authorization").reason == ""  # the others keep the first minute after the warm-up
    assert "left out the 300 s" in "\n".join(drift.summary_lines(d))


def test_memory_warm_up_still_catches_a_leak_and_needs_two_minutes_after_it():
    leak = compute(filling(leak_mb_per_s=0.05), memory_warmup_s=300).metric("rss_mb")  # +12 MB between the minutes
    assert leak.status == drift.FAIL and "left out the 300 s" in leak.reason
    short = compute(filling(), memory_warmup_s=500).metric("rss_mb")
    assert short.status == drift.NOT_JUDGED and "run too short for memory drift" in short.reason
    assert compute(filling(), memory_warmup_s=500).metric("p99_ms").status == drift.PASS
    assert compute(run(), memory_warmup_s=10).windows.rss_first == (START + 15, START + 75)  # shorter: no effect


def test_a_figure_not_judged_is_a_shown_not_measured_and_result_json_says_not_judged():
    m = drift.Metric("p99_ms", "p99", "ms", first=120.0)
    m.set_aside("run too short")
    assert (m.outcome, m.skipped, m.status) == (drift.NOT_MEASURED, True, drift.NOT_JUDGED)
    part = drift.Drift(limit=0.05, windows=None, metrics=[m]).to_dict()["metrics"][0]
    assert (part["status"], part["reason"], "outcome" in part) == ("not judged", "run too short", False)
