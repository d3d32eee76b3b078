"""Canary drill files (moneypath.canary.drill_file): the shipped ones validate against their catalogs, an incident
drill's reader never sees them, and every bad input is one line naming the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from moneypath.canary.drill_file import is_canary_drill, load_canary_drill, read_canary_drill
from moneypath.catalog import load_catalog
from moneypath.check.drill_files import check_drill_files
from moneypath.formats.drill import DrillError, canary_drill_files, drill_files
from tests.conftest import ROOT

GOOD = """\
kind: canary
title: Two releases
rate: 40
judge_every: 2s
load:
  providers: {acme: 1, globex: 1}
  currencies: {EUR: 1}
  amounts: {min: 500, max: 900}
  requests: {authorize: {path: /pay, id: id, outcome: state}, approved: [ok]}
releases:
  - name: slow
    faults:
      - {where: providersim, name: timeout_late_success, target: acme, params: {rate: 0.1, delay_s: 0.4}}
    expect: fail
    budget: 3m
  - name: good
    expect: pass
    budget: 4m
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runbooks" / "drills" / "canary.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _problems(tmp_path, text: str, catalog) -> list[str]:
    with pytest.raises(DrillError) as caught:
        load_canary_drill(_write(tmp_path, text), catalog, tmp_path)
    return caught.value.problems


def test_the_shipped_canary_drills_validate_and_are_no_incident_drills(catalog):
    shipped = ROOT / "runbooks" / "drills" / "canary-releases.yaml"
    assert canary_drill_files(ROOT) == [shipped] and shipped not in drill_files(ROOT)
    drill = load_canary_drill(shipped, catalog, ROOT)
    assert drill.weights == (0.5, 0.5)
    assert [(r.name, r.expect, r.first_occurrence) for r in drill.releases] == [
        ("latency", "fail", False), ("declines-acme", "fail", False), ("duplicate-capture", "fail", True),
        ("broken", "fail", False), ("slower", "fail", False), ("dearer", "fail", False), ("good", "pass", False)]
    faults = {r.name: {(f.where, f.name) for f in r.faults} for r in drill.releases}
    assert faults["slower"] == {("providersim", "latency")} and faults["dearer"] == {("service", "cost_increase")}
    shop = load_catalog(ROOT / "tests" / "foreign" / "moneypath.yaml")
    drill = load_canary_drill(ROOT / "tests" / "foreign" / "drills" / "canary-releases.yaml", shop, ROOT)
    assert {r.name: r.expect for r in drill.releases} == {"duplicate-charge": "fail", "good": "pass"}
    assert check_drill_files(catalog, ROOT, promtool=False) == []
    ops = ROOT / "tests" / "foreign" / "djangoshop" / "ops"
    django = load_canary_drill(ops / "runbooks" / "drills" / "canary-releases.yaml", load_catalog(ops / "moneypath.yaml"),
                               ROOT)
    assert {r.name: r.expect for r in django.releases} == {"slower": "fail", "dearer": "fail", "good": "pass"}
    assert django.weights == (0.5, 0.5) and all(f.where == "hook" for r in django.releases for f in r.faults)


def test_a_good_file_reads(tmp_path, catalog):
    drill = load_canary_drill(_write(tmp_path, GOOD), catalog, tmp_path)
    assert drill.name == "canary" and drill.path == "runbooks/drills/canary.yaml" and drill.judge_every == 2.0
    assert drill.releases[0].budget == 180 and drill.weight == 0.1
    assert is_canary_drill(_write(tmp_path, GOOD))


@pytest.mark.parametrize(("edit", "line", "key", "says"), [
    (("weight: 0.1\n", "weight: 1.5\n"), 4, "weight", "less than 1"),
    (("    expect: pass\n", "    expect: passed\n"), 18, "releases.1.expect", "'pass' or 'fail'"),
    (("    budget: 4m\n", "    budget: soon\n"), 19, "releases.1.budget", "not a duration"),
    (("  - name: good\n", "  - name: Good One\n"), 17, "releases.1.name", "pattern"),
    (("    expect: pass\n", "    expect: pass\n    first_occurrence: true\n"), 17, "releases.1",
     "only a release expected to fail"),
    (("judge_every: 2s\n", "judge_evry: 2s\n"), 5, "judge_evry", "did you mean judge_every"),
])
def test_a_bad_value_names_the_file_the_line_and_the_key(tmp_path, catalog, edit, line, key, says):
    text = GOOD.replace("rate: 40\n", "rate: 40\nweight: 0.1\n").replace(*edit)
    problems = _problems(tmp_path, text, catalog)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"runbooks/drills/canary.yaml:{line}: {key}: "), problems
    assert says in problems[0], problems


@pytest.mark.parametrize(("edit", "line", "key", "says"), [
    (("name: timeout_late_success", "name: timeout_late_succes"), 13, "releases.0.faults.0.name",
     "did you mean timeout_late_success"),
    (("target: acme", "target: initech"), 13, "releases.0.faults.0.target", "one of acme, globex"),
    (("{rate: 0.1, delay_s: 0.4}", "{rate: 0.1}"), 13, "releases.0.faults.0.params", "missing delay_s"),
    (("currencies: {EUR: 1}", "currencies: {XXX: 1}"), 7, "load.currencies.XXX", "not in the catalog"),
    (("{where: providersim, name: timeout_late_success, target: acme, params: {rate: 0.1, delay_s: 0.4}}",
      "{where: service, name: cost_increase, params: {factr: 1.2}}"), 13, "releases.0.faults.0.params",
     "missing factor; cost_increase takes no factr"),
])
def test_what_the_catalog_or_the_fault_api_lacks_is_one_line_with_its_line(tmp_path, catalog, edit, line, key, says):
    problems = _problems(tmp_path, GOOD.replace(*edit), catalog)
    assert len(problems) == 1 and says in problems[0], problems
    assert problems[0].startswith(f"runbooks/drills/canary.yaml:{line}: {key}: "), problems


def test_not_yaml_or_not_a_mapping_is_one_line(tmp_path):
    with pytest.raises(DrillError) as caught:
        read_canary_drill(_write(tmp_path, "kind: canary\ntitle: [unclosed\n"), tmp_path)
    assert caught.value.problems[0].startswith("runbooks/drills/canary.yaml: ") and "line" in caught.value.problems[0]
    with pytest.raises(DrillError) as caught:
        read_canary_drill(_write(tmp_path, "- kind: canary\n"), tmp_path)
    assert "a YAML mapping" in caught.value.problems[0]
    assert not is_canary_drill(_write(tmp_path, "- kind: canary\n"))


def test_a_policy_the_judge_would_refuse_is_one_line_with_its_line(tmp_path, catalog):
    pytest.importorskip("moneypath.catalog.canary_policy")  # the judge's policy model (moneypath.canary)
    text = GOOD.replace("judge_every: 2s\n", "judge_every: 2s\npolicy:\n  metrics: {decline_ratio: {min_efect: 0.1}}\n")
    problems = _problems(tmp_path, text, catalog)
    assert problems == ["runbooks/drills/canary.yaml:6: policy.metrics.decline_ratio.min_efect: Extra inputs are not "
                        "permitted"], problems


@pytest.mark.parametrize(("policy", "key", "says"), [
    ("{metrics: {decline_ration: {}}}", "policy.metrics.decline_ration", "unknown canary metric"),
    ("{metrics: {slow_authorizations: {threshold: 0.25}}}", "policy.metrics.slow_authorizations.threshold",
     "must be one of the bucket boundaries"),
    ("{metrics: {latency_shift: {shift: 0.02}}}", "policy.metrics.latency_shift.shift", "finer than the buckets"),
])
def test_a_policy_the_catalog_cannot_judge_is_one_line_with_its_line(tmp_path, catalog, policy, key, says):
    pytest.importorskip("moneypath.catalog.canary_policy")
    problems = _problems(tmp_path, GOOD.replace("judge_every: 2s\n", f"judge_every: 2s\npolicy: {policy}\n"), catalog)
    assert len(problems) == 1 and problems[0].startswith(f"runbooks/drills/canary.yaml:5: {key}: "), problems
    assert says in problems[0], problems
