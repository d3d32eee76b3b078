"""Conservation of counts in a load test (moneypath.loadtest.command.counts): what Locust sent that counts on the
counter, the counter read from a Prometheus answer as the range query gives it, and what a reconciliation that is
not pass does to the gates, the verdict line, result.json and the report; no Locust, no Prometheus started."""

from __future__ import annotations

import pytest

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.loadtest.command import counts, gates, run_report, session
from moneypath.loadtest.command.run_types import LoadTarget, LoadTestResult
from moneypath.stack.state import Part, StackState, save_state
from tests.unit.loadtest.helpers import healthy_prom, summary

START, END = 1000.0, 1030.0


def entry(method: str, name: str, requests: int, failures: int = 0) -> dict:
    return {"method": method, "name": name, "num_requests": requests, "num_failures": failures}


# What a checkout run's master wrote: 100 authorizations (3 failed, 2 refused at the door, 4 retried attempts),
# captures and a flow's steps beside them, none of which counts on the authorizations counter twice.
ENTRIES = [entry("POST", "authorize [acme]", 90, 3), entry("REFUSED", "authorize [requested globex]", 2, 2),
           entry("POST", "authorize [globex] (attempt)", 8, 4), entry("RETRIED", "authorize [globex]", 4),
           entry("POST", "capture [acme]", 50), entry("CHECK", "idempotency: one payment per key", 4),
           entry("FLOW", "checkout [acme]", 7), entry("POST", "createOrder [acme]", 7)]


class FakeProm:
    """The common client's `instant` answering the counter's range query with raw samples: one series per outcome,
    scraped every second from before the run to after it, each growing by its share per second."""

    def __init__(self, per_s: dict[str, float], instance: str = "127.0.0.1:8080", start: float = START - 5,
                 end: float = END + 2):
        self.per_s, self.instance, self.start, self.end, self.queries = per_s, instance, start, end, []

    def instant(self, query: str, at: float | None = None):
        self.queries.append(query)
        if "instance=" in query and f'instance="{self.instance}"' not in query:
            return []
        out = []
        for outcome, rate in self.per_s.items():
            values, t, v = [], self.start, 0.0
            while t <= min(self.end, at):
                values.append([t, str(v)])
                if START <= t < END:
                    v += rate
                t += 1.0
            out.append({"metric": {"outcome": outcome, "instance": self.instance, "job": "shop"}, "values": values})
        return out


def test_what_counts_is_every_authorize_request_sent_and_those_answered_with_success():
    assert counts.authorizations(ENTRIES) == (100, 91)  # 90 + 2 refused + 8 attempts; 87 + 4 acknowledged
    flows = [entry("POST", "authorize:checkoutComplete [paystack]", 12, 1), entry("FLOW", "checkout [paystack]", 12, 1),
             entry("POST", "cartCreate [paystack]", 12)]
    assert counts.authorizations(flows) == (12, 11)  # a flow's authorizing step, once per flow
    assert counts.authorizations([entry("GET", "healthz", 40)]) == (0, 0)


def check_for(catalog, per_s: dict[str, float], shared: bool = False, entries=ENTRIES):
    prom = FakeProm(per_s)
    return counts.reconcile(catalog, prom, ["127.0.0.1:8080"], entries, START, END + 2, shared), prom


def test_a_counter_that_counted_what_was_sent_passes(catalog):
    check, prom = check_for(catalog, {"approved": 2.5, "declined": 0.5, "error": 0.2})  # 96 over 30 s
    assert check.outcome is PASS, check.why
    assert check.why.startswith("the metrics counted 96 of 100 authorizations sent to 127.0.0.1:8080 (0.96; 91 "
                                "acknowledged): within bounds")
    assert check.figures["sent"] == 100 and check.figures["counted"] == 96
    metric = catalog.metric("authorizations_total")
    assert prom.queries[:2] == [f"{metric}[33s]", f'{metric}{{instance="127.0.0.1:8080"}}[33s]']
    assert "resets(" in prom.queries[2] and "127" in prom.queries[2]  # and whether its counters went backwards


def test_a_counter_that_saw_half_of_it_fails_with_the_ratio_and_the_likely_cause(catalog):
    check, _ = check_for(catalog, {"approved": 1.5})  # 45 of 100: the other worker's half never scraped
    assert check.outcome is FAIL
    assert check.why == ("the metrics counted 45 of 100 authorizations sent to 127.0.0.1:8080 (0.45; 91 "
                         "acknowledged): several workers without multiprocess mode, or another instance scraped")


def test_twice_what_was_sent_is_double_counting_unless_the_target_serves_traffic_of_its_own(catalog):
    check, _ = check_for(catalog, {"approved": 7.0})  # 210 of 100
    assert check.outcome is FAIL and "(2.10; 91 acknowledged): double counting" in check.why
    shared, _ = check_for(catalog, {"approved": 7.0}, shared=True)
    assert shared.outcome is PASS and "one-sided" in shared.why and "double counting cannot be seen" in shared.why


def test_counters_that_went_backwards_are_not_data_even_near_what_was_sent(catalog):
    class Alternating(FakeProm):
        """Two workers answering the scrapes in turn: each drop read as a reset, the total landing near the truth."""

        def instant(self, query, at=None):
            if "label_replace(resets(" in query:
                self.queries.append(query)
                return [{"metric": {"job": "shop", "instance": "127.0.0.1:8080"}, "value": [at, "6"]}]
            if "process_start_time_seconds" in query:
                return []
            return super().instant(query, at)

    prom = Alternating({"approved": 3.2})
    check = counts.reconcile(catalog, prom, ["127.0.0.1:8080"], ENTRIES, START, END + 2)
    assert check.outcome is FAIL
    assert check.why == ("the metrics counted 96 of 100 authorizations sent to 127.0.0.1:8080 (0.96; 91 acknowledged): "
                         "target 127.0.0.1:8080 (job shop): its counters reset 6 times in 33s while its process start "
                         "time did not change: several processes answer its scrapes in turn (workers without "
                         "prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR), so its rates are not data")


def test_no_series_at_all_is_not_measured_and_another_name_is_read_on_every_instance(catalog):
    nothing = counts.reconcile(catalog, FakeProm({}), ["127.0.0.1:8080"], ENTRIES, START, END + 2)
    assert nothing.outcome is NOT_MEASURED
    assert nothing.why == ("not measured: no moneypath_authorizations_total series scraped from every scraped "
                           "instance")
    prom = FakeProm({"approved": 1.5}, instance="127.0.0.1:9999")  # scraped under another name (a metrics port)
    other = counts.reconcile(catalog, prom, ["127.0.0.1:8080"], ENTRIES, START, END + 2)
    assert other.outcome is FAIL and other.why.startswith("the metrics counted 45 of 100 authorizations sent (0.45; "
                                                          "91 acknowledged), on every scraped instance")


def test_the_calls_at_the_windows_opening_are_slack(catalog, tmp_path):
    history = tmp_path / "locust_stats_history.csv"
    history.write_text("Timestamp,User Count,Type,Name,Requests/s,Total Request Count\n"
                       "1000,0,,Aggregated,0,0\n"
                       "1001,8,POST,authorize [acme],3,3\n1001,8,POST,capture [acme],1,1\n"
                       "1002,8,POST,authorize [acme],4,7\n1002,8,REFUSED,authorize [requested acme],1,1\n"
                       "1002,8,FLOW,checkout [acme],4,4\n1003,8,POST,authorize [acme],5,12\n")
    opened = counts.opened(history)
    assert opened == [(1001.0, 3), (1002.0, 8), (1003.0, 12)]
    assert counts.at_the_edge(opened, 1000.4, 8) == 8 + 8  # recorded by 1002 (a report late), 8 in flight
    assert counts.at_the_edge(opened, 1005.0, 2) == 12 + 2 and counts.at_the_edge([], 1000, 3) == 3
    assert counts.opened(tmp_path / "none.csv") == []
    # 80 of 100 acknowledged 91: under the lower bound, but within it with the 3 calls recorded by the first scrape
    # (1000, its report by 1001) and 10 users in flight
    check, _ = check_for(catalog, {"approved": 80 / 30})
    assert check.outcome is FAIL
    edged = counts.reconcile(catalog, FakeProm({"approved": 80 / 30}), ["127.0.0.1:8080"], ENTRIES, START,
                                     END + 2, history=opened, users=10)
    assert edged.outcome is PASS and edged.figures["slack"] == 2 + 3 + 10


def test_several_instances_are_summed(catalog):
    class Two(FakeProm):
        def instant(self, query, at=None):
            self.queries.append(query)
            return [*FakeProm({"approved": 1.6}, "127.0.0.1:1").instant(query, at),
                    *FakeProm({"approved": 1.6}, "127.0.0.1:2").instant(query, at)]

    check = counts.reconcile(catalog, Two({}), ["127.0.0.1:1", "127.0.0.1:2"], ENTRIES, START, END + 2)
    assert check.outcome is PASS and check.figures["counted"] == 96
    assert check.figures["target"] == "127.0.0.1:1, 127.0.0.1:2"


def run_gates(catalog, thr, spec):
    judged = gates.evaluate(summary(), healthy_prom(), thr, spec.get("checkout"))
    assert all(g.outcome is PASS or g.skipped for g in judged)
    return judged


def test_gates_read_from_prometheus_are_not_measured_with_the_line_and_locusts_stay_judged(catalog, thr, spec):
    judged = run_gates(catalog, thr, spec)
    check, _ = check_for(catalog, {"approved": 1.5})
    applied = counts.apply(judged, check)
    service = [g for g in applied if g.source == "prometheus" and not g.skipped]
    assert service and all(g.outcome is NOT_MEASURED for g in service)
    latency = next(g for g in applied if g.name == "p99_latency_prometheus")
    assert latency.reason == ("not measured: p99 authorization latency, service: the metrics counted 45 of 100 "
                              "authorizations sent to 127.0.0.1:8080 (0.45; 91 acknowledged): several workers "
                              "without multiprocess mode, or another instance scraped")
    before = {g.name: g for g in judged}
    assert all(g == before[g.name] for g in applied if g.source != "prometheus" or g.skipped)
    assert gates.gates_verdict(applied) is NOT_MEASURED  # no gate failed: exit 3, never a pass


@pytest.mark.parametrize("read", ["not measured", "fail"])
def test_a_service_gate_that_failed_on_miscounted_metrics_is_not_measured_either(catalog, thr, spec, read):
    judged = gates.evaluate(summary(), healthy_prom(duplicate_charges=3), thr, spec.get("checkout"))
    check = (check_for(catalog, {"approved": 1.5})[0] if read == "fail"
             else counts.reconcile(catalog, FakeProm({}, "elsewhere:1"), ["127.0.0.1:8080"], ENTRIES, START, END))
    dup = next(g for g in counts.apply(judged, check) if g.name == "duplicate_charges")
    assert dup.outcome is NOT_MEASURED and dup.reason.startswith("not measured: zero duplicate charges: ")


def test_a_pass_or_a_run_without_prometheus_changes_no_gate(catalog, thr, spec):
    judged = run_gates(catalog, thr, spec)
    assert counts.apply(judged, check_for(catalog, {"approved": 3.2})[0]) == judged
    assert counts.apply(judged, counts.skipped()) == judged
    assert counts.apply(judged, None) == judged


def test_the_line_is_in_result_json_the_report_and_the_verdict(catalog, thr, spec, tmp_path):
    check, _ = check_for(catalog, {"approved": 1.5})
    judged = counts.apply(run_gates(catalog, thr, spec), check)
    figures = {"scenario": "checkout", "description": "", "target": "http://127.0.0.1:8080", "rate": 10,
               "users": 10, "workers": 0, "duration_s": 30, "started_at": START, "ended_at": END,
               "locust": {"rps": 10, "requests": 300, "failures": 0, "flows": None, "by_name": [],
                          **{k: None for k in ("authorize_p50_ms", "authorize_p95_ms", "authorize_p99_ms")}},
               "conservation": counts.as_dict(check)}
    result = LoadTestResult(figures, judged)
    data = result.as_json()
    assert data["conservation"]["outcome"] == "fail" and data["conservation"]["figures"]["counted"] == 45
    assert data["verdict"] == NOT_MEASURED
    last = session.verdict(result, "checkout", False)
    assert last.startswith("checkout: NOT MEASURED: no gate failed; ")
    assert last.endswith("; the metrics counted 45 of 100 authorizations sent to 127.0.0.1:8080 (0.45; 91 "
                         "acknowledged): several workers without multiprocess mode, or another instance scraped")
    assert counts.line(data["conservation"]) == f"conservation of counts: FAIL: {check.why}"
    page = run_report.document(data, [])
    md = page.to_markdown()
    assert f"conservation of counts: FAIL: {check.why}" in md.replace("**", "")
    assert "(0.45; 91 acknowledged): several workers without multiprocess mode" in page.to_html()


def test_a_passing_reconciliation_is_said_and_adds_nothing_to_the_verdict(catalog):
    check, _ = check_for(catalog, {"approved": 3.2})
    data = counts.as_dict(check)
    assert counts.line(data).startswith("conservation of counts: PASS: the metrics counted 96 of 100")
    assert counts.verdict_note({"conservation": data}) == ""
    skipped = counts.as_dict(counts.skipped())
    assert counts.line(skipped) == f"conservation of counts: skip: {counts.NOT_RECONCILED}"
    assert counts.verdict_note({"conservation": skipped}) == ""


def test_the_stacks_reference_service_is_reconciled_on_its_metrics_port(tmp_path):
    state = StackState(str(tmp_path), "1s", "15s", [])
    state.parts = [Part("refservice", "http://127.0.0.1:8101", 1, "/healthz", "", [
        "python", "-m", "moneypath.reference.refservice", "--port", "8101", "--metrics-port", "8102"]),
        Part("refservice-2", "http://127.0.0.1:8103", 2, "/healthz", "", ["--port", "8103", "--metrics-port", "8104"])]
    save_state(state)
    target = LoadTarget("http://127.0.0.1:8101", "http://p", None, None, None, state_dir=tmp_path,
                        instances=("http://127.0.0.1:8103",))
    assert counts.scraped_addresses(target) == ["127.0.0.1:8102", "127.0.0.1:8104"]
    team = LoadTarget("https://shop.example/", "http://p", None, None, None)
    assert counts.scraped_addresses(team) == ["shop.example:443"]


@pytest.mark.parametrize("shared", [True, False])
def test_the_run_configs_target_shared_reaches_the_load_tests_target(catalog, tmp_path, shared):
    from types import SimpleNamespace

    from moneypath.loadtest.command import targets
    from moneypath.stack.spec import RunSpec, TargetSpec

    options = SimpleNamespace(token=None, no_auth=True, no_prometheus=True)
    where = RunSpec(target=TargetSpec(service="http://127.0.0.1:8080", shared=shared), state_dir=tmp_path)
    assert targets.open_target(catalog, options, 9646, None, where=where).shared is shared


def test_the_environment_or_run_config_declares_the_load_tests_target_shared(monkeypatch, tmp_path):
    from moneypath import cli
    from moneypath.cli import loadtest

    monkeypatch.chdir(tmp_path)
    argv = ["loadtest", "checkout", "--host", "http://127.0.0.1:8080", "--no-auth"]
    monkeypatch.setenv("MONEYPATH_TARGET_SHARED", "1")
    assert loadtest._spec(cli.build_parser().parse_args(argv))[0].target.shared is True
    monkeypatch.delenv("MONEYPATH_TARGET_SHARED")
    assert loadtest._spec(cli.build_parser().parse_args(argv))[0].target.shared is False
    (tmp_path / ".git").mkdir()
    (tmp_path / "moneypath.run.yaml").write_text("target:\n  shared: true\n")
    assert loadtest._spec(cli.build_parser().parse_args(argv))[0].target.shared is True
