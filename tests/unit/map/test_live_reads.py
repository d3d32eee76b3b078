"""What a PromQL expression reads (moneypath.map.reads), over hand-written cases and the project's generated rules:
every alert of the reference catalog reads at least one catalog signal once its recording rules are expanded."""

from __future__ import annotations

import pytest
import yaml

from moneypath.catalog.conventions import served_by_moneypath, slo_alert_key
from moneypath.catalog.terms import Matcher
from moneypath.map.reads import Read, agrees, compatible, names, raw_reads, reads, reads_metric, recording
from tests.conftest import ROOT


def rules_of(path) -> list[dict]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


@pytest.fixture(scope="module")
def recordings():
    return [recording(r["record"], r["expr"], r.get("labels")) for r in rules_of(ROOT / "collector" /
                                                                               "recording-rules.yaml")]


@pytest.fixture(scope="module")
def alert_rules():
    return [r for path in sorted((ROOT / "alerts").glob("*.yaml")) if "alertmanager" not in path.name
            for r in rules_of(path) if "alert" in r]


def signal_metrics(catalog) -> dict[str, str]:
    return {catalog.metric(key): key for key in catalog.signals}


def signals_read(expr: str, recordings, catalog) -> set[str]:
    expanded = raw_reads(reads(expr), recordings)
    return {key for metric, key in signal_metrics(catalog).items() if any(reads_metric(r, metric) for r in expanded)}


@pytest.mark.parametrize("expr, expected", [
    ("sum by (provider) (rate(moneypath_x_total{outcome=~\"error|timeout\"}[5m]))", ["moneypath_x_total"]),
    # label names in grouping clauses, matchers and strings are not series
    ("a / on (service, alert) group_left(team) b", ["a", "b"]),
    ("sum(x) without (le) > ignoring (instance) y", ["x", "y"]),
    ('label_replace(up, "dst", "$1", "src", "(.*)")', ["up"]),
    ('count_values("version", build_info)', ["build_info"]),
    ('m{route="/v1/{id}", method!="GET"}', ["m"]),
    # ranges, subqueries, offsets, numbers and durations
    ("max_over_time(rate(c_total[5m])[30m:1m] offset 1h30m) > 1e3 * 0x1f", ["c_total"]),
    ("m @ start() < 0.5", ["m"]),
    # keywords in any case; a function name before "(" with space
    ("a AND b Or c unless d", ["a", "b", "c", "d"]),
    ("histogram_quantile (0.99, sum by (le) (rate(h_bucket[1m])))", ["h_bucket"]),
    ("vector(1)", []),
    ("time() - max(ts_seconds) > bool 900", ["ts_seconds"]),
    # recorded series (colons), a comment, a name given as a matcher
    ("slo:sli_error:ratio_rate1h{slo=\"a\"} > 0.0144 # burn\n and x", ["slo:sli_error:ratio_rate1h", "x"]),
    ('{__name__="named_total", job="j"}', ["named_total"]),
    ('{__name__=~"moneypath_.+"}', []),
    ("sum by(le)(rate(h_bucket[5m]))", ["h_bucket"]),
])
def test_names_are_the_series_an_expression_selects(expr, expected):
    assert names(expr) == expected


def test_reads_keep_the_matchers_written_on_each_series():
    assert reads('r{provider="acme", outcome=~\'e|t\'} / r{provider=`acme`}') == (
        Read("r", (Matcher("provider", "=", "acme"), Matcher("outcome", "=~", "e|t"))),
        Read("r", (Matcher("provider", "=", "acme"),)))
    assert reads(r'x{path="a\"b"}') == (Read("x", (Matcher("path", "=", 'a"b'),)),)


def test_agreeing_labels_and_matchers():
    acme = (Matcher("provider", "=", "acme"),)
    assert agrees(acme, {"provider": "acme", "severity": "page"})
    assert not agrees(acme, {"provider": "globex"})
    assert agrees(acme, {})  # an alert without the label applies to every provider
    assert agrees((Matcher("outcome", "=~", "error|timeout"),), {"outcome": "timeout"})
    assert not agrees((Matcher("outcome", "!~", "error|timeout"),), {"outcome": "timeout"})
    assert compatible(acme, (Matcher("outcome", "=", "error"),))
    assert not compatible(acme, (Matcher("provider", "=", "globex"),))
    assert not compatible((Matcher("outcome", "=", "approved"),), (Matcher("outcome", "=~", "error|timeout"),))
    assert compatible((Matcher("outcome", "=~", "approved|declined"),), (Matcher("outcome", "=~", "error"),))


def test_recording_rules_expand_transitively_and_by_their_labels():
    rules = [recording("slo:err:rate5m", "1 - good_total / all_total", {"slo": "a"}),
             recording("slo:err:rate5m", "1 - ok_total / writes_total", {"slo": "b"}),
             recording("job:ratio", 'slo:err:rate5m{slo="b"} * 2'),
             recording("loop:a", "loop:b"), recording("loop:b", "loop:a + leaf")]
    assert {r.name for r in raw_reads(reads('slo:err:rate5m{slo="a"}'), rules)} == {"good_total", "all_total"}
    assert {r.name for r in raw_reads(reads("job:ratio"), rules)} == {"ok_total", "writes_total"}
    assert {r.name for r in raw_reads(reads("slo:err:rate5m"), rules)} == {"good_total", "all_total", "ok_total",
                                                                           "writes_total"}
    assert {r.name for r in raw_reads(reads("loop:a"), rules)} == {"leaf"}  # a cycle ends
    assert {r.name for r in raw_reads(reads("unknown:rule"), rules)} == {"unknown:rule"}


def test_a_histogram_is_read_through_its_bucket_count_and_sum():
    assert all(reads_metric(Read(f"h_seconds{s}"), "h_seconds") for s in ("", "_bucket", "_count", "_sum"))
    assert not reads_metric(Read("h_seconds_total"), "h_seconds")
    assert not reads_metric(Read("h_seconds_bucket"), "h")


def test_every_alert_of_the_reference_catalog_reads_a_catalog_signal(catalog, recordings, alert_rules):
    """The generated rules as committed: each catalog alert and SLO burn alert maps to a signal, so a firing one
    colours the map; an alert on what moneypath's own exporters serve (the incident clock) reads none."""
    ours = {catalog.alert_name(k) for k in catalog.alerts} | {catalog.alert_name(slo_alert_key(k))
                                                              for k in catalog.slos}
    seen, silent = set(), []
    for rule in alert_rules:
        if rule["alert"] not in ours:
            continue
        seen.add(rule["alert"])
        if not signals_read(rule["expr"], recordings, catalog):
            silent.append(rule["alert"])
    assert seen == ours
    assert silent == [catalog.alert_name("IncidentReportDue")]
    incident = next(r for r in alert_rules if r["alert"] == silent[0])
    assert names(incident["expr"]) and all(served_by_moneypath(n) for n in names(incident["expr"]))


@pytest.mark.parametrize("alert, expected", [
    ("AuthorizationAvailabilityBudgetBurn", {"authorizations_total"}),
    ("AuthorizationLatencyBudgetBurn", {"authorization_duration_seconds"}),
    ("LedgerDurabilityBudgetBurn", {"ledger_writes_total"}),
    ("ApprovalRateDrop", {"authorizations_total"}),
    ("CostPerTransactionRegression", {"cost_usd_total", "authorizations_total"}),
    ("ProviderPartialOutage", {"provider_requests_total", "provider_circuit_state"}),
    ("ReconciliationLagHigh", {"reconciliation_oldest_unreconciled_seconds",
                               "reconciliation_last_success_timestamp_seconds"}),
])
def test_alerts_read_the_signals_behind_their_recorded_series(catalog, recordings, alert_rules, alert, expected):
    """The SLO error ratios share one record name per window: each burn alert reads its own SLO's signal only."""
    found = set()
    for rule in alert_rules:
        if rule["alert"] == catalog.alert_name(alert):
            found |= signals_read(rule["expr"], recordings, catalog)
    assert found == expected


def test_alerting_rules_read_alike_from_a_rule_file_and_from_the_rules_api():
    from moneypath.catalog.terms import parse_selector
    from moneypath.map.graph import EdgeSignal
    from moneypath.map.reads import alerting_rules, alerts_reading

    record = {"expr": 'sum(rate(pay_total{provider="acme"}[5m]))', "labels": {"provider": "acme"}}
    file_form = [{"rules": [{"record": "job:pay:rate5m", **record},
                            {"alert": "PayDown", "expr": "job:pay:rate5m == 0", "labels": {"severity": "page"}}]}]
    api_form = [{"rules": [{"type": "recording", "name": "job:pay:rate5m", "query": record["expr"],
                            "labels": record["labels"]},
                           {"type": "alerting", "name": "PayDown", "query": "job:pay:rate5m == 0",
                            "labels": {"severity": "page"}}]}]
    rules = alerting_rules(file_form)
    assert rules == alerting_rules(api_form)
    assert [(r.name, r.severity) for r in rules] == [("PayDown", "page")]

    def signal(provider: str) -> EdgeSignal:
        return EdgeSignal("rate", "pay_total", "pay_total", parse_selector(f'pay_total{{provider="{provider}"}}'))

    assert alerts_reading(signal("acme"), rules) == rules
    assert alerts_reading(signal("globex"), rules) == []  # same metric, matchers that cannot select its series
    assert alerts_reading(signal("acme"), rules, {"provider": "globex"}) == []  # the alert's labels name another
