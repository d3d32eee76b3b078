"""MoneyPath (moneypath.instrument._signals, contract) with optional domains switched off: every method of a disabled
feature takes anything and records nothing, the rest still records (the shipped catalog with one feature off, and the
foreign catalog)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from moneypath.catalog import CatalogError, load_catalog
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.instrument.exposition import render
from tests.conftest import CATALOG_PATH
from tests.support.signals import errors, value

FOREIGN_PATH = CATALOG_PATH.parent / "tests" / "foreign" / "moneypath.yaml"


# One valid call of every public recording method (shipped catalog's label values), and the signal it records into.
EVERY_METHOD = {
    "record_authorization": (lambda mp: mp.record_authorization("acme", "card", "approved", 0.1),
                             "authorizations_total", {"provider": "acme", "method": "card", "outcome": "approved"}),
    "record_ledger_write": (lambda mp: mp.record_ledger_write("committed", 0.01),
                            "ledger_writes_total", {"outcome": "committed"}),
    "set_ledger_imbalance": (lambda mp: mp.set_ledger_imbalance("EUR", 7), "ledger_imbalance_minor",
                             {"currency": "EUR"}),
    "record_reconciliation": (lambda mp: mp.record_reconciliation("acme", 12.0, succeeded_at=1.0),
                              "reconciliation_oldest_unreconciled_seconds", {"provider": "acme"}),
    "count_mismatch": (lambda mp: mp.count_mismatch("acme", "amount_differs"), "reconciliation_mismatches_total",
                       {"provider": "acme", "mismatch_kind": "amount_differs"}),
    "count_duplicate_charge": (lambda mp: mp.count_duplicate_charge("acme", "EUR", 100), "duplicate_charges_total",
                               {"provider": "acme"}),
    "set_queue_depth": (lambda mp: mp.set_queue_depth("notifications", 3), "queue_depth", {"queue": "notifications"}),
    "count_dead_letter": (lambda mp: mp.count_dead_letter("notifications"), "dead_letters_total",
                          {"queue": "notifications"}),
    "record_provider_call": (lambda mp: mp.record_provider_call("acme", "capture", "success", 0.1),
                             "provider_requests_total", {"provider": "acme", "operation": "capture",
                                                         "outcome": "success"}),
    "count_provider_retry": (lambda mp: mp.count_provider_retry("acme", "capture"), "provider_retries_total",
                             {"provider": "acme", "operation": "capture"}),
    "set_circuit_state": (lambda mp: mp.set_circuit_state("acme", "open"), "provider_circuit_state",
                          {"provider": "acme"}),
    "count_idempotent_replay": (lambda mp: mp.count_idempotent_replay("capture"), "idempotent_replays_total",
                                {"operation": "capture"}),
    "count_webhook": (lambda mp: mp.count_webhook("acme", "accepted"), "webhooks_total",
                      {"provider": "acme", "outcome": "accepted"}),
    "count_card_number": (lambda mp: mp.count_card_number("webhook", "redacted"), "card_numbers_total",
                          {"source": "webhook", "action": "redacted"}),
    "record_fraud_decision": (lambda mp: mp.record_fraud_decision("review", 0.5), "fraud_decisions_total",
                              {"decision": "review"}),
    "count_fraud_timeout": (lambda mp: mp.count_fraud_timeout("hold"), "fraud_check_timeouts_total",
                            {"fallback": "hold"}),
    "add_cost": (lambda mp: mp.add_cost("infrastructure", 0.5), "cost_usd_total",
                 {"component": "infrastructure", "provider": "none"}),
    "set_audit_chain": (lambda mp: mp.set_audit_chain(True), "audit_chain_broken", {}),
    "count_shed": (lambda mp: mp.count_shed("normal"), "requests_shed_total", {"priority": "normal"}),
    "set_audit_checkpoint": (lambda mp: mp.set_audit_checkpoint(30), "audit_checkpoint_seq", {}),
    "set_audit_head": (lambda mp: mp.set_audit_head(31), "audit_head_seq", {}),
    "record_http": (lambda mp: mp.record_http("/healthz", "GET", 200, 0.01), "http_requests_total",
                    {"route": "/healthz", "method": "GET", "status_class": "2xx"}),
    "count_http": (lambda mp: mp.count_http("/healthz", "GET", 503, 4), "http_requests_total",
                   {"route": "/healthz", "method": "GET", "status_class": "5xx"}),
    "record_request": (lambda mp: mp.record_request("/healthz", "/healthz", "GET", 200, 0.01), "http_requests_total",
                       {"route": "/healthz", "method": "GET", "status_class": "2xx"}),
    "record_graphql_operation": (lambda mp: mp.record_graphql_operation("checkoutComplete", "ok", 0.01),
                                 "graphql_operations_total", {"operation": "checkoutComplete", "outcome": "ok"}),
    "record_detector_run": (lambda mp: mp.record_detector_run("duplicates"), "detector_last_run_timestamp_seconds",
                            {"detector": "duplicates"}),
    "count": (lambda mp: mp.count("duplicate_charges_total", provider="globex"), "duplicate_charges_total",
              {"provider": "globex"}),
    "observe": (lambda mp: mp.observe("ledger_write_duration_seconds", 0.2), "ledger_write_duration_seconds", None),
    "set": (lambda mp: mp.set("ledger_imbalance_minor", 5, currency="USD"), "ledger_imbalance_minor",
            {"currency": "USD"}),
}


# Anything at all: none of it may reach a disabled feature's series or the error counter.
ANY_ARGUMENTS = [(), ("acme",), ("4111111111111111", float("nan"), -1), (["unhashable"], {"x": 1}, None, object()),
                 ("a", "b", "c", "d", "e", "f")]


ANY_KEYWORDS = [{}, {"succeeded_at": "yesterday"}, {"provider": "acme", "score": 7.0}, {"bogus": object()}]


# Features off in the shipped catalog: their methods record on an `init`ed catalog (tests/unit/instrument/graphql).
OFF_IN_SHIPPED = {"record_graphql_operation"}


def recording_methods() -> set[str]:
    return {name for cls in MoneyPath.__mro__ for name, member in vars(cls).items()
            if callable(member) and name.split("_")[0] in {"record", "count", "set", "add", "observe"}}


def exported_families(mp) -> set[str]:
    return {family.name for family in mp.registry.collect()}


def without_feature(feature: str):
    """The shipped catalog with one optional domain switched off (its signals, alerts and cost model gone)."""
    import yaml

    from moneypath.catalog import parse_catalog
    from moneypath.catalog.features import FEATURES
    from tests.support.feature_catalogs import drop_from_map

    data = yaml.safe_load(CATALOG_PATH.read_text())
    data.setdefault("features", {})[feature] = False
    for key in FEATURES[feature].signals:
        del data["signals"][key]
    drop_from_map(data, set(FEATURES[feature].signals))
    for alert in FEATURES[feature].alerts:
        data["alerts"].pop(alert, None)
    if feature == "cost":
        del data["cost"]
    return parse_catalog(yaml.safe_dump(data, sort_keys=False), f"moneypath.yaml (features.{feature}: false)")


def test_the_method_table_covers_every_recording_method():
    from moneypath.catalog.features import FEATURES
    from moneypath.instrument._requirements import FEATURE_METHODS

    assert set(EVERY_METHOD) == recording_methods()
    assert set(FEATURE_METHODS) == set(FEATURES)
    assert {m for methods in FEATURE_METHODS.values() for m in methods} <= recording_methods()


@pytest.fixture
def foreign():
    from moneypath.catalog import load_catalog

    return MoneyPath(load_catalog(FOREIGN_PATH), PrometheusBackend(CollectorRegistry()))


def test_a_foreign_catalog_with_features_off_binds(foreign):
    off = [name for name in ("fraud", "queues", "payouts", "reconciliation", "webhooks")
           if not foreign.catalog.enabled(name)]
    assert off == ["fraud", "queues", "payouts", "reconciliation", "webhooks"]
    assert foreign.catalog.enabled("idempotency") and foreign.catalog.enabled("cost")


def test_every_method_of_a_disabled_feature_takes_anything_and_records_nothing(foreign):
    from moneypath.catalog.features import FEATURES
    from moneypath.instrument._requirements import FEATURE_METHODS

    off = [name for name in FEATURES if not foreign.catalog.enabled(name)]
    before = render(foreign.registry, "")[0]
    for name in off:
        for method in FEATURE_METHODS[name]:
            for args in ANY_ARGUMENTS:
                for kwargs in ANY_KEYWORDS:
                    assert getattr(foreign, method)(*args, **kwargs) is None
        for key in FEATURES[name].signals:
            foreign.count(key, 1, provider="komoju")
            foreign.count(key, float("nan"))
            foreign.observe(key, -3.0)
            foreign.set(key, float("inf"), queue="x")
    assert render(foreign.registry, "")[0] == before  # not one sample changed
    assert errors(foreign) == 0
    disabled = [key.removesuffix("_total") for name in off for key in FEATURES[name].signals]
    names = exported_families(foreign)
    assert disabled and not [(key, n) for key in disabled for n in names if key in n]


def test_an_unknown_key_is_still_an_instrumentation_error_on_the_foreign_catalog(foreign):
    foreign.count("no_such_signal_total")
    foreign.set("no_such_gauge", 1)
    foreign.observe("no_such_histogram", 0.1)
    assert errors(foreign) == 3


def test_enabled_methods_still_record_on_the_foreign_catalog(foreign):
    foreign.record_authorization("komoju", "konbini", "approved", 0.3)
    foreign.count_idempotent_replay("capture")
    foreign.add_cost("provider_fee", 0.25, "knet")
    foreign.set_ledger_imbalance("KWD", -1250)
    foreign.count_duplicate_charge("knet", "JPY", 6235)
    foreign.count("idempotent_replays_total", operation="refund")
    assert value(foreign, "authorizations_total", provider="komoju", method="konbini", outcome="approved") == 1
    assert value(foreign, "idempotent_replays_total", operation="capture") == 1
    assert value(foreign, "idempotent_replays_total", operation="refund") == 1
    assert value(foreign, "cost_usd_total", component="provider_fee", provider="knet") == 0.25
    assert value(foreign, "ledger_imbalance_minor", currency="KWD") == -1250
    assert value(foreign, "duplicate_charged_minor_total", currency="JPY") == 6235
    assert errors(foreign) == 0


@pytest.mark.parametrize("feature", ["fraud", "queues", "reconciliation", "payouts", "webhooks", "idempotency",
                                     "cost"])
def test_each_feature_off_silences_its_methods_and_nothing_else(feature):
    from moneypath.catalog.features import FEATURES
    from moneypath.instrument._requirements import FEATURE_METHODS

    mp = MoneyPath(without_feature(feature), PrometheusBackend(CollectorRegistry()))
    for method, (call, key, labels) in EVERY_METHOD.items():
        call(mp)
        if method in OFF_IN_SHIPPED:
            continue
        if method in FEATURE_METHODS[feature]:
            assert key not in mp.catalog.signals
            for args in ANY_ARGUMENTS:
                getattr(mp, method)(*args)
        elif labels is None:
            assert value(mp, key, "_count"), method
        else:
            assert value(mp, key, **labels), method
    assert errors(mp) == 0
    names = exported_families(mp)
    assert not [(key, n) for key in FEATURES[feature].signals for n in names if key.removesuffix("_total") in n]


def test_a_tally_of_untimed_answers_is_counted_and_kept_out_of_the_latency_histogram(mp, foreign):
    """count_http and count_shed take a tally (the reference service's refusals, recorded every 50 ms): n at once,
    and answers no timer saw add nothing to the duration histogram, whose count stays the timed answers'. On the
    foreign catalog too (its own routes; no admission feature, so count_shed records nothing there)."""
    for instrumented, route in ((mp, "/healthz"), (foreign, "/charges")):
        instrumented.record_http(route, "POST", 503, 0.01)
        instrumented.count_http(route, "POST", 503, 40)
        instrumented.count_shed("normal", 40)
        assert value(instrumented, "http_requests_total", route=route, method="POST", status_class="5xx") == 41
        assert value(instrumented, "http_request_duration_seconds", "_count", route=route, method="POST") == 1
        assert errors(instrumented) == 0
    assert value(mp, "requests_shed_total", priority="normal") == 40
    assert "requests_shed_total" not in foreign.catalog.signals


def test_card_numbers_are_counted_when_the_catalog_has_the_signal_and_ignored_when_it_has_not():
    import yaml

    from moneypath.catalog import parse_catalog
    from moneypath.catalog.conventions import Key

    mp = MoneyPath(load_catalog(CATALOG_PATH), PrometheusBackend(CollectorRegistry()))
    mp.count_card_number("api", "refused")
    mp.count_card_number("somewhere", "4111111111111111")  # outside the declared sets: "other", never the number
    assert value(mp, Key.CARD_NUMBERS_TOTAL, source="api", action="refused") == 1
    assert value(mp, Key.CARD_NUMBERS_TOTAL, source="other", action="other") == 1
    data = yaml.safe_load(CATALOG_PATH.read_text())
    del data["signals"][Key.CARD_NUMBERS_TOTAL]  # a catalog written before the signal existed still binds
    older = MoneyPath(parse_catalog(yaml.safe_dump(data, sort_keys=False)), PrometheusBackend(CollectorRegistry()))
    older.count_card_number("api", "refused")
    assert errors(older) == 0
    data["signals"][Key.CARD_NUMBERS_TOTAL] = {"type": "counter", "help": "x", "labels": {"source": ["api"]}}
    with pytest.raises(CatalogError, match=r"card_numbers_total: must be a counter with labels \['source', 'action'\]"):
        MoneyPath(parse_catalog(yaml.safe_dump(data, sort_keys=False)), PrometheusBackend(CollectorRegistry()))
