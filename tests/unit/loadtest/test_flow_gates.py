"""Flows on the right clock and rates named by what they count (moneypath.loadtest.command.gates, .stats,
.locust_processes): a flow's authorization latency judged on the service's histogram only, the scenario's
end-to-end flow objective, per-step latency, and requests/s that count requests."""

from __future__ import annotations

import json

import pytest

from moneypath import cli
from moneypath.formats import scenarios
from moneypath.loadtest.command import gates, launch, locust_run, stats
from moneypath.loadtest.command.locust_processes import progress_line
from moneypath.loadtest.in_locust.request_names import FLOW
from tests.conftest import CATALOG_PATH, SHIPPED_SCENARIOS
from tests.support.locust_stats import entry
from tests.unit.loadtest.helpers import fake_run, healthy_prom, summary

CHECKOUT = [entry("checkoutCreate [paystack]", times={"30": 20}),
            entry("checkoutPaymentCreate [paystack]", times={"40": 20}),
            entry("authorize:checkoutComplete [paystack]", times={"600": 19, "870": 1}),
            entry("checkout [paystack]", method=FLOW, times={"700": 19, "950": 1})]


def flow_summary():
    return stats.summarize(CHECKOUT, duration_s=10)


def by_name(result):
    return {g.name: g for g in result}


def scenario(**fields):
    return scenarios.Scenario(description="checkout", name="checkout", **fields)


def test_a_flow_is_judged_on_the_services_histogram_not_on_locusts_clock(thr):
    s = flow_summary()
    assert (s.flow_p50_ms, s.flow_p99_ms, s.authorize_p99_ms) == (700, 950, 870)
    assert [(r.step, r.requests, r.p99_ms) for r in s.steps] == [
        ("checkoutCreate", 20, 30), ("checkoutPaymentCreate", 20, 40), ("authorize:checkoutComplete", 20, 870),
        ("FLOW checkout", 20, 950)]
    with_prom = by_name(gates.evaluate(s, healthy_prom(p99_s=0.21), thr, scenario()))
    locust, service = with_prom["p99_latency_locust"], with_prom["p99_latency_prometheus"]
    assert (locust.status, locust.reason) == ("skip", gates.FLOW_LATENCY)  # 870 ms of the whole call: no verdict
    assert (service.status, service.observed) == ("pass", "210 ms")
    assert gates.gates_verdict(list(with_prom.values())) == "pass"

    without = by_name(gates.evaluate(s, None, thr, scenario(), locust_run.NOT_JUDGED, prometheus_required=False))
    service = without["p99_latency_prometheus"]
    assert service.status == "not measured"
    assert service.reason == ("not measured: a flow's authorization latency is read from the service's histogram "
                              f"only; {locust_run.NOT_JUDGED}")
    assert without["failure_ratio_prometheus"].status == "skip"  # Locust judges failures: not judged, as before
    assert gates.gates_verdict(list(without.values())) == "not measured"


def test_a_one_request_scenario_keeps_its_locust_latency_gate(thr):
    without = by_name(gates.evaluate(summary(p99=250), None, thr, scenario(), locust_run.NOT_JUDGED,
                                     prometheus_required=False))
    assert without["p99_latency_locust"].status == "pass"
    assert (without["p99_latency_prometheus"].status, without["p99_latency_prometheus"].reason) == (
        "skip", locust_run.NOT_JUDGED)
    assert gates.gates_verdict(list(without.values())) == "pass"


@pytest.mark.parametrize(("objective", "status"), [(1000, "pass"), (900, "fail")])
def test_the_scenarios_flow_objective_gates_the_whole_flow(thr, objective, status):
    gate = by_name(gates.evaluate(flow_summary(), healthy_prom(), thr, scenario(flow_p99_ms=objective)))[
        "flow_p99_locust"]
    assert (gate.status, gate.observed, gate.limit) == (status, "950 ms", f"<= {objective} ms (flow_p99_ms)")
    if status == "fail":
        assert gate.reason == ("p99 flow latency 950 ms (Locust, first step to last) is over the scenario's "
                               "flow_p99_ms 900 ms")


def test_a_flow_objective_without_flows_is_not_measured_and_none_set_is_skipped(thr):
    gate = by_name(gates.evaluate(summary(), healthy_prom(), thr, scenario(flow_p99_ms=900)))["flow_p99_locust"]
    assert (gate.status, gate.reason) == (
        "not measured", "not measured: no flow ran: the locustfile's user sends no request template's flow")
    gate = by_name(gates.evaluate(flow_summary(), healthy_prom(), thr, scenario()))["flow_p99_locust"]
    assert (gate.status, gate.observed) == ("skip", "950 ms")


def test_a_scenario_file_refuses_a_flow_objective_that_is_not_a_positive_time(tmp_path, catalog):
    text = SHIPPED_SCENARIOS.read_text()
    path = tmp_path / "scenarios.yaml"
    path.write_text(text.replace("  checkout:\n", "  checkout:\n    flow_p99_ms: 0\n", 1))
    with pytest.raises(scenarios.ScenarioError, match=r"scenarios\.checkout\.flow_p99_ms: Input should be greater"):
        scenarios.load(path, catalog)


HISTORY = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,95%,99%,Total Request Count,"
           "Total Failure Count\n"
           "100,2,POST,checkoutCreate [paystack],2.0,0,30,30,30,20,0\n"
           "100,2,POST,checkoutPaymentCreate [paystack],2.0,0,40,40,40,20,0\n"
           "100,2,POST,authorize:checkoutComplete [paystack],2.0,0.5,600,800,870,20,5\n"
           "100,2,FLOW,checkout [paystack],2.0,0.5,700,900,950,20,5\n"
           "100,2,,Aggregated,8.0,1.0,600,900,950,80,10\n")


def test_the_progress_line_counts_requests_and_flows_apart(tmp_path):
    """Locust's aggregated row counts each whole FLOW as a request too: 8 'rps' for 6 requests and 2 flows."""
    path = tmp_path / "locust_stats_history.csv"
    path.write_text(HISTORY)
    (tick,) = stats.history(path)
    assert (tick.rps, tick.flows_per_s, tick.requests, tick.failures) == (6.0, 2.0, 60, 5)
    assert (tick.p99_ms, tick.flow_p99_ms) == (870, 950)
    assert progress_line(9, tick) == ("[    9 s] users    2  requests/s     6.0  flows/s    2.0  failed requests 5 "
                                      "(8.33%)  flow p99 950 ms")
    path.write_text(HISTORY.splitlines()[0] + "\n99,2,FLOW,checkout [paystack],0,0,0,0,0,0,0\n"
                    "99,2,POST,checkoutCreate [paystack],0,0,0,0,0,1,0\n99,2,,Aggregated,0,0,0,0,0,1,0\n")
    (tick,) = stats.history(path)  # nothing in Locust's window yet: no p99 rather than 0 ms
    assert progress_line(3, tick).endswith("flows/s    0.0  failed requests 0 (0.00%)  flow p99 -")
    path.write_text(HISTORY.splitlines()[0] + "\n101,10,POST,authorize [acme],10.0,0,100,150,180,90,0\n"
                    "101,10,,Aggregated,10.0,0,100,150,180,90,0\n")
    (tick,) = stats.history(path)
    assert progress_line(9, tick) == "[    9 s] users   10  requests/s    10.0  failed requests 0 (0.00%)  p99 180 ms"


def test_the_rate_is_named_flows_for_a_locustfile_with_a_template(tmp_path):
    flows = tmp_path / "flows.py"
    flows.write_text('from moneypath.loadtest.in_locust.user import PaymentUser\n\n\nclass Shopper(PaymentUser):\n'
                     '    template = "requests/shop.yaml"\n')
    calls = tmp_path / "calls.py"
    calls.write_text("from moneypath.loadtest.in_locust.user import PaymentUser\n\n\nclass Buyer(PaymentUser):\n"
                     "    def authorize(self, order):\n        template = 'not a class attribute'\n")
    assert launch.names_template(flows) and not launch.names_template(calls)


def test_a_verdict_resting_on_a_gate_not_measured_exits_3_and_says_so(tmp_path, no_run, monkeypatch, capsys, catalog):
    monkeypatch.setattr(locust_run, "run", fake_run(healthy_prom(p99_s=None), "", catalog))
    code = cli.main(["loadtest", "checkout", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH)])
    out, err = capsys.readouterr()
    assert code == 3, out + err
    assert out.splitlines()[-1] == ("checkout: NOT MEASURED: no gate failed; 1 of 10 gates not measured (p99 "
                                    "authorization latency, service)")
    named = [line for line in err.splitlines() if line.startswith(("BREACH", "NOT MEASURED"))]
    assert len(named) == 1 and named[0].startswith("NOT MEASURED: "), err  # not measured is no breach
    result = json.loads(next(tmp_path.iterdir()).joinpath("result.json").read_text())
    assert result["verdict"] == "not measured" and result["rate_unit"] == "requests/s"
