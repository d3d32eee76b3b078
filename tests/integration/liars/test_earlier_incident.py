"""An earlier incident in the diagnosis window: Globex failed by hand (the simulator's fault API) under traffic, was
cleared, then a drill whose own fault is on Acme runs the runbook's step that finds Globex's errors. The runbook's
`[5m]` still holds the earlier incident at Prometheus; the drill must judge the step on its own window (scaled to
the 60x stack, cut to the drill), find no Globex error, and not pass."""

from __future__ import annotations

import time

import httpx
import pytest

from moneypath.check.drill_files import load_drill
from moneypath.drills.baseline_load import Load, Mix, major_text
from moneypath.drills.context import api_headers
from tests.conftest import ROOT
from tests.support.drill_files import variant
from tests.support.liar_drills import drill_run, drill_stack, objectives

pytestmark = pytest.mark.integration
SOURCE = ROOT / "runbooks" / "drills" / "provider-partial-outage.yaml"
STEP = "outcomes per provider and operation"


def _acme_fault_globex_step(doc):
    doc["load"]["baseline"] = "5s"
    doc["fault"] = {"where": "providersim", "name": "error_rate", "target": "acme", "params": {"rate": 0.3},
                    "duration": "5s"}
    doc["alerts"] = {"allowed": ["ProviderPartialOutage", "AuthorizationAvailabilityBudgetBurn",
                                 "AuthorizationLatencyBudgetBurn"], "must_not_page": ["*"]}
    doc["diagnosis"] = {"within": "5s", "steps": [{"step": STEP, "expect": {"labels": {"provider": "globex",
                                                                                        "outcome": "error"},
                                                                             "above": 0}}]}
    doc["recovery"] = {"within": "10s", "alerts_resolved": False, "checks": doc["recovery"]["checks"]}


@pytest.fixture
def target(catalog, tmp_path, monkeypatch):
    with drill_stack(catalog, SOURCE, tmp_path / "stack", monkeypatch) as started:
        yield started


def _incident_by_hand(catalog, target, seconds: float = 4.0) -> None:
    """Globex fails a quarter of its calls while payments flow (too few in a row to open its circuit), then the
    fault is cleared: what on-call did an hour (here: seconds) before the drill."""
    admin = {"authorization": f"Bearer {target.admin_token}"}
    url = f"{target.providersim}/admin/faults/error_rate"
    httpx.put(url, json={"provider": "globex", "rate": 0.25, "duration_s": 60}, headers=admin,
              timeout=10).raise_for_status()
    spec = load_drill(SOURCE, catalog, ROOT).load
    mix = Mix(spec.providers, spec.currencies, dict(spec.methods), *spec.amount_range, spec.capture)
    load = Load(target.services, api_headers(spec.requests, target.payments_token), spec.requests, mix, 10,
                major_text(catalog), spec.in_flight_cap, prefix="by-hand")
    load.start()
    time.sleep(seconds)
    load.stop()
    httpx.delete(url, params={"provider": "globex"}, headers=admin, timeout=10).raise_for_status()


def _globex_errors(result: list[dict]) -> bool:
    return any(r["metric"].get("provider") == "globex" and r["metric"].get("outcome") == "error"
               and float(r["value"][1]) > 0 for r in result)


def test_the_diagnosis_is_judged_on_the_drills_own_window_not_an_earlier_incident(catalog, tmp_path, target, capsys):
    _incident_by_hand(catalog, target)
    raw = next(s for s in load_drill(SOURCE, catalog, ROOT).runbook_steps.values() if s["name"] == STEP)["promql"]
    deadline, earlier = time.monotonic() + 10, []
    while not _globex_errors(earlier) and time.monotonic() < deadline:  # the last scrape of the incident
        time.sleep(0.5)
        earlier = httpx.get(f"{target.prometheus}/api/v1/query", params={"query": raw},
                            timeout=10).json()["data"]["result"]
    assert _globex_errors(earlier), earlier  # the runbook's raw [5m] holds the earlier incident

    drill = variant(tmp_path / "project", _acme_fault_globex_step, SOURCE, "acme-after-globex.yaml", catalog=True)
    code, journal = drill_run(drill, target, tmp_path / "reports")
    out = capsys.readouterr().out
    [step] = journal["evidence"]
    assert step["window"] == "ranges ÷60 ([5m] → [5s])" and "[5m]" not in step["query"], step
    assert step["ok"] is False, step
    lines = [e["text"] for e in journal["timeline"] if e["kind"] == "diagnosis"]
    assert lines and lines[0].startswith(f"no evidence yet: {STEP} → "), lines
    assert lines[0].endswith(" (window: ranges ÷60 ([5m] → [5s]))"), lines
    diagnosed = objectives(journal)["diagnosed"]
    assert diagnosed["status"] == "fail", diagnosed
    assert diagnosed["reason"].startswith(f"1 of 1 runbook step(s) found no evidence by the deadline (5 s); first: "
                                          f"'{STEP}': "), diagnosed["reason"]
    assert journal["verdict"] == "fail" and code == 1, out
