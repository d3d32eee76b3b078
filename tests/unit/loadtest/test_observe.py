"""What Prometheus saw during a run, by catalog name (moneypath.loadtest.command.observe)."""

from __future__ import annotations

import pytest
import yaml

from moneypath.formats import scenarios
from moneypath.loadtest.command import gates
from tests.conftest import CATALOG_PATH
from tests.unit.loadtest.helpers import FakePrometheus, catalog_without, foreign_catalog, init_catalog, summary


def test_signal_names_come_from_the_catalog_slos(catalog, tmp_path):
    from moneypath.catalog import load_catalog
    from moneypath.loadtest.command.observe import ObserveError, Observer

    obs = Observer(catalog, "http://127.0.0.1:9")
    assert obs.latency_hist == catalog.metric(catalog.slos["authorization-latency"].sli.latency.signal)
    assert obs.authorizations == catalog.metric(catalog.slos["authorization-availability"].total.signal)
    assert obs.names["ledger_imbalance"] == catalog.metric("ledger_imbalance_minor")
    # the only latency SLO is the latency SLO, whatever its signal is called
    data = yaml.safe_load(CATALOG_PATH.read_text())
    data["slos"]["authorization-latency"]["sli"]["latency"]["signal"] = "http_request_duration_seconds"
    data["slos"]["authorization-latency"]["sli"]["latency"]["under"] = 0.25
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    other = load_catalog(tmp_path / "other.yaml")
    assert gates.thresholds(other, 30).p99_s == 0.25
    assert Observer(other, "http://127.0.0.1:9").latency_hist == other.metric("http_request_duration_seconds")
    with pytest.raises(ObserveError, match="signals.ledger_imbalance_minor: missing"):
        Observer(load_catalog(catalog_without(tmp_path, "ledger_imbalance_minor")), "http://127.0.0.1:9")


def test_the_observer_asks_nothing_about_disabled_features_and_names_the_worst_currency(monkeypatch):
    from moneypath.loadtest.command import observe

    for c in (foreign_catalog(), foreign_catalog(cost=False)):
        imb = c.metric("ledger_imbalance_minor")
        fake = FakePrometheus({
            f"max_over_time({imb}": [{"metric": {"currency": "JPY"}, "value": [0, "0"]},
                                     {"metric": {"currency": "KWD"}, "value": [0, "40"]}],
            f"min_over_time({imb}": [{"metric": {"currency": "JPY"}, "value": [0, "-6235"]},
                                     {"metric": {"currency": "KWD"}, "value": [0, "0"]}],
            c.metric("authorizations_total"): [{"metric": {}, "value": [0, "500"]}]})
        monkeypatch.setattr(observe, "Prometheus", fake)
        obs = observe.Observer(c, "http://127.0.0.1:9")
        out = obs.observe(0, 60, gates.thresholds(c, 30), None, None)
        obs.wait_reconciled(out, 60, within_s=30)
        assert (out.ledger_imbalance_max_abs, out.ledger_imbalance_currency) == (6235, "JPY")
        assert out.caught_up_after_s is None and out.oldest_unreconciled_s is None
        asked_cost = [q for q in fake.queries if "cost" in q]
        if c.enabled("cost"):
            assert asked_cost and all(c.metric("cost_usd_total") in q for q in asked_cost)
        else:
            assert asked_cost == [] and out.cost_per_authorization_usd is None
        assert not [q for q in fake.queries if "reconcil" in q or "queue" in q or "dead_letter" in q]


def test_a_catalog_from_init_without_the_ledger_is_observed_and_each_gate_judged_or_skipped(monkeypatch):
    """The crash of a new project's first load test: observe read the ledger's gauge whatever the features."""
    from moneypath.loadtest.command import observe
    from moneypath.loadtest.command.gates import FEATURE_GATES, feature_off

    c = init_catalog()
    assert not c.enabled("ledger") and "ledger_imbalance_minor" not in c.signals
    hist, auth = c.metric("authorization_duration_seconds"), c.metric("authorizations_total")
    fake = FakePrometheus({f"{hist}_bucket": [{"metric": {}, "value": [0, "0.12"]}],
                           "1 - ": [{"metric": {}, "value": [0, "0"]}], auth: [{"metric": {}, "value": [0, "300"]}],
                           c.metric("duplicate_charges_total"): [{"metric": {}, "value": [0, "0"]}],
                           c.metric("detector_last_run_timestamp_seconds"): [{"metric": {}, "value": [0, "30"]}]})
    monkeypatch.setattr(observe, "Prometheus", fake)
    obs = observe.Observer(c, "http://127.0.0.1:9")
    thr = gates.thresholds(c, 30)
    out = obs.observe(0, 60, thr, None, "paystack")  # the duplicate detector ran 30 s into the run
    obs.wait_reconciled(out, 60, within_s=30)
    assert not [q for q in fake.queries if "ledger" in q or "reconcil" in q or "circuit" in q or "cost" in q]
    assert (out.p99_s, out.error_ratio, out.duplicate_charges) == (0.12, 0.0, 0.0)
    assert out.ledger_imbalance_max_abs is None and out.circuit_max is None
    scenario = scenarios.Scenario(description="checkout", name="checkout", expect_circuit_open="paystack")
    by = {g.name: g for g in gates.evaluate(summary(), out, thr, scenario)}
    for name, feature in FEATURE_GATES.items():
        assert (by[name].status, by[name].reason) == ("skip", feature_off(feature)), by[name]
    assert {by[n].status for n in ("p99_latency_prometheus", "failure_ratio_prometheus", "duplicate_charges")} == {
        "pass"}
