from __future__ import annotations

import copy
import re

import pytest
import yaml

from moneypath.catalog import CatalogError, load_catalog, parse_catalog
from tests.conftest import CATALOG_PATH, ROOT

GOOD_TEXT = CATALOG_PATH.read_text()
GOOD = yaml.safe_load(GOOD_TEXT)


def problems_for(mutate) -> list[str]:
    data = copy.deepcopy(GOOD)
    mutate(data)
    with pytest.raises(CatalogError) as info:
        parse_catalog(yaml.safe_dump(data, sort_keys=False), "bad.yaml")
    return info.value.problems


def test_repository_catalog_loads_with_resolved_names_and_labels(catalog):
    auth = catalog.signals["authorization_duration_seconds"]
    assert auth.name == "moneypath_authorization_duration_seconds"
    assert auth.labels["provider"] == ["acme", "globex"]  # "@providers" expanded
    assert catalog.signals["cost_usd_total"].labels["provider"] == ["acme", "globex", "none"]
    assert catalog.metric("ledger_writes_total") == "moneypath_ledger_writes_total"
    assert catalog.alert_name("LedgerImbalance") == "MoneyPathLedgerImbalance"
    assert catalog.runbook_url("LedgerImbalance").endswith("runbooks/moneypathledgerimbalance.md")


def test_slo_selectors_are_parsed_and_error_budget_derived(catalog):
    slo = catalog.slos["authorization-availability"]
    assert slo.good.signal == "authorizations_total"
    assert [(m.label, m.op, m.value) for m in slo.good.matchers] == [("outcome", "=~", "approved|declined")]
    assert slo.total.matchers == ()
    assert slo.error_budget == pytest.approx(0.001)
    assert catalog.slos["authorization-latency"].sli.latency.under == 0.3


@pytest.mark.parametrize(
    "mutate, where, message",
    [
        (lambda d: d["signals"]["authorizations_total"].update(type="summary"),
         "signals.authorizations_total.type", "Input should be 'counter', 'histogram' or 'gauge'"),
        (lambda d: d["signals"].update(payments={"type": "counter", "help": "x", "labels": {}}),
         "signals.payments", "counter names end in _total"),
        (lambda d: d["signals"]["queue_depth"].update(labels={"queue": ["@queues"]}),
         "signals.queue_depth.labels.queue.0", "unknown reference '@queues'"),
        (lambda d: d["signals"]["queue_depth"].update(labels={"queue": ["notifications", "other"]}),
         "signals.queue_depth.labels.queue", "'other' is reserved"),
        (lambda d: d["signals"]["queue_depth"].update(labels={"queue": ["4111111111111111"]}),
         "signals.queue_depth.labels.queue", "looks like a card number"),
        (lambda d: d["signals"]["queue_depth"].update(labels={"customer_id": ["a"]}),
         "signals.queue_depth.labels.customer_id", "never carry card, account or customer data"),
        (lambda d: d["signals"]["fraud_score_ratio"].update(buckets=[0.5, 0.2]),
         "signals.fraud_score_ratio.buckets", "strictly increasing"),
        (lambda d: d["signals"]["fraud_score_ratio"].pop("buckets"),
         "signals.fraud_score_ratio.buckets", "a histogram needs buckets"),
        (lambda d: d["signals"]["ledger_write_duration_seconds"].update(unit="ms"),
         "signals.ledger_write_duration_seconds.unit", "use a base unit"),
        (lambda d: d["slos"]["authorization-latency"]["sli"]["latency"].update(under=0.25),
         "slos.authorization-latency.sli.latency.under", "must be one of the bucket boundaries"),
        (lambda d: d["slos"]["ledger-durability"]["sli"].update(good='ledger_write_total{outcome="committed"}'),
         "slos.ledger-durability.sli.good", "'ledger_write_total' is not a counter signal"),
        (lambda d: d["slos"]["ledger-durability"]["sli"].update(good='ledger_writes_total{outcome="comitted"}'),
         "slos.ledger-durability.sli.good", "'comitted' is not a declared value of outcome; did you mean committed?"),
        (lambda d: d["slos"]["ledger-durability"].update(window="30 days"),
         "slos.ledger-durability.window", "not a Prometheus duration"),
        (lambda d: d["alerts"]["LedgerImbalance"].update(severity="urgent"),
         "alerts.LedgerImbalance.severity", "Input should be 'page' or 'ticket'"),
        (lambda d: d["alerts"]["LedgerImbalance"].update({"for": "soon"}),
         "alerts.LedgerImbalance.for", "not a Prometheus duration"),
        (lambda d: d["routes"].update(page="payments-on-call"),
         "routes.page", "receiver 'payments-on-call' is not declared"),
        (lambda d: d["cost"]["provider_fees"].update(initech={"fixed_usd": 0.1, "bps": 10}),
         "cost.provider_fees.initech", "not a declared provider"),
        (lambda d: d.update(signalz={}),
         "signalz", "Extra inputs are not permitted"),
        (lambda d: d["currencies"].append("usd"),
         "currencies.3", "not an ISO 4217 code"),
        (lambda d: d["alerts"]["FraudSpike"].update(threshold=float("nan")),
         "alerts.FraudSpike.threshold", "Input should be a finite number"),
        (lambda d: d["signals"]["queue_depth"].update(labels={"CardNumber": ["a"]}),
         "signals.queue_depth.labels.CardNumber", "never carry card, account or customer data"),
        (lambda d: d["signals"]["queue_depth"].update(labels={"queue": ["q-4111.1111.1111.1111"]}),
         "signals.queue_depth.labels.queue", "looks like a card number"),
        (lambda d: d["slos"]["ledger-durability"].update(objective=90),
         "slos.ledger-durability.objective", "the fast page could never fire"),
    ],
)
def test_bad_catalog_names_file_line_key_and_problem(mutate, where, message):
    problems = problems_for(mutate)
    line = next((p for p in problems if f": {where}: " in p), None)
    assert line is not None, problems
    assert re.match(r"^bad\.yaml:\d+: ", line), line
    assert message in line
    assert "\n" not in line


def test_line_number_points_at_the_offending_key():
    text = GOOD_TEXT.replace("    type: gauge\n    help: Messages waiting", "    type: meter\n    help: Messages waiting")
    expected = text.splitlines().index("    type: meter") + 1
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "moneypath.yaml")
    assert info.value.problems == [
        f"moneypath.yaml:{expected}: signals.queue_depth.type: Input should be 'counter', 'histogram' or 'gauge'"]


@pytest.mark.parametrize("broken, line", [
    ("alerts:\n", "alerts\n"),  # a key without its colon: PyYAML notices on the next line
    ("  komoju: {display_name: Komoju}\n", "  komoju: {display_name: Komoju\n"),  # unclosed: found out later
    ("alerts:\n", "alerts: x: y\n"),  # a mapping where a value goes: that very line
])
def test_a_yaml_syntax_error_names_the_line_to_fix_in_a_foreign_catalog(tmp_path, broken, line):
    text = (ROOT / "tests" / "foreign" / "moneypath.yaml").read_text()
    assert broken in text
    lineno = text[:text.index(broken)].count("\n") + 1
    with pytest.raises(CatalogError) as info:
        parse_catalog(text.replace(broken, line, 1), "shop.yaml")
    (problem,) = info.value.problems
    assert problem.startswith(f"shop.yaml:{lineno}: YAML syntax error: "), problem


def test_yaml_syntax_error_and_duplicate_keys_and_missing_file(tmp_path):
    with pytest.raises(CatalogError) as info:
        parse_catalog("service: [unclosed\n", "x.yaml")
    assert re.match(r"^x\.yaml:\d+: YAML syntax error: ", info.value.problems[0])

    dup = GOOD_TEXT.replace("service: payments\n", "service: payments\nservice: billing\n")
    with pytest.raises(CatalogError) as info:
        parse_catalog(dup, "x.yaml")
    assert any(": service: duplicate key" in p for p in info.value.problems)

    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path / "nope.yaml")
    assert info.value.problems == [f"{tmp_path / 'nope.yaml'}: file not found"]

    with pytest.raises(CatalogError) as info:
        parse_catalog("- just\n- a list\n", "x.yaml")
    assert "the catalog must be a mapping" in info.value.problems[0]


def test_every_problem_is_reported_not_just_the_first():
    def two(d):
        d["signals"]["queue_depth"]["labels"] = {"queue": ["other"]}
        d["routes"]["ticket"] = "nobody"
    problems = problems_for(two)
    assert len(problems) == 2


def test_max_series_counts_other_and_histogram_lines(catalog):
    ledger = catalog.signals["ledger_writes_total"]
    assert ledger.max_series() == 4  # 3 outcomes + other
    auth = catalog.signals["authorization_duration_seconds"]
    assert auth.max_series() == 3 * 4 * 5 * (9 + 3)


def test_an_alert_may_not_take_the_name_of_an_slo_burn_rate_alert():
    text = (ROOT / "tests/foreign/moneypath.yaml").read_text().replace(
        "  KonbiniApprovalsLow:", "  ChargeAvailabilityBudgetBurn:")
    with pytest.raises(CatalogError) as err:
        parse_catalog(text, "shop.yaml")
    assert any("alerts.ChargeAvailabilityBudgetBurn: the name of SLO charge-availability" in p
               for p in err.value.problems)


def _foreign(**edits) -> str:
    doc = yaml.safe_load((ROOT / "tests/foreign/moneypath.yaml").read_text())
    for path, value in edits.items():
        *parents, last = path.split("__")
        node = doc
        for p in parents:
            node = node[p]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.mark.parametrize("edits, expected", [
    ({"features__loyalty": False}, "features.loyalty: unknown feature"),
    ({"signals__queue_depth": {"type": "gauge", "help": "x", "labels": {"queue": ["a"]}}},
     "signals.queue_depth: belongs to the queues feature, which is off"),
    ({"alerts__FraudSpike": {"severity": "page", "threshold": 3, "summary": "x"}},
     "alerts.FraudSpike: a built-in alert of the fraud feature, which is off"),
    ({"cost": None}, "cost: the cost feature is on, so the catalog needs a cost: model"),
    ({"alerts__KonbiniApprovalsLow__expr": None}, "alerts.KonbiniApprovalsLow: not a built-in alert, so it needs"),
    ({"alerts__LedgerImbalance__threshold": None}, "alerts.LedgerImbalance: a built-in alert needs a threshold"),
    ({"currencies": ["JPY", "XTS"]}, "currencies.1: 'XTS' is not in moneypath's ISO 4217 table"),
    ({"currency_exponents": {"KWD": 7}}, "currency_exponents.KWD: the digits after the decimal point are 0 to 4"),
])
def test_feature_alert_and_currency_problems_name_the_key(edits, expected):
    with pytest.raises(CatalogError) as err:
        parse_catalog(_foreign(**edits), "shop.yaml")
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_features_off_need_no_signals_and_unlisted_features_are_on():
    c = parse_catalog(_foreign(), "shop.yaml")
    assert not c.enabled("fraud") and c.enabled("cost") and c.enabled("idempotency")
    c = parse_catalog(_foreign(currencies=["JPY", "XTS"], currency_exponents={"XTS": 1}), "shop.yaml")
    assert c.exponent("XTS") == 1 and c.money(6235, "XTS") == "XTS 623.5"


@pytest.mark.parametrize("minor, currency, text", [
    (6235, "EUR", "EUR 62.35"), (6235, "JPY", "JPY 6,235"), (6235, "KWD", "KWD 6.235"),
    (-123456789, "USD", "USD -1,234,567.89"), (5, "BHD", "BHD 0.005"), (0, "CLF", "CLF 0.0000"),
])
def test_money_reads_in_the_currency_s_own_exponent(minor, currency, text):
    from moneypath.catalog.currencies import format_money

    assert format_money(minor, currency) == text
