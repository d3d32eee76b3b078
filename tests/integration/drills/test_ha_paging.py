"""Half the monitoring down, pages still arrive, once: a drill with replica_down on `moneypath up --ha` (two
Prometheus replicas with the same rules, a two-node Alertmanager cluster gossiping on loopback) in front of
the reference service.

The shipped drill runbooks/drills/provider-outage-half-monitoring.yaml, with shorter waits, kills the
Prometheus the drill reads (replica a: it must switch to the survivor) and the first Alertmanager node as a
Globex outage starts. The page still arrives through the survivors, once per alert group, within
the drill's single-stack deadline plus one evaluation interval; the pager's watchdog shows replica a silent
while b beats on; the killed parts are restarted and the report says all of it.
"""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from moneypath.check.drill_files import load_drill
from moneypath.drills.runner import Operator, local_stack, run_drill
from moneypath.stack import local as stack
from moneypath.stack.spec import StackSpec
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
DRILL = ROOT / "runbooks" / "drills" / "provider-outage-half-monitoring.yaml"


def quicker(tmp_path):
    """The shipped drill with the waits a test can afford: a short baseline, recovery without waiting for the
    alert to resolve; and the Prometheus the drill reads is the one that dies."""
    doc = yaml.safe_load(DRILL.read_text())
    doc["load"]["baseline"] = "6s"
    doc["load"]["requests"] = str(DRILL.parent / doc["load"]["requests"])
    doc["recovery"]["alerts_resolved"] = False
    doc["replica_down"][0]["replica"] = "a"
    path = tmp_path / "runbooks" / "drills" / DRILL.name
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_page_arrives_once_with_one_prometheus_and_one_alertmanager_killed_by_the_drill(catalog, tmp_path):
    drill = load_drill(quicker(tmp_path), catalog, ROOT)
    state_dir = tmp_path / "stack"
    reports = tmp_path / "reports"
    lines: list[str] = []
    try:
        target = local_stack(catalog, drill, state_dir, say=lines.append, shape=StackSpec(ha=True))
        first_prom = target.prometheus
        result = run_drill(drill, catalog, target, reports, operator=Operator(lines.append))
        out = "\n".join(lines)
        j = result.journal
        objectives = {o["name"]: o for o in j["objectives"]}
        assert result.verdict == "pass", [o for o in j["objectives"] if not o["ok"]]
        for name in ("replica_down", "paged_once", "watchdog", "restored", "detected"):
            assert objectives[name]["ok"], objectives[name]

        kills = {(k["component"], k["replica"]): k for k in j["ha"]["kills"]}
        assert set(kills) == {("prometheus", "a"), ("alertmanager", "a")}
        injected = j["fault"]["injected_at"]
        for k in kills.values():
            assert 0 <= k["killed_at"] - injected < 3 and k["restarted_at"] > k["killed_at"]
        assert "the drill reads Prometheus replica b" in out  # the one it read died: it follows the survivor

        alert = catalog.alert_name("ProviderPartialOutage")
        group = next(g for g in j["ha"]["groups"] if g["expected"])
        assert group["alert"] == alert and group["labels"]["provider"] == "globex" and group["duplicates"] == []
        assert group["paged_s"] <= group["allowed_s"] == group["single_stack_s"] + j["ha"]["evaluation_interval_s"]
        assert all(g["duplicates"] == [] for g in j["ha"]["groups"])

        # the pager's own record: one notification per change of the group, none carries the replica label
        pages = httpx.get(f"{target.pager}/pages", params={"alertname": alert}, timeout=5).json()
        firing = [p for p in pages if p["status"] == "firing" and p["labels"].get("provider") == "globex"]
        assert firing and not [p for p in pages if "replica" in p["labels"]]
        sent = sorted({(p["group_key"], p["received_at"]) for p in firing}, key=lambda s: s[1])
        assert len(sent) == group["firing"]

        prom_a = kills[("prometheus", "a")]
        assert prom_a["late_at"] and prom_a["last_beat_at"] < prom_a["late_at"]
        assert "kept beating" in j["ha"]["heartbeats"]["b"]["text"] and j["ha"]["heartbeats"]["b"]["ok"]
        rows = {name: ok for name, _, ok, _ in stack.status(state_dir)}
        assert rows["prometheus"] and rows["alertmanager"] and rows["prometheus-b"]  # whole again
        assert httpx.get(f"{first_prom}/-/ready", timeout=5).status_code == 200

        report = (reports / next(p.parent.name for p in reports.glob("*/journal.json")) / "report.md").read_text()
        assert "Half the monitoring down" in report and "exactly once" in report and "DUPLICATE" not in report
        assert json.loads((reports / next(p.parent.name for p in reports.glob("*/journal.json")) /
                           "journal.json").read_text())["ha"]["kills"]
        print(f"\n{alert} paged {group['paged_s']} s after the fault with Prometheus a and Alertmanager a killed "
              f"as it started (single-stack deadline {group['single_stack_s']:.0f} s); replica a late at the pager "
              f"{prom_a['late_at'] - prom_a['killed_at']:.1f} s after its kill")
    finally:
        stack.down(state_dir, progress=lambda *_: None)
