"""The healthy peak on a target without the headroom for it, and with a broken LoadShedding rule, on one local
stack the test starts: a costlier release (the request_cost fault) leaves the service a fraction of the peak,
and the drill, probing when asked (target.probe_headroom), says "not measured" with the figures (exit 3) instead of
failing on the machine; without the fault but with LoadShedding firing on nothing, the drill fails (exit 1)."""

from __future__ import annotations

import json
import os
from unittest import mock

import httpx
import pytest
import yaml

from moneypath.check.drill_files import load_drill
from moneypath.cli import main
from moneypath.drills.runner import local_stack
from moneypath.stack import local as stack
from tests.conftest import ROOT
from tests.support.drill_files import variant

pytestmark = pytest.mark.integration
DRILLS = ROOT / "runbooks" / "drills"


@pytest.fixture
def project(tmp_path):
    """The healthy-peak drill with a short baseline, beside the catalog and runbooks it names."""
    def shorter(doc):
        doc["load"]["baseline"] = "6s"
        doc["load"]["peak"]["duration"] = "10s"

    return variant(tmp_path, shorter, DRILLS / "healthy-baseline-peak.yaml", "healthy-peak.yaml", catalog=True)


@pytest.fixture
def target(catalog, tmp_path, monkeypatch):
    state = (tmp_path / "stack").resolve()
    drill = load_drill(DRILLS / "healthy-baseline-peak.yaml", catalog, ROOT)
    started = local_stack(catalog, drill, state, say=lambda _: None)
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", stack.read_secrets(state)["token_secret"])
    try:
        yield started, state
    finally:
        stack.down(state, progress=lambda *_: None)


def run(drill, target, reports, *extra, probe: bool = False) -> tuple[int, dict]:
    # target.probe_headroom: the environment or moneypath.run.yaml
    with mock.patch.dict(os.environ, {"MONEYPATH_PROBE_HEADROOM": "1" if probe else "0"}):
        code = main(["drill", "run", str(drill), "--catalog", str(drill.parents[2] / "moneypath.yaml"),
                     "--target-service", target.service, "--target-prometheus", target.prometheus,
                     "--target-providersim", target.providersim, "--target-pager", target.pager,
                     "--target-alertmanager", target.alertmanager, "--db-url", target.db_url,
                     "--time-factor", "60", "--reports", str(reports), "--no-history", *extra])
    (journal,) = [json.loads(p.read_text()) for p in reports.glob("*/journal.json")]
    return code, journal


@pytest.mark.alone  # the probe measures what this machine serves: another worker's test beside it sheds the probe
def test_no_headroom_is_not_measured_and_a_broken_shedding_rule_still_fails(project, target, tmp_path, capsys):
    started, state = target
    admin = {"authorization": f"Bearer {started.admin_token}"}
    # ~20 ms per request: about 40 requests/s, some 22 payments/s, so the peak (40/s at the least) is out of reach
    # while the baseline (8/s, some 15 requests/s with its captures) keeps clear of shedding on a slower minute
    httpx.put(f"{started.service}/admin/faults/request_cost", json={"extra_ms": 20}, headers=admin,
              timeout=10).raise_for_status()
    code, journal = run(project, started, tmp_path / "costly", probe=True)
    out = capsys.readouterr().out
    headroom = next(o for o in journal["objectives"] if o["name"] == "headroom")
    assert code == 3 and journal["verdict"] == "not measured", out
    assert headroom["status"] == "not measured" and "the peak needs 40/s at the least" in headroom["reason"]
    assert "peak load" not in out and "NOT MEASURED" in out
    httpx.delete(f"{started.service}/admin/faults/request_cost", headers=admin, timeout=10).raise_for_status()

    rules_file = state / "alert-rules.yaml"
    doc = yaml.safe_load(rules_file.read_text())
    shedding = next(r for g in doc["groups"] for r in g["rules"] if r.get("alert", "").endswith("LoadShedding"))
    shedding["expr"] = "vector(1) > 0"  # broken: fires on nothing
    rules_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    httpx.post(f"{started.prometheus}/-/reload", timeout=10).raise_for_status()
    code, journal = run(project, started, tmp_path / "broken", probe=True)
    out = capsys.readouterr().out
    assert code == 1 and journal["verdict"] == "fail", out
    ok = {o["name"]: o["status"] for o in journal["objectives"]}
    assert ok["headroom"] == "pass" and "fail" in (ok["steady_state_before"], ok["no_unexpected_pages"]), ok
