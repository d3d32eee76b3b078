"""The generated readiness rules under `promtool test rules`: ReadinessLapsed fires once a pass is older than its
policy and for a paging alert never rehearsed; TimeToPageCreeping fires exactly where moneypath.check.rehearsals'
trend says "creeping" (the same cases fed to both), and never on fewer runs than the rule compares."""

from __future__ import annotations

import re

import pytest

from moneypath._common.verdict import FAIL
from moneypath.catalog.conventions import READINESS_METRICS, AlertKey
from moneypath.check.rehearsals import trend
from moneypath.generate.build import rules_yaml
from moneypath.generate.readiness_rules import GROUP
from moneypath.generate.rules import alert_rules
from tests.support.promtool_rules import promtool

pytestmark = pytest.mark.integration

# (times to page newest first, deadline or None)
TREND_CASES = {
    "within": ([600, 610, 620], 1800),
    "over_deadline": ([2000, 1900, 100], 1800),
    "slower": ([1000, 900, 950, 600, 610, 620], None),
    "just_within_half": ([900, 900, 900, 600, 610, 620], None),
    "two_runs": ([5000, 5000], 1800),
    "slower_and_late": ([4000, 4100, 3900, 600, 610, 620], 1800),
}


@pytest.fixture
def rule_file(catalog, tmp_path):
    groups = [g for g in alert_rules(catalog)["groups"] if g["name"] == GROUP]
    path = tmp_path / "readiness.rules.yaml"
    path.write_text(rules_yaml({"groups": groups}))
    return str(path)


def fired(result) -> list[tuple[str, dict[str, str]]]:
    """(eval time, labels) of every alert promtool got where the test expected none."""
    out = []
    for block in (result.stdout + result.stderr).split("alertname: ")[1:]:
        at = block.split("time: ", 1)[1].split(",", 1)[0]
        for labels in re.findall(r"Labels:\{([^}]*)\}", block.split("got:", 1)[1]):
            out.append((at, dict(re.findall(r'(\w+)="([^"]*)"', labels))))
    return out


def series(catalog, which: str, alert: str, values: str, **labels: str) -> dict:
    extra = "".join(f', {k}="{v}"' for k, v in labels.items())
    return {"series": f'{READINESS_METRICS[which]}{{service="{catalog.service}", alert="{alert}", job="readiness",'
                      f' instance="127.0.0.1:9479"{extra}}}', "values": values}


def test_a_pass_older_than_its_policy_and_a_never_rehearsed_alert_ticket(catalog, rule_file, tmp_path):
    lapsed = catalog.alert_name(AlertKey.READINESS_LAPSED)
    inputs = [series(catalog, "policy", "Stale", "3600x100"), series(catalog, "last_pass", "Stale", "0x100"),
              series(catalog, "policy", "Never", "3600x100"),
              series(catalog, "policy", "Fresh", "3600x100"), series(catalog, "last_pass", "Fresh", "3000+60x100")]
    checks = [{"eval_time": t, "alertname": lapsed, "exp_alerts": []} for t in ("50m", "70m")]
    result = promtool(tmp_path, [{"interval": "1m", "input_series": inputs, "alert_rule_test": checks}],
                      rule_files=[rule_file])
    got = {(at, labels["alert"], labels["reason"], labels["severity"]) for at, labels in fired(result)}
    assert got == {("50m", "Never", "never_rehearsed", "ticket"), ("1h10m", "Never", "never_rehearsed", "ticket"),
                   ("1h10m", "Stale", "stale", "ticket")}, result.stdout  # Fresh passed 60 s before each eval


def test_time_to_page_creeping_agrees_with_the_trend_rule(catalog, rule_file, tmp_path):
    creeping = catalog.alert_name(AlertKey.TIME_TO_PAGE_CREEPING)
    inputs = []
    for name, (times, deadline) in TREND_CASES.items():
        inputs += [series(catalog, "time_to_page", name, f"{t}x10", run=str(i)) for i, t in enumerate(times, 1)]
        if deadline is not None:
            inputs.append(series(catalog, "page_deadline", name, f"{deadline}x10"))
    result = promtool(tmp_path, [{"interval": "1m", "input_series": inputs,
                                  "alert_rule_test": [{"eval_time": "5m", "alertname": creeping, "exp_alerts": []}]}],
                      rule_files=[rule_file])
    got = {labels["alert"]: set() for _, labels in fired(result)}
    for _, labels in fired(result):
        got[labels["alert"]].add(labels["reason"])
    expected = {name for name, (times, deadline) in TREND_CASES.items() if trend(times, deadline, 3, 0.5)[0] == FAIL}
    assert set(got) == expected == {"over_deadline", "slower", "slower_and_late"}, result.stdout
    assert got["over_deadline"] == {"over_deadline"} and got["slower"] == {"slower_than_before"}
    assert got["slower_and_late"] == {"over_deadline", "slower_than_before"}
