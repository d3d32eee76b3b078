"""Rule files for the lint tests: a root with both rule files and a stub runbook page per alert (`_rules_only`,
autouse where imported, keeps the real runbook checks off those stubs: test_runbooks.py checks the pages)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from moneypath.check.lint import ALERTS_FILE, RECORDING_FILE

# The SLO windows are 30d, so the generated rules need at least 30 days of retention (Prometheus keeps 15d by default).
RETENTION = "30d"
A = ALERTS_FILE
R = RECORDING_FILE
GOOD_EXPR = "sum(rate(moneypath_authorizations_total[5m])) <= 0"

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")


@pytest.fixture(autouse=True)
def _rules_only(monkeypatch):
    """These tests write stub runbook pages; the pages themselves are checked in test_runbooks.py."""
    monkeypatch.setattr("moneypath.check.lint.check_runbooks", lambda catalog, root, **kw: [])


def alert(name="MoneyPathTest", expr=GOOD_EXPR, severity="page", **annotations):
    return {"alert": name, "expr": expr, "labels": {"severity": severity},
            "annotations": {"summary": "s", "description": "d", "runbook_url": f"https://x/runbooks/{name.lower()}.md",
                            "dashboard_url": "http://x/d/overview", **annotations}}


def record(name="job:test:rate5m", expr=GOOD_EXPR, **labels):
    return {"record": name, "expr": expr, **({"labels": labels} if labels else {})}


def make_root(tmp_path, alerts=(), records=(), runbooks=True):
    """A root with both rule files and, unless told otherwise, a runbook page for every alert."""
    for rel, rules in ((A, list(alerts) or [alert()]), (R, list(records) or [record()])):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}, sort_keys=False))
    (tmp_path / "runbooks").mkdir()
    if runbooks:
        for rule in alerts or [alert()]:
            (tmp_path / "runbooks" / rule["annotations"]["runbook_url"].rsplit("/", 1)[1]).write_text("# runbook\n")
    return tmp_path
