"""Capacity's rates named by what they count (moneypath.loadtest.command.capacity): flows/s for a locustfile whose
user names a request template, requests/s otherwise, from the load test's own unit (launch.rate_unit), in the
progress lines, the plan's text, tables, plots and JSON; and for flows the achieved rate counts flows, not the
requests of their steps."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from moneypath._common.plots import pyplot
from moneypath.loadtest.command import launch, locust_run, stats
from moneypath.loadtest.command.capacity import curves, measure, plan_report
from moneypath.loadtest.command.capacity import plan as capacity
from moneypath.loadtest.command.gates import PASS, Gate
from moneypath.loadtest.in_locust.request_names import FLOW
from tests.support.locust_stats import entry

# 10 s of a three-step checkout: 20 flows (2 failed), 60 requests: 2 flows/s, 6 requests/s
FLOWS = [entry("checkoutCreate [paystack]", times={"30": 20}),
         entry("checkoutPaymentCreate [paystack]", times={"40": 20}),
         entry("authorize:checkoutComplete [paystack]", times={"600": 20}),
         entry("checkout [paystack]", method=FLOW, times={"700": 20}, failures=2)]
CALLS = [entry("authorize [acme]", times={"100": 300})]  # 30 requests/s


def locustfile(tmp_path, template: bool):
    path = tmp_path / ("flows.py" if template else "calls.py")
    body = '    template = "requests/shop.yaml"\n' if template else \
        "    def authorize(self, order):\n        return None\n"
    path.write_text(f"from moneypath.loadtest.in_locust.user import PaymentUser\n\n\nclass Shopper(PaymentUser):\n{body}")
    return path


def climb_on(monkeypatch, tmp_path, catalog, template: bool, entries):
    """A Climb whose every step "runs" `entries` over 10 s, its gates passing; (climb, progress lines)."""
    def run(c, spec, target, work, exporter_port, progress, meter=None):
        return SimpleNamespace(summary=stats.summarize(entries, duration_s=10), gates=[
            Gate("p99_latency_prometheus", "p99", "prometheus", PASS, "120 ms", "<= 300 ms")], prom=None, usage=None,
            users=8, work_dir=work, started_at=0.0, ended_at=10.0)

    monkeypatch.setattr(locust_run, "run", run)
    monkeypatch.setattr(measure, "meter_for", lambda target, pids: None)
    lines = []
    spec = measure.step_spec(10.0, 0, locustfile(tmp_path, template), None, require_prometheus=False)
    return measure.Climb(catalog, locust_run.LoadTarget("http://127.0.0.1:1", None, None, "t", "a"), spec, tmp_path,
                         9646, lines.append), lines


def test_the_unit_is_the_load_tests_own(tmp_path):
    assert launch.rate_unit(locustfile(tmp_path, template=True)) == "flows/s"
    assert launch.rate_unit(locustfile(tmp_path, template=False)) == "requests/s"
    plain = tmp_path / "plain.py"  # a template attribute in a locustfile that knows nothing of moneypath: its requests
    plain.write_text('from locust import HttpUser\n\n\nclass Shopper(HttpUser):\n    template = "shop.yaml"\n')
    assert launch.rate_unit(plain) == "requests/s"


def test_a_flow_step_is_offered_and_achieved_in_flows_and_says_the_requests_beside(monkeypatch, tmp_path, catalog):
    climb, lines = climb_on(monkeypatch, tmp_path, catalog, True, FLOWS)
    assert climb.unit == "flows/s"
    (held,) = climb.climb([2.0], confirm=False)
    assert (held.rate, held.achieved_rps, held.requests_rps, held.passed) == (2.0, 2.0, 6.0, True)
    assert held.goodput_rps == pytest.approx(1.8)  # flows that ended less the 2 that failed, over 10 s
    assert lines[0].startswith("step 1/1: 2 flows/s for 10 s (")
    assert "  ok   2.0 flows/s (6.0 requests/s), p99 600 ms; busiest: not measured" in lines
    # 2 flows/s of 4 asked is not delivered, whatever the 6 requests/s of their steps (3/2 of 4 as requests)
    short = climb.step(4.0, "step 2/2", 0)
    assert not short.passed and short.reasons == ["delivered 2.0 of 4 flows/s (50%)"]
    probe = climb.step(0, "saturation", 0, closed_loop_users=16)
    assert (probe.rate, probe.achieved_rps) == (2.0, 2.0)  # the automatic steps are planned from flows/s
    assert capacity.auto_rates(probe.achieved_rps)[0] == 0.8
    assert lines[-1] == ("  saturation: 2.0 flows/s (6.0 requests/s) = 2.0 authorizations/s; limit: not measured")


def test_a_one_request_step_reads_as_before(monkeypatch, tmp_path, catalog):
    climb, lines = climb_on(monkeypatch, tmp_path, catalog, False, CALLS)
    (held,) = climb.climb([30.0], confirm=False)
    assert (held.rate, held.achieved_rps, held.requests_rps, held.goodput_rps) == (30.0, 30.0, 30.0, 30.0)
    assert lines[0].startswith("step 1/1: 30 requests/s for 10 s (")
    assert "  ok   30.0 requests/s, p99 100 ms; busiest: not measured" in lines
    assert not climb.step(40.0, "step 2/2", 0).passed
    assert lines[-1].endswith(": delivered 30.0 of 40 requests/s (75%)")


def flow_step(rate, passed, p99=100.0):
    return capacity.CapacityStep(rate, rate, rate, p99, p99, 0.0, 0.17, passed, [], goodput_rps=rate * 0.9,
                                 refused_rps=0.5, requests_rps=rate * 3, status=PASS if passed else "fail")


def test_a_flow_plan_names_flows_in_its_text_tables_plots_and_json(tmp_path, catalog, spec):
    from dataclasses import replace

    steps = [flow_step(2, True), flow_step(4, True), flow_step(6, False, 900)]
    sat = replace(flow_step(5, True), closed_loop=True, users=32, limit_reason="service CPU")
    result = capacity.plan(catalog, spec, steps, current=1, utilization=1.0, saturation=sat, rate_unit="flows/s")
    lines = plan_report.table_lines(result)
    assert lines[0] == ("saturation (closed loop, 32 users): 5.0 flows/s (15.0 requests/s) = 5.0 authorizations/s; "
                        "limit: service CPU")
    assert lines[1].startswith("step       2 flows/s  achieved     2.0 flows/s (6.0 requests/s)  authorizations")
    assert any(line.startswith("knee: 4 flows/s = 4.0 authorizations/s per instance") for line in lines)
    assert not any("requests/s =" in line or "requests/s  achieved" in line for line in lines)
    plan_report.render(result, tmp_path)
    assert json.loads((tmp_path / "capacity.json").read_text())["rate_unit"] == "flows/s"
    md = (tmp_path / "capacity.md").read_text()
    assert ("| offered flows/s | achieved flows/s | requests/s | goodput flows/s | refused requests/s | "
            "authorizations/s |") in md
    assert "| 4 | 4.0 | 12.0 | 3.6 | 0.5 | 4.0 |" in md
    assert "4 flows/s = 4.0 authorizations/s" in md
    assert "at 6 flows/s offered (1.2x saturation): goodput 5.4 flows/s" in md
    assert "offered requests/s" not in (tmp_path / "capacity.html").read_text()
    assert axis_labels(result) == ("offered flows/s", "flows/s", {"achieved flows/s", "goodput (successful flows/s)",
                                                                  "refused requests (503/429)/s"})


def test_a_one_request_plan_and_an_older_one_name_requests(tmp_path, catalog, spec):
    steps = [capacity.CapacityStep(20, 20, 9, 90, 90, 0.0, 0.17, True, []),
             capacity.CapacityStep(40, 39, 18, 900, 900, 0.0, 0.17, False, ["slow"])]
    result = capacity.plan(catalog, spec, steps, current=5, utilization=1.0)
    assert result["rate_unit"] == "requests/s"
    lines = plan_report.table_lines(result)
    assert lines[0] == "step      20/s  achieved    20.0/s  authorizations    9.0/s  p99    90 ms  ok"
    assert "knee: 20 requests/s = 9.0 authorizations/s per instance (p99 90 ms)" in lines
    older = {k: v for k, v in result.items() if k != "rate_unit"}
    assert plan_report.table_lines(older) == lines
    plan_report.render(result, tmp_path)
    md = (tmp_path / "capacity.md").read_text()
    assert "| offered requests/s | achieved requests/s | goodput/s | refused/s | authorizations/s |" in md
    assert axis_labels(result)[:2] == ("offered requests/s", "requests/s")


def axis_labels(result: dict) -> tuple[str, str, set[str]]:
    """The throughput plot's x and y labels and the labels of its rate lines."""
    plt = pyplot()
    fig, ax = plt.subplots()
    try:
        curves._throughput(ax, result)
        rates = {line.get_label() for line in ax.get_lines()} & {
            "achieved flows/s", "achieved requests/s", "goodput (successful flows/s)",
            "goodput (successful responses/s)", "refused requests (503/429)/s", "refused (503/429)/s"}
        return ax.get_xlabel(), ax.get_ylabel(), rates
    finally:
        plt.close(fig)
