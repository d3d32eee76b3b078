"""Rules, routing, Prometheus config and compression of a team's own catalog (tests/foreign: a ticket shop, Komoju
and KNET, JPY and KWD, fraud/queues/payouts/reconciliation/webhooks off, a custom alert with its own expr)."""

from __future__ import annotations

import pytest
import yaml

from moneypath.catalog import CatalogError
from moneypath.catalog.conventions import Key
from moneypath.catalog.features import BUILTIN_ALERTS, FEATURES
from moneypath.check.promql import metric_index, selected_series
from moneypath.generate.build import rule_artifacts
from moneypath.generate.compress import compress_rules
from moneypath.generate.prometheus_config import prometheus_config
from moneypath.generate.routing import render_alertmanager
from moneypath.generate.rules import SHAPES, alert_rules, recording_rules
from tests.conftest import ROOT
from tests.support.shop_catalog import foreign_data, load, with_audit

FOREIGN = ROOT / "tests" / "foreign" / "moneypath.yaml"






@pytest.fixture
def foreign():
    return load(foreign_data())


def rules(doc: dict) -> list[dict]:
    return [r for g in doc["groups"] for r in g["rules"]]


def business(c) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for rule in rules(alert_rules(c)):
        out.setdefault(rule["alert"], []).append(rule)
    return out


def series_of_every_rule(c) -> set[str]:
    every = rules(recording_rules(c)) + rules(alert_rules(c))
    return {name for r in every for name in selected_series(r["expr"])}


# ---------------------------------------------------------------- recording rules by feature


def test_a_disabled_feature_has_no_recording_rule(foreign, catalog):
    recorded = {r["record"] for r in rules(recording_rules(foreign))}
    fraud = foreign.namespace + "_" + Key.FRAUD_DECISIONS_TOTAL.removesuffix("_total")
    assert not [name for name in recorded if fraud in name]
    shipped = {r["record"] for r in rules(recording_rules(catalog))}
    assert {f":{catalog.metric(Key.FRAUD_DECISIONS_TOTAL).removesuffix('_total')}:decline_ratio_rate{w}"
            for w in ("15m", "1d")} <= shipped


def test_the_cost_record_exists_only_with_the_cost_feature(foreign):
    cost = f":{foreign.metric(Key.COST_USD_TOTAL).removesuffix('_total')}_per_authorization:rate15m"
    assert cost in {r["record"] for r in rules(recording_rules(foreign))}

    data = foreign_data()
    data["features"]["cost"] = False
    del data["signals"][Key.COST_USD_TOTAL], data["cost"], data["alerts"]["CostPerTransactionRegression"]
    without = load(data)
    assert without.cost is None
    assert not [r for r in rules(recording_rules(without)) if "cost" in r["record"] or "cost" in r["expr"]]
    assert rule_artifacts(without)  # the whole rule set builds


@pytest.mark.parametrize("off", list(FEATURES))
def test_no_rule_refers_to_a_signal_the_catalog_does_not_have(off):
    """Every optional feature off in turn (with its signals and built-in alerts removed): every series every
    generated rule reads is a catalog series or a recording rule."""
    data = foreign_data()
    data["features"][off] = False
    for key in FEATURES[off].signals:
        data["signals"].pop(key, None)
    for key in FEATURES[off].alerts:
        data["alerts"].pop(key, None)
    if off == "cost":
        data.pop("cost")
    c = load(data)
    known = set(metric_index(c)) | {r["record"] for r in rules(recording_rules(c))}
    assert series_of_every_rule(c) - known == set()


# ---------------------------------------------------------------- business alerts


def test_a_custom_alert_is_emitted_as_written_with_the_annotations_of_every_rule(foreign):
    data = foreign_data()["alerts"]["KonbiniApprovalsLow"]
    [rule] = business(foreign)["ShopKonbiniApprovalsLow"]
    assert rule == {
        "alert": "ShopKonbiniApprovalsLow",
        "expr": data["expr"].strip(),
        "for": "10m",
        "labels": {"severity": "ticket"},
        "annotations": {
            "summary": data["summary"],
            "description": data["description"],
            "runbook_url": "https://git.example.com/tickets/ops/runbooks/shopkonbiniapprovalslow.md",
            "dashboard_url": "http://grafana.example.com/d/shop-overview",
        },
    }


def test_a_custom_alert_without_description_repeats_its_summary_and_carries_money_loss(foreign):
    data = foreign_data()
    data["alerts"]["RefundsStuck"] = {"severity": "page", "money_loss": True, "summary": "Refunds are failing.",
                                      "expr": 'sum(rate(shop_provider_requests_total{operation="refund", '
                                              'outcome="error"}[5m])) > 0'}
    [rule] = business(load(data))["ShopRefundsStuck"]
    assert rule["labels"] == {"severity": "page", "money_loss": "true"}
    assert rule["annotations"]["description"] == "Refunds are failing."
    assert "for" not in rule


def test_a_built_in_alert_with_its_own_expr_uses_it_instead_of_the_shape(foreign):
    data = foreign_data()
    own = "max by (provider) (shop_provider_circuit_state) > 1"
    data["alerts"]["ProviderPartialOutage"] = {"severity": "page", "for": "1m", "expr": own,
                                               "summary": "A provider's circuit is open."}
    [rule] = business(load(data))["ShopProviderPartialOutage"]  # one rule, not the shape's two
    assert rule["expr"] == own
    assert rule["labels"] == {"severity": "page"}
    assert rule["annotations"]["description"] == "A provider's circuit is open."


def test_a_built_in_alert_of_a_disabled_feature_may_be_kept_with_its_own_expr(foreign):
    data = foreign_data()
    own = "sum(rate(shop_authorizations_total{outcome=\"declined\"}[15m])) > 10"
    data["alerts"]["FraudSpike"] = {"severity": "ticket", "expr": own, "summary": "Declines are high."}
    [rule] = business(load(data))["ShopFraudSpike"]
    assert rule["expr"] == own


def test_a_catalog_description_replaces_a_built_in_shape_description(foreign):
    data = foreign_data()
    data["alerts"]["LedgerImbalance"]["description"] = "Call finance first."
    assert [r["annotations"]["description"] for r in business(load(data))["ShopLedgerImbalance"]] == \
        ["Call finance first."]


def test_every_built_in_alert_has_a_shape_so_validation_leaves_no_alert_without_a_rule(foreign):
    assert set(SHAPES) == set(BUILTIN_ALERTS)
    data = foreign_data()
    data["alerts"]["Unknown"] = {"severity": "page", "threshold": 1, "summary": "s"}
    with pytest.raises(CatalogError, match="alerts.Unknown: not a built-in alert, so it needs its own expr"):
        load(data)


# ---------------------------------------------------------------- routing, Prometheus config, compression


def test_routing_names_the_catalogs_receivers_even_in_the_commented_examples(foreign):
    text = render_alertmanager(foreign)
    config = yaml.safe_load(text)
    assert [r["name"] for r in config["receivers"]] == ["tickets-oncall", "finance", "tickets-queue", "deadmans-switch"]
    assert config["route"]["receiver"] == "tickets-queue"
    assert [r["receiver"] for r in config["route"]["routes"]] == ["deadmans-switch", "tickets-oncall", "finance",
                                                                  "tickets-oncall", "tickets-queue"]
    assert config["route"]["routes"][0]["matchers"] == ['alertname="ShopWatchdog"']
    assert "#  - name: deadmans-switch" in text and "hc-ping.com" in text
    assert "payments" not in text
    assert "#  - name: tickets-oncall" in text and "#  - name: tickets-queue" in text
    assert "'#tickets-alerts'" in text


def test_prometheus_config_scrapes_the_teams_service(foreign):
    config = prometheus_config(foreign, ["10.0.0.5:9000"], ["rules.yaml"], [])
    assert config["scrape_configs"][0]["job_name"] == "tickets"
    assert config["global"]["external_labels"] == {"service": "tickets"}


def test_the_custom_alert_is_compressed_like_the_generated_ones(foreign):
    doc = compress_rules(alert_rules(foreign), 60)
    [rule] = [r for r in rules(doc) if r["alert"] == "ShopKonbiniApprovalsLow"]
    assert "[10s]" in rule["expr"] and "[10m]" not in rule["expr"]
    assert rule["for"] == "10s"


def test_a_replica_of_a_pair_labels_its_series_and_sends_alerts_without_the_label(foreign):
    config = prometheus_config(foreign, ["127.0.0.1:9000"], ["rules.yaml"], ["127.0.0.1:9093", "127.0.0.1:9094"],
                               replica="b")
    assert config["global"]["external_labels"] == {"service": "tickets", "replica": "b"}
    assert config["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["127.0.0.1:9093",
                                                                                    "127.0.0.1:9094"]}]}]
    copy, drop = config["alerting"]["alert_relabel_configs"]
    # the team's own watchdog name keeps its replica apart (heartbeat_from), every other alert loses it
    assert copy == {"source_labels": ["alertname", "replica"], "regex": "ShopWatchdog;(.+)",
                    "target_label": "heartbeat_from", "replacement": "$1"}
    assert drop == {"action": "labeldrop", "regex": "replica"}
    assert "alert_relabel_configs" not in prometheus_config(foreign, [], [], ["127.0.0.1:9093"])["alerting"]


def without_breaker() -> dict:
    """The ticket shop as a service with no circuit breaker: the feature off, its signal and outcome gone."""
    data = foreign_data()
    data["features"]["breaker"] = False
    del data["signals"][Key.PROVIDER_CIRCUIT_STATE]
    data["signals"][Key.PROVIDER_REQUESTS_TOTAL]["labels"]["outcome"] = ["success", "error", "timeout"]
    return data


def test_without_a_breaker_provider_partial_outage_pages_on_the_error_ratio_alone(foreign):
    c = load(without_breaker())
    [outage] = business(c)["ShopProviderPartialOutage"]
    assert outage["labels"]["reason"] == "error_ratio"
    assert 'outcome=~"error|timeout"}' in outage["expr"]
    assert "circuit" not in outage["annotations"]["description"]
    everything = "".join(rule_artifacts(c).values())
    assert "circuit" not in everything
    # the shop as it is (breaker on by default): both halves, circuit_open counted as a failure
    halves = business(foreign)["ShopProviderPartialOutage"]
    assert [r["labels"]["reason"] for r in halves] == ["error_ratio", "circuit_open"]
    assert 'outcome=~"error|timeout|circuit_open"}' in halves[0]["expr"]


def test_without_a_breaker_the_dashboards_catalog_check_and_library_know_nothing_of_it(tmp_path):
    from prometheus_client import CollectorRegistry

    from moneypath.check.lint import check_generated
    from moneypath.generate.build import dashboard_artifacts
    from moneypath.instrument import MoneyPath
    from moneypath.instrument._prometheus_backend import PrometheusBackend

    c = load(without_breaker())
    assert "circuit" not in "".join(dashboard_artifacts(c).values()).lower()
    result = check_generated(c, "29d")
    assert result.problems == []
    mp = MoneyPath(c, PrometheusBackend(CollectorRegistry()), strict=True)
    mp.set_circuit_state("knet", "open")  # a no-op, like every method of a feature that is off
    assert "circuit" not in "".join(m.name for m in mp.registry.collect())


def test_a_catalog_without_a_breaker_that_still_declares_its_signal_is_refused():
    data = without_breaker()
    data["signals"][Key.PROVIDER_CIRCUIT_STATE] = yaml.safe_load(FOREIGN.read_text())["signals"][
        Key.PROVIDER_CIRCUIT_STATE]
    with pytest.raises(CatalogError, match="signals.provider_circuit_state: belongs to the breaker feature, which is off"):
        load(data)


# ---------------------------------------------------------------- audit checkpoints






def test_audit_checkpoint_stale_on_a_foreign_catalog_uses_its_names_and_threshold():
    c = load(with_audit())
    [rule] = business(c)[c.alert_name("AuditCheckpointStale")]
    assert rule["expr"] == (f"max({c.namespace}_audit_checkpoint_seq) < max({c.namespace}_audit_head_seq offset 10m)")
    assert rule["for"] == "10m" and rule["labels"] == {"severity": "ticket"}
    assert rule["annotations"]["runbook_url"] == c.runbook_url("AuditCheckpointStale")
    assert "more than 10m ago" in rule["annotations"]["description"]
    assert series_of_every_rule(c) - set(metric_index(c)) - {r["record"] for r in rules(recording_rules(c))} == set()
    # compressed like every other rule: the drill stack's 60x turns the 10 minutes into 10 seconds
    [compressed] = [r for r in rules(compress_rules(alert_rules(c), 60)) if r["alert"] == rule["alert"]]
    assert compressed["expr"].endswith("offset 10s)")


def test_audit_checkpoint_stale_exists_only_where_the_catalog_lists_it_with_the_checkpoint_signals():
    assert not [name for name in business(load(with_audit(stale_alert=False))) if "Checkpoint" in name]
    with pytest.raises(CatalogError, match=r"alerts.AuditCheckpointStale: compares the signals audit_checkpoint_seq "
                                           r"and audit_head_seq; declare audit_checkpoint_seq and audit_head_seq"):
        load(with_audit(checkpoints=False))
    data = with_audit()
    data["alerts"]["AuditCheckpointStale"]["threshold"] = 0
    with pytest.raises(CatalogError, match=r"alerts.AuditCheckpointStale.threshold: 0: the seconds an audit event"):
        load(data)
    data = with_audit(checkpoints=False)  # a team's own expr needs no built-in signal
    data["alerts"]["AuditCheckpointStale"] = {"severity": "ticket", "expr": "vector(0) > 1", "summary": "Ours."}
    assert load(data).alerts["AuditCheckpointStale"].expr
