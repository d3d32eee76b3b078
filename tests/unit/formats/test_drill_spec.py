"""Drill files: every shipped one validates; a bad one fails with one line naming the file and the key."""

from __future__ import annotations

import re

import pytest

from moneypath.check.drill_files import check_drill_files, load_drill
from moneypath.cli.drill import _check
from moneypath.formats.drill import DrillError, drill_files
from tests.conftest import ROOT
from tests.support.drill_files import DELETE, GOOD, set_field, unlined, variant

SHIPPED = {"duplicate-charge", "fraud-spike", "settlement-mismatch", "provider-partial-outage", "ledger-write-failures",
           "dead-letters-growing", "healthy-baseline-peak", "overload-spike"}


def test_every_shipped_drill_validates(catalog):
    found = {p.stem for p in drill_files(ROOT)}
    assert SHIPPED <= found
    assert check_drill_files(catalog, ROOT) == []


def test_the_proposed_drills_stay_valid_though_the_demo_does_not_run_them(catalog):
    """runbooks/drills/proposed/: written, not passing yet (its README says why); kept loadable meanwhile. None is
    there now (overload-spike moved out on 2026-11-26; the README keeps what it measured)."""
    proposed = sorted((ROOT / "runbooks" / "drills" / "proposed").glob("*.yaml"))
    shipped = {p.stem for p in drill_files(ROOT)}
    for path in proposed:
        assert path.stem not in shipped
        load_drill(path, catalog, ROOT)


def test_the_overload_drill_expects_the_shedding_page_only(catalog):
    drill = load_drill(ROOT / "runbooks" / "drills" / "overload-spike.yaml", catalog, ROOT)
    assert drill.fault is not None and [a.alert for a in drill.alerts.expected] == ["MoneyPathLoadShedding"]


def test_a_fault_drill_may_expect_no_page_only_when_it_says_nothing_may_page(catalog, tmp_path):
    def absorbed(doc):
        doc["alerts"] = {"must_not_page": ["*"]}
    drill = load_drill(variant(tmp_path, absorbed), catalog, tmp_path)
    assert drill.fault is not None and drill.alerts.expected == []


def test_loaded_drill_knows_its_runbook(catalog):
    drill = load_drill(GOOD, catalog, ROOT)
    assert drill.name == "duplicate-charge"
    assert drill.path == "runbooks/drills/duplicate-charge.yaml"
    assert drill.runbook_alert == catalog.alert_name("DuplicateChargeDetected")
    assert drill.runbook_page == f"runbooks/{drill.runbook_alert.lower()}.md"
    assert drill.alerts.expected[0].alert == drill.runbook_alert  # the catalog key resolved to the alert name
    assert drill.load.baseline == 15.0 and drill.fault.duration == 60.0  # durations in seconds







BAD = [
    ("fault.params.rate", 2, "runbooks/drills/x.yaml: fault.params.rate: must be a number from 0 to 1"),
    ("fault.params.bogus", 1, "runbooks/drills/x.yaml: fault.params.bogus: duplicate_capture takes no such parameter"),
    ("fault.name", "meltdown", "runbooks/drills/x.yaml: fault.name: providersim has no fault 'meltdown'"),
    ("fault.target", "initech", "runbooks/drills/x.yaml: fault.target: duplicate_capture hits one provider"),
    ("fault.where", "database", "runbooks/drills/x.yaml: fault.where: Input should be 'faultproxy', 'providersim', "
                                "'service' or 'hook'"),
    ("fault.set", {"url": "http://127.0.0.1:1/flag"}, "fault: set/clear: only for where: hook"),
    ("fault.where", "hook", "fault: a hook fault needs set and clear"),
    ("load.methods", {"cheque": 1}, "load.methods.cheque: not a method the catalog declares (card, bank_transfer, "
                                    "wallet)"),
    ("load.requests", "requests/nope.yaml", "load.requests: runbooks/drills/requests/nope.yaml: no such file"),
    ("load.requests", {"authorize": {"path": "/pay", "id": "id", "outcome": "state", "json": {"a": "{amount}"}},
                       "approved": ["ok"]},
     "load.requests: authorize: unknown placeholder {amount} (known: {amount_minor}"),
    ("load.requests", {"authorize": {"path": "/pay", "outcome": "state"}, "approved": ["ok"]},
     "load.requests: authorize.id: required: where the payment id is in the answer"),
    ("load.requests", {"authorize": {"path": "/pay", "id": "id", "outcome": "s"}, "approved": ["ok"],
                       "read": {"method": "GET", "path": "/pay/1"}},
     "load.requests: read.path: needs {payment_id}"),
    ("load.requests", {"authorize": {"path": "/pay", "id": "id", "outcome": "s"}, "approved": ["ok"]},
     "load: capture: a share above 0 needs requests.capture (or set capture: 0)"),
    ("money_expect", {"captured_twice": "fail"}, "runbooks/drills/x.yaml: money_expect: "
                                                 "'captured_twice' is not a money check"),
    ("money_expect", {"stored": "maybe"}, "money_expect.stored: Input should be 'pass' or 'fail'"),
    ("runbook", "Meltdown", "runbooks/drills/x.yaml: runbook: 'Meltdown' is not an alert the catalog generates"),
    ("alerts.expected.0.alert", "Nope", "runbooks/drills/x.yaml: alerts.expected.0.alert: 'Nope' is not an alert"),
    ("alerts.expected.0.page_within", "soon", "runbooks/drills/x.yaml: alerts.expected.0.page_within: 'soon' is not a "
                                              "duration"),
    ("alerts.expected.0.receivers", ["the-ceo"], "alerts.expected.0.receivers: 'the-ceo' is not a catalog receiver"),
    ("alerts.must_not_page.0", "DuplicateChargeDetected", "alerts.must_not_page.0: MoneyPathDuplicateChargeDetected "
                                                          "is listed twice"),
    ("diagnosis.steps.0.step", "look around", "diagnosis.steps.0.step: 'look around' is not a diagnosis step of "
                                              "runbooks/moneypathduplicatechargedetected.md"),
    ("diagnosis.steps.0.expect", {"labels": {"provider": "acme"}}, "diagnosis.steps.0.expect: give at "
                                                                   "least one of"),
    ("diagnosis.steps.0.expect", {"nonempty": True, "often": 3}, "diagnosis.steps.0.expect.often: Extra inputs"),
    ("load.providers", {"initech": 1}, "load.providers.initech: not in the catalog's providers"),
    ("load.currencies", {"XXX": 1}, "load.currencies.XXX: not in the catalog's currencies"),
    ("load.rate", 0, "load.rate: Input should be greater than 0"),
    ("load.amounts", {"min": 10, "max": 5}, "load.amounts: min must not be larger than max"),
    ("steady_state.0.promql", "sum(rate(moneypath_no_such_metric_total[1m]))",
     "steady_state.0.promql: moneypath_no_such_metric_total is not a catalog metric"),
    ("tabletop.roles.operations", DELETE, "tabletop.roles: every drill gives a card to engineering, "
                                           "operations, compliance, customer_support; missing: operations"),
    ("recovery", DELETE, "(file): a drill with a fault needs recovery"),
    ("alerts.expected", [], "runbooks/drills/x.yaml: alerts.expected: a drill with a fault expects at least one alert"),
    ("surprise", 1, "runbooks/drills/x.yaml: surprise: Extra inputs are not permitted"),
    ("replica_dwon", [{"component": "prometheus", "replica": "b"}],
     "runbooks/drills/x.yaml: replica_dwon: Extra inputs are not permitted; did you mean replica_down?"),
    ("replica_down", [{"component": "prometheus", "replica": "b", "aftr": "2s"}],
     "runbooks/drills/x.yaml: replica_down.0.aftr: Extra inputs are not permitted; did you mean after?"),
    ("replica_down", [{"component": "promethues", "replica": "b"}],
     "runbooks/drills/x.yaml: replica_down.0.component: 'promethues' does not run in pairs (one of prometheus, "
     "alertmanager); did you mean prometheus?"),
    ("replica_down", [{"component": "prometheus", "replica": "2"}],
     "runbooks/drills/x.yaml: replica_down.0.replica: '2' is not a replica of the pair (one of a, b); did you mean b?"),
    ("replica_down", [{"component": "alertmanager", "replica": "prometheus-B"}],
     "replica_down.0.replica: 'prometheus-B' is not a replica of the pair (one of a, b); did you mean b?"),
    ("replica_down", [{"component": "alertmanager", "replica": "a"}, {"component": "alertmanager", "replica": "b"}],
     "runbooks/drills/x.yaml: replica_down.1.component: alertmanager is already killed by replica_down.0: with both "
     "replicas down nothing pages"),
    ("replica_down", [{"component": "prometheus", "replica": "b", "after": "90s"}],
     "runbooks/drills/x.yaml: replica_down.0.after: 90 s is not before the fault ends (60 s)"),
]


@pytest.mark.parametrize("key, value, expected", BAD, ids=[b[0] for b in BAD])
def test_bad_drill_names_file_and_key(catalog, tmp_path, key, value, expected):
    path = variant(tmp_path, set_field(key, value))
    with pytest.raises(DrillError) as err:
        load_drill(path, catalog, tmp_path)
    problems = unlined(err.value.problems, path, "runbooks/drills/x.yaml")  # each names the line of its key
    assert any(expected in line for line in problems), problems


def test_not_yaml_and_missing_file(catalog, tmp_path):
    path = tmp_path / "runbooks" / "drills" / "broken.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("title: x\nload: [1\n")
    with pytest.raises(DrillError) as err:
        load_drill(path, catalog, tmp_path)
    assert err.value.problems[0].startswith("runbooks/drills/broken.yaml: (file): not valid YAML at line 2:")
    path.write_text("title: x\nrunbook\nload: {rate: 1}\n")  # a key without its colon, noticed a line later
    with pytest.raises(DrillError) as err:
        load_drill(path, catalog, tmp_path)
    assert err.value.problems == ["runbooks/drills/broken.yaml: (file): not valid YAML at line 2: could not find "
                                  "expected ':'"]
    with pytest.raises(DrillError) as err:
        load_drill(tmp_path / "runbooks" / "drills" / "gone.yaml", catalog, tmp_path)
    assert err.value.problems == ["runbooks/drills/gone.yaml: (file): no such file"]


def test_lint_reports_a_bad_drill_file(catalog, tmp_path):
    path = variant(tmp_path, set_field("fault.params.rate", -1))
    problems = check_drill_files(catalog, tmp_path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith("rate: -1"))
    assert problems == [f"runbooks/drills/x.yaml:{line}: fault.params.rate: must be a number from 0 to 1"]


def test_drill_check_command(catalog, tmp_path, capsys):
    bad = variant(tmp_path, set_field("fault.params.rate", 5))

    class Args:
        files = [str(GOOD), str(bad)]
        catalog = str(ROOT / "moneypath.yaml")

    assert _check(Args) == 2
    out, err = capsys.readouterr()
    assert "runbooks/drills/duplicate-charge.yaml: OK" in out
    assert "fault.params.rate: must be a number from 0 to 1" in err and "Traceback" not in err


@pytest.mark.parametrize("old, new, expected", [
    ("target: knet", "target: knett", "fault.target: error_rate hits one provider: one of komoju, knet; did you mean "
                                      "knet?"),
    ("providers: {komoju: 1, knet: 1}", "providers: {komojo: 1, knet: 1}",
     "load.providers.komojo: not in the catalog's providers (komoju, knet); did you mean komoju?"),
    ("  - alert: ProviderPartialOutage", "  - alert: ProviderPartialOutgae",
     "alerts.expected.0.alert: 'ProviderPartialOutgae' is not an alert the catalog generates; did you mean "
     "ProviderPartialOutage?"),
    ("    - AuthorizationLatencyBudgetBurn", "    - ShopAuthorizationLatencyBudgetBrun",
     "alerts.allowed.1: 'ShopAuthorizationLatencyBudgetBrun' is not an alert the catalog generates; did you mean "
     "ShopAuthorizationLatencyBudgetBurn?"),
    ("runbook: ProviderPartialOutage", "runbook: ProvderPartialOutage", "; did you mean ProviderPartialOutage?"),
    ("labels: {provider: knet}", "labels: {provider: kent}", "alerts.expected.0.labels.provider: 'kent' is not a "
                                                            "catalog provider (komoju, knet); did you mean knet?"),
    ("name: error_rate", "name: eror_rate", "; did you mean error_rate?"),
    # an expectation written as a mapping is named by its key, one in a list by its index
    ("expect: {nonempty: true, below: 0.05}", "expect: {nonempty: true, below: half}",
     "recovery.checks.0.expect.below: Input should be a valid number"),
    ("- {labels: {provider: knet}, above: 0.05}", "- {labels: {provider: knet}, above: lots}",
     "diagnosis.steps.0.expect.0.above: Input should be a valid number"),
])
def test_an_unknown_name_in_a_drill_suggests_the_catalogs(shop_project, old, new, expected):
    from moneypath.catalog import load_catalog

    path = shop_project / "runbooks" / "drills" / "knet-partial-outage.yaml"
    text = (ROOT / "tests" / "foreign" / "drills" / "knet-partial-outage.yaml").read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DrillError) as err:
        load_drill(path, load_catalog(shop_project / "moneypath.yaml"), shop_project)
    assert any(expected in line for line in err.value.problems), err.value.problems


@pytest.mark.parametrize("key, value, expected", [
    ("steady_state.1.if_not_measured", "maybe", "steady_state.1.if_not_measured: 'maybe' is not fail or pass (fail: "
                                                "a check that measured nothing fails the drill; pass: it is skipped, "
                                                "shown as not measured)"),
    ("if_not_measured", {"detected": "skip"}, "if_not_measured.detected: 'skip' is not fail or pass"),
    ("if_not_measured", {"ledger_balance": "pass"}, "if_not_measured: 'ledger_balance' is not an objective or money "
                                                    "check; did you mean ledger_balanced?"),
])
def test_a_wrong_if_not_measured_is_one_line_with_file_line_and_key(catalog, tmp_path, key, value, expected):
    path = variant(tmp_path, set_field(key, value))
    with pytest.raises(DrillError) as err:
        load_drill(path, catalog, tmp_path)
    [line] = err.value.problems
    assert re.fullmatch(r"runbooks/drills/x\.yaml:\d+: .*", line) and expected in line and "\n" not in line, line
    number, named = int(line.split(":")[1]), line.split(": ")[1].split(".")[-1]  # the line holds the key it names
    assert path.read_text().splitlines()[number - 1].strip().startswith(f"{named}:")
