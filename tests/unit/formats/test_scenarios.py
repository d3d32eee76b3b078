"""The scenario file format (moneypath.formats.scenarios): a bad file is one line naming the file and the key for
`moneypath loadtest`, every problem for `moneypath lint`; checked against the catalog (providers, currencies, the
payouts feature, each fault against the API at its `at`)."""

from __future__ import annotations

import pytest
import yaml

from moneypath.formats import scenarios
from moneypath.formats.fault_specs import fault_specs
from tests.conftest import ROOT, SHIPPED_SCENARIOS

FOREIGN_DIR = ROOT / "tests" / "foreign"


@pytest.fixture(scope="module")
def spec(catalog):
    return scenarios.load(SHIPPED_SCENARIOS, catalog)


def test_unknown_scenario_names_the_choices(spec):
    with pytest.raises(scenarios.ScenarioError, match="unknown scenario 'nope': choose one of checkout, peak"):
        spec.get("nope")


@pytest.mark.parametrize("section, value, message", [
    ("providers", {"acme": 60, "initech": 40}, "providers: 'initech' is not in the catalog"),
    ("currencies", {"JPY": 1}, "currencies: 'JPY' is not in the catalog"),
    ("mix", {"authorize": 0, "capture": 1}, "mix: authorize or payout needs a positive weight"),
    ("mix", {"authorize": 1, "teleport": 1}, "mix: unknown action 'teleport'"),
])
def test_a_bad_scenario_file_is_one_line(tmp_path, catalog, section, value, message):
    data = yaml.safe_load((SHIPPED_SCENARIOS).read_text())
    data[section] = value
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(scenarios.ScenarioError) as exc:
        scenarios.load(path, catalog)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_missing_or_broken_scenario_file_is_one_line(tmp_path):
    with pytest.raises(scenarios.ScenarioError, match="scenario file not found"):
        scenarios.load(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("scenarios: {checkout: {description: x, multiplier: -1}}\nmix: {}\n")
    with pytest.raises(scenarios.ScenarioError, match="bad.yaml: "):
        scenarios.load(tmp_path / "bad.yaml")


def test_payout_traffic_is_refused_when_the_catalog_has_no_payouts(tmp_path, foreign):
    data = yaml.safe_load((FOREIGN_DIR / "scenarios.yaml").read_text())
    data["mix"]["payout"] = 10
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(scenarios.ScenarioError) as exc:
        scenarios.load(path, foreign)
    assert str(exc.value) == (f"{path}: mix: payout: the catalog's payouts feature is off (features.payouts: false); "
                              "give payout no weight")
    data["mix"] = {"authorize": 0, "capture": 1}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(scenarios.ScenarioError, match="mix: authorize needs a positive weight"):
        scenarios.load(path, foreign)
    scenarios.load(SHIPPED_SCENARIOS)  # no catalog: payouts are not judged


@pytest.mark.parametrize("fault, problem", [
    ({"at": "faultproxy", "name": "timeout_late_success", "params": {"provider": "knet", "rate": 1, "delay_s": 1}},
     "faultproxy: no fault named 'timeout_late_success'; known: error_rate, latency, timeout, reset"),
    ({"at": "faultproxy", "name": "latency", "params": {"provider": "acme", "extra_ms": 10}},
     "faultproxy: provider: must be one of komoju, knet"),
    ({"at": "faultproxy", "name": "reset", "params": {"provider": "knet"}}, "faultproxy: rate: required"),
    ({"at": "providersim", "name": "reset", "params": {"provider": "knet", "rate": 1}},
     "providersim: no fault named 'reset'"),
])
def test_a_scenario_fault_is_checked_against_the_api_at_its_at(tmp_path, foreign, fault, problem):
    data = yaml.safe_load((FOREIGN_DIR / "scenarios.yaml").read_text())
    data["scenarios"]["checkout"]["faults"] = [fault]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(scenarios.ScenarioError) as exc:
        scenarios.load(path, foreign)
    assert str(exc.value).startswith(f"{path}: scenarios.checkout.faults.0: {problem}")
    assert "\n" not in str(exc.value)
    for proxy_fault in ("error_rate", "latency", "timeout", "reset"):  # the proxy's own, none of the simulator's
        assert proxy_fault in fault_specs("faultproxy", foreign)


def test_problems_names_every_problem_with_the_file_as_shown_and_the_key(tmp_path, catalog):
    data = yaml.safe_load(SHIPPED_SCENARIOS.read_text())
    data["baseline"]["users"] = 0
    data["scenarios"]["peak"]["multiplier"] = -1
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    spec, found = scenarios.problems(path, catalog, shown="loadtests/scenarios.yaml")
    assert spec is None and found == [
        "loadtests/scenarios.yaml: baseline.users: Input should be greater than 0",
        "loadtests/scenarios.yaml: scenarios.peak.multiplier: Input should be greater than 0"]
    with pytest.raises(scenarios.ScenarioError) as exc:  # `moneypath loadtest` stops at the first, the path as given
        scenarios.load(path, catalog)
    assert str(exc.value) == f"{path}: baseline.users: Input should be greater than 0"
    path.write_text("mix: {authorize: 1\n")
    spec, found = scenarios.problems(path, catalog, shown="s.yaml")
    assert spec is None and len(found) == 1 and found[0].startswith("s.yaml:1: YAML syntax error: ")
    assert scenarios.problems(SHIPPED_SCENARIOS, catalog)[1] == []


def test_the_authorization_slos_are_the_catalogs(catalog, foreign):
    assert scenarios.latency_slo(catalog)[0] == "authorization-latency"
    assert scenarios.availability_slo(catalog)[0] == "authorization-availability"
    assert scenarios.latency_slo(foreign) is None  # the shop has no latency SLO
    assert scenarios.availability_slo(foreign)[0] == "charge-availability"  # its only availability SLO
