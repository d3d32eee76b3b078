"""Every recording method lands in the right series; bad input never reaches a label."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from moneypath.catalog import CatalogError, load_catalog
from moneypath.instrument import families
from moneypath.instrument.exposition import render
from moneypath.instrument.prometheus_backend import PrometheusBackend
from moneypath.instrument.signals import MoneyPath
from tests.conftest import CATALOG_PATH


def label_values(body: str) -> set[str]:
    """Every label value in an exposition (sample values and timestamps may hold any digits)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {v for family in text_string_to_metric_families(body) for s in family.samples for v in s.labels.values()}


def value(mp, key, suffix="", **labels):
    name = mp.catalog.metric(key)
    if mp.catalog.signals[key].type == "counter":
        name = name[: -len("_total")] + "_total"
    return mp.registry.get_sample_value(name + suffix, labels)


def test_authorization_records_latency_and_outcome(mp):
    mp.record_authorization("acme", "card", "approved", 0.12)
    mp.record_authorization("acme", "card", "approved", 0.4)
    mp.record_authorization("globex", "wallet", "timeout", 5.5)
    labels = dict(provider="acme", method="card", outcome="approved")
    assert value(mp, "authorizations_total", **labels) == 2
    assert value(mp, "authorization_duration_seconds", "_count", **labels) == 2
    assert value(mp, "authorization_duration_seconds", "_bucket", le="0.2", **labels) == 1
    assert value(mp, "authorization_duration_seconds", "_bucket", le="0.5", **labels) == 2
    assert value(mp, "authorizations_total", provider="globex", method="wallet", outcome="timeout") == 1


def test_time_authorization_outcomes_and_exceptions_propagate(mp):
    with mp.time_authorization("acme", "card") as auth:
        auth.outcome = "declined"
    with pytest.raises(TimeoutError):
        with mp.time_authorization("acme", "card"):
            raise TimeoutError
    with pytest.raises(RuntimeError):
        with mp.time_authorization("acme", "card"):
            raise RuntimeError("provider said no")
    for outcome in ("declined", "timeout", "error"):
        assert value(mp, "authorizations_total", provider="acme", method="card", outcome=outcome) == 1


def test_ledger_writes_and_imbalance(mp):
    with mp.time_ledger_write():
        pass
    with pytest.raises(ValueError):
        with mp.time_ledger_write():
            raise ValueError
    with mp.time_ledger_write() as write:
        write.outcome = "conflict"
    mp.set_ledger_imbalance("EUR", -250)
    assert [value(mp, "ledger_writes_total", outcome=o) for o in ("committed", "failed", "conflict")] == [1, 1, 1]
    assert value(mp, "ledger_write_duration_seconds", "_count") == 3
    assert value(mp, "ledger_imbalance_minor", currency="EUR") == -250


@pytest.mark.parametrize(
    "call, key, labels, expected",
    [
        (lambda mp: mp.record_reconciliation("acme", 42.0, succeeded_at=1700000000.0),
         "reconciliation_oldest_unreconciled_seconds", {"provider": "acme"}, 42.0),
        (lambda mp: mp.record_reconciliation("acme", 42.0, succeeded_at=1700000000.0),
         "reconciliation_last_success_timestamp_seconds", {"provider": "acme"}, 1700000000.0),
        (lambda mp: mp.count_mismatch("globex", "amount_differs", 3),
         "reconciliation_mismatches_total", {"provider": "globex", "mismatch_kind": "amount_differs"}, 3),
        (lambda mp: mp.count_duplicate_charge("acme", "USD", 1999),
         "duplicate_charges_total", {"provider": "acme"}, 1),
        (lambda mp: mp.count_duplicate_charge("acme", "USD", 1999),
         "duplicate_charged_minor_total", {"currency": "USD"}, 1999),
        (lambda mp: mp.set_queue_depth("notifications", 17), "queue_depth", {"queue": "notifications"}, 17),
        (lambda mp: mp.count_dead_letter("compliance_log"), "dead_letters_total", {"queue": "compliance_log"}, 1),
        (lambda mp: mp.record_provider_call("acme", "capture", "timeout", 2.0),
         "provider_requests_total", {"provider": "acme", "operation": "capture", "outcome": "timeout"}, 1),
        (lambda mp: mp.count_provider_retry("acme", "refund"),
         "provider_retries_total", {"provider": "acme", "operation": "refund"}, 1),
        (lambda mp: mp.set_circuit_state("globex", "open"), "provider_circuit_state", {"provider": "globex"}, 2),
        (lambda mp: mp.count_idempotent_replay("capture"), "idempotent_replays_total", {"operation": "capture"}, 1),
        (lambda mp: mp.count_webhook("acme", "replayed"), "webhooks_total", {"provider": "acme", "outcome": "replayed"}, 1),
        (lambda mp: mp.record_fraud_decision("review", 0.55), "fraud_decisions_total", {"decision": "review"}, 1),
        (lambda mp: mp.count_fraud_timeout("hold"), "fraud_check_timeouts_total", {"fallback": "hold"}, 1),
        (lambda mp: mp.add_cost("provider_fee", 0.125, "acme"),
         "cost_usd_total", {"component": "provider_fee", "provider": "acme"}, 0.125),
        (lambda mp: mp.add_cost("infrastructure", 0.5),
         "cost_usd_total", {"component": "infrastructure", "provider": "none"}, 0.5),
        (lambda mp: mp.record_http("/healthz", "GET", 503, 0.01),
         "http_requests_total", {"route": "/healthz", "method": "GET", "status_class": "5xx"}, 1),
        (lambda mp: mp.count("dead_letters_total", 2, queue="notifications"),
         "dead_letters_total", {"queue": "notifications"}, 2),
        (lambda mp: mp.set("queue_depth", 5, queue="compliance_log"), "queue_depth", {"queue": "compliance_log"}, 5),
    ],
)
def test_each_signal_method_records_into_its_catalog_series(mp, call, key, labels, expected):
    call(mp)
    assert value(mp, key, **labels) == pytest.approx(expected)
    assert value(mp, "instrumentation_errors_total") == 0


def test_histogram_side_of_provider_call_fraud_score_and_generic_observe(mp):
    mp.record_provider_call("acme", "authorize", "success", 0.07)
    mp.record_fraud_decision("approve", 0.15)
    mp.observe("provider_request_duration_seconds", 0.3, provider="globex", operation="payout")
    assert value(mp, "provider_request_duration_seconds", "_count", provider="acme", operation="authorize") == 1
    assert value(mp, "fraud_score_ratio", "_bucket", le="0.2") == 1
    assert value(mp, "provider_request_duration_seconds", "_sum", provider="globex", operation="payout") == 0.3


def test_values_outside_the_catalog_are_recorded_as_other(mp):
    mp.record_authorization("initech", "crypto", "approved", 0.1)
    mp.count("webhooks_total", provider="acme")  # missing label → other
    assert value(mp, "authorizations_total", provider="other", method="other", outcome="approved") == 1
    assert value(mp, "webhooks_total", provider="acme", outcome="other") == 1


def test_a_card_number_never_reaches_the_exposition(mp):
    pan = "4111111111111111"
    mp.record_authorization(pan, "card", "approved", 0.1)
    mp.count_webhook("acme", f"{pan[:4]} {pan[4:8]} {pan[8:12]} {pan[12:]}")
    mp.set_queue_depth(pan, 1)
    body = render(mp.registry, "")[0].decode()
    assert not [v for v in label_values(body) if "4111" in v]
    assert pan not in render(mp.registry, "application/openmetrics-text; version=1.0.0")[0].decode()
    assert value(mp, "queue_depth", queue="other") == 1


def test_hostile_label_values_cannot_grow_memory_without_bound(mp, monkeypatch):
    family = mp.families["authorizations_total"]
    monkeypatch.setattr(families, "RAW_CACHE_LIMIT", len(family._cache) + 50)
    for i in range(5000):
        mp.record_authorization(f"provider-{i}", "card", "approved", 0.1)
    assert len(family._cache) <= families.RAW_CACHE_LIMIT and len(mp._auth_pairs) <= families.RAW_CACHE_LIMIT
    assert value(mp, "authorizations_total", provider="other", method="card", outcome="approved") == 5000
    series = {s.labels["provider"] for m in mp.registry.collect() for s in m.samples
              if s.name == "moneypath_authorizations_total" and s.value > 0}
    assert series == {"other"}


@pytest.mark.parametrize(
    "bad_call",
    [
        lambda mp: mp.record_authorization("acme", "card", "approved", "slow"),   # not a number
        lambda mp: mp.record_authorization(["acme"], "card", "approved", 0.1),    # unhashable label
        lambda mp: mp.set_circuit_state("acme", "melted"),                        # not in the enum
        lambda mp: mp.count("no_such_signal_total"),                              # unknown key
        lambda mp: mp.count_dead_letter("notifications", -1),                     # counters only go up
        lambda mp: mp.observe("queue_depth", 1.0, queue="notifications"),         # gauge has no observe
    ],
)
def test_failures_inside_instrumentation_are_counted_and_swallowed(mp, bad_call):
    bad_call(mp)  # must not raise
    assert value(mp, "instrumentation_errors_total") == 1
    mp.record_authorization("acme", "card", "approved", 0.1)  # still works afterwards
    assert value(mp, "authorizations_total", provider="acme", method="card", outcome="approved") == 1


def test_a_broken_backend_child_never_breaks_the_caller(mp, monkeypatch):
    class Exploding:
        def observe(self, *a):
            raise OSError("disk full")

        def inc(self, *a):
            raise OSError("disk full")

    family = mp.families["authorization_duration_seconds"]
    monkeypatch.setattr(family, "_bind", lambda values: Exploding())
    with mp.time_authorization("globex", "card") as auth:
        auth.outcome = "approved"
    assert value(mp, "instrumentation_errors_total") == 1


def test_exemplar_carries_the_active_trace_id_only_while_a_sampled_span_is_active(mp):
    tracer = TracerProvider().get_tracer("test")
    mp.record_authorization("acme", "card", "approved", 0.01)  # no span: no exemplar
    with tracer.start_as_current_span("authorize") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        mp.record_authorization("acme", "card", "approved", 0.15)
        mp.record_ledger_write("committed", 0.003)
    body = render(mp.registry, "application/openmetrics-text; version=1.0.0")[0].decode()
    exemplars = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.exemplar:
                exemplars[(sample.name, sample.labels.get("le"))] = sample.exemplar
    auth = exemplars[("moneypath_authorization_duration_seconds_bucket", "0.2")]
    assert auth.labels["trace_id"] == trace_id and auth.value == 0.15
    assert ("moneypath_authorization_duration_seconds_bucket", "0.025") not in exemplars
    assert exemplars[("moneypath_ledger_write_duration_seconds_bucket", "0.005")].labels["trace_id"] == trace_id
    # Plain text format (what promtool and old scrapers read) carries no exemplars.
    assert "trace_id" not in render(mp.registry, "")[0].decode()


def test_catalog_missing_a_signal_the_library_needs_fails_at_startup(catalog):
    broken = catalog.model_copy(deep=True)
    del broken.signals["dead_letters_total"]
    broken.signals["queue_depth"].labels = {"topic": ["a"]}
    with pytest.raises(CatalogError) as info:
        MoneyPath(broken, PrometheusBackend(CollectorRegistry()))
    assert any("signals.dead_letters_total: missing" in p for p in info.value.problems)
    assert any("signals.queue_depth: must be a gauge with labels ['queue']" in p for p in info.value.problems)


def test_from_catalog_rejects_an_unknown_backend():
    with pytest.raises(ValueError, match="unknown metrics backend 'statsd'"):
        MoneyPath.from_catalog("moneypath.yaml", backend="statsd")


def test_catalog_label_order_does_not_matter_to_the_api(catalog):
    reordered = catalog.model_copy(deep=True)
    for key in ("authorizations_total", "authorization_duration_seconds"):
        labels = reordered.signals[key].labels
        reordered.signals[key].labels = {name: labels[name] for name in ("outcome", "method", "provider")}
    mp = MoneyPath(reordered, PrometheusBackend(CollectorRegistry()))
    mp.record_authorization("globex", "wallet", "declined", 0.2)
    mp.count("authorizations_total", provider="acme", method="card", outcome="approved")
    assert value(mp, "authorizations_total", provider="globex", method="wallet", outcome="declined") == 1
    assert value(mp, "authorization_duration_seconds", "_count", provider="globex", method="wallet",
                 outcome="declined") == 1
    assert value(mp, "authorizations_total", provider="acme", method="card", outcome="approved") == 1


def test_bounded_counters_are_exported_at_zero_before_the_first_event(mp):
    # increase() over a series born at 1 misses that first event: the first duplicate must page.
    assert value(mp, "duplicate_charges_total", provider="globex") == 0
    assert value(mp, "dead_letters_total", queue="compliance_log") == 0
    assert value(mp, "reconciliation_mismatches_total", provider="acme", mismatch_kind="duplicate") == 0
    assert value(mp, "duplicate_charges_total", provider="other") == 0  # small counters: "other" too
    assert value(mp, "provider_requests_total", provider="other", operation="authorize", outcome="error") is None


def test_an_equal_str_subclass_is_exported_with_the_catalog_spelling(mp):
    import enum

    class Provider(str, enum.Enum):  # noqa: UP042 - str() is "Provider.ACME", the case under test
        ACME = "acme"

    class Sneaky(str):
        def __str__(self):
            return "4111111111111111"

    mp.record_authorization(Provider.ACME, "card", "approved", 0.1)
    mp.count_provider_retry("acme", Sneaky("capture"))
    values = label_values(render(mp.registry, "")[0].decode())
    assert "Provider.ACME" not in values and not [v for v in values if "4111" in v]
    assert value(mp, "authorizations_total", provider="acme", method="card", outcome="approved") == 1
    assert value(mp, "provider_retries_total", provider="acme", operation="capture") == 1


@pytest.mark.parametrize("call", [
    lambda mp: mp.record_authorization("acme", "card", "approved", float("nan")),
    lambda mp: mp.record_authorization("acme", "card", "approved", -0.1),
    lambda mp: mp.record_ledger_write("committed", float("inf")),
    lambda mp: mp.add_cost("infrastructure", float("nan")),
    lambda mp: mp.set_ledger_imbalance("USD", float("nan")),
    lambda mp: mp.record_fraud_decision("approve", 7.0),
    lambda mp: mp.count("dead_letters_total", float("inf"), queue="notifications"),
    lambda mp: mp.count_shed("normal", float("nan")),
    lambda mp: mp.count_http("/healthz", "GET", 503, float("inf")),
    lambda mp: mp.count_http("/healthz", "GET", 503, -5),
])
def test_non_finite_values_are_refused_and_counted_not_recorded(mp, call):
    call(mp)
    assert value(mp, "instrumentation_errors_total") == 1
    body = render(mp.registry, "")[0].decode()
    assert "NaN" not in body and "+Inf " not in body.replace('le="+Inf"', "")


def test_generic_calls_accept_labels_named_like_parameters(catalog):
    from moneypath.catalog import parse_catalog

    text = CATALOG_PATH.read_text().replace("  instrumentation_errors_total:", """  keyed_total:
    type: counter
    help: A counter with awkward label names.
    labels: {key: [a], amount: [b], value: [c]}
  instrumentation_errors_total:""")
    mp = MoneyPath(parse_catalog(text), PrometheusBackend(CollectorRegistry()))
    mp.count("keyed_total", 2, key="a", amount="b", value="c")
    assert mp.registry.get_sample_value("moneypath_keyed_total", {"key": "a", "amount": "b", "value": "c"}) == 2


def test_an_asyncio_timeout_around_the_timer_records_timeout(mp):
    import asyncio

    async def slow_authorization():
        async with asyncio.timeout(0.01):
            with mp.time_authorization("acme", "card"):
                await asyncio.sleep(1)

    with pytest.raises(TimeoutError):
        asyncio.run(slow_authorization())
    assert value(mp, "authorizations_total", provider="acme", method="card", outcome="timeout") == 1


# ---------------------------------------------------------------- features switched off

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


def recording_methods() -> set[str]:
    return {name for name, member in vars(MoneyPath).items()
            if callable(member) and name.split("_")[0] in {"record", "count", "set", "add", "observe"}}


def exported_families(mp) -> set[str]:
    return {family.name for family in mp.registry.collect()}


def without_feature(feature: str):
    """The shipped catalog with one optional domain switched off (its signals, alerts and cost model gone)."""
    import yaml

    from moneypath.catalog import parse_catalog
    from moneypath.catalog.features import FEATURES

    data = yaml.safe_load(CATALOG_PATH.read_text())
    data.setdefault("features", {})[feature] = False
    for key in FEATURES[feature].signals:
        del data["signals"][key]
    for alert in FEATURES[feature].alerts:
        data["alerts"].pop(alert, None)
    if feature == "cost":
        del data["cost"]
    return parse_catalog(yaml.safe_dump(data, sort_keys=False), f"moneypath.yaml (features.{feature}: false)")


def test_the_method_table_covers_every_recording_method():
    from moneypath.catalog.features import FEATURES
    from moneypath.instrument.requirements import FEATURE_METHODS

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
    from moneypath.instrument.requirements import FEATURE_METHODS

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
    assert value(foreign, "instrumentation_errors_total") == 0
    disabled = [key.removesuffix("_total") for name in off for key in FEATURES[name].signals]
    names = exported_families(foreign)
    assert disabled and not [(key, n) for key in disabled for n in names if key in n]


def test_an_unknown_key_is_still_an_instrumentation_error_on_the_foreign_catalog(foreign):
    foreign.count("no_such_signal_total")
    foreign.set("no_such_gauge", 1)
    foreign.observe("no_such_histogram", 0.1)
    assert value(foreign, "instrumentation_errors_total") == 3


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
    assert value(foreign, "instrumentation_errors_total") == 0


@pytest.mark.parametrize("feature", ["fraud", "queues", "reconciliation", "payouts", "webhooks", "idempotency",
                                     "cost"])
def test_each_feature_off_silences_its_methods_and_nothing_else(feature):
    from moneypath.catalog.features import FEATURES
    from moneypath.instrument.requirements import FEATURE_METHODS

    mp = MoneyPath(without_feature(feature), PrometheusBackend(CollectorRegistry()))
    for method, (call, key, labels) in EVERY_METHOD.items():
        call(mp)
        if method in FEATURE_METHODS[feature]:
            assert key not in mp.catalog.signals
            for args in ANY_ARGUMENTS:
                getattr(mp, method)(*args)
        elif labels is None:
            assert value(mp, key, "_count"), method
        else:
            assert value(mp, key, **labels), method
    assert value(mp, "instrumentation_errors_total") == 0
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
        assert value(instrumented, "instrumentation_errors_total") == 0
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
    assert value(older, "instrumentation_errors_total") == 0
    data["signals"][Key.CARD_NUMBERS_TOTAL] = {"type": "counter", "help": "x", "labels": {"source": ["api"]}}
    with pytest.raises(CatalogError, match=r"card_numbers_total: must be a counter with labels \['source', 'action'\]"):
        MoneyPath(parse_catalog(yaml.safe_dump(data, sort_keys=False)), PrometheusBackend(CollectorRegistry()))
