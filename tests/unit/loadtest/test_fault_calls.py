"""The scenario's fault calls (moneypath.loadtest.in_locust.fault_calls) and the fault vocabularies by `at:`."""

from __future__ import annotations

import pytest

from moneypath.formats import scenarios
from moneypath.loadtest.in_locust import fault_calls
from tests.unit.loadtest.helpers import FOREIGN_DIR

# ---------------------------------------------------------------- faults: calls and vocabularies


def test_fault_calls_go_to_the_api_at_their_at_and_end_after_the_run():
    fs = [scenarios.ScenarioFault(at="faultproxy", name="latency", params={"provider": "komoju", "extra_ms": 700}),
          scenarios.ScenarioFault(at="providersim", name="error_rate",
                                  params={"provider": "acme", "rate": 1, "duration_s": 5}),
          scenarios.ScenarioFault(at="service", name="consumer_failure", params={"queue": "webhooks", "rate": 0.5})]
    calls = fault_calls.calls(fs, {"faultproxy": "http://p:1/", "providersim": "http://s:2", "service": "http://h:3"}, 30)
    assert calls == [
        fault_calls.FaultCall("http://p:1/admin/faults/latency", {"duration_s": 90.0, "provider": "komoju",
                                                               "extra_ms": 700}, {"provider": "komoju"}),
        fault_calls.FaultCall("http://s:2/admin/faults/error_rate", {"duration_s": 5, "provider": "acme", "rate": 1},
                         {"provider": "acme"}),
        fault_calls.FaultCall("http://h:3/admin/faults/consumer_failure", {"duration_s": 90.0, "queue": "webhooks",
                                                                       "rate": 0.5}, {"target": "webhooks"})]
    with pytest.raises(fault_calls.MissingBase, match="scenario slow sets a faultproxy fault: pass --faultproxy URL"):
        fault_calls.calls(fs[:1], {"faultproxy": None}, 30, "slow")


@pytest.fixture(scope="module")
def foreign():
    from moneypath.catalog import load_catalog

    return load_catalog(FOREIGN_DIR / "moneypath.yaml")


def test_the_foreign_scenarios_slow_their_providers_through_the_fault_proxy(foreign):
    sfile = scenarios.load(FOREIGN_DIR / "scenarios.yaml", foreign)
    assert {f.at for s in sfile.scenarios.values() for f in s.faults} == {"faultproxy"}
    slow = sfile.get("komoju_slow").faults[0]
    assert (slow.name, slow.params["provider"]) == ("latency", "komoju")


def test_the_shipped_scenarios_faults_are_valid_against_the_simulator(spec):
    assert {f.at for s in spec.scenarios.values() for f in s.faults} == {"providersim"}
