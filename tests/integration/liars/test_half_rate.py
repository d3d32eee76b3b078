"""The liar: a service that cannot carry the drill's rate. A costlier release (the reference service's request_cost
fault: every request holds its event loop 300 ms longer) carries a fraction of the provider-outage drill's planned
payments, so ProviderPartialOutage's event floor (10 globex calls in its 5 s window at 60x) is out of reach and
the alert cannot fire. The drill must say so: detection not measured, with the delivered rate, never a pass and
never the alert's failure (drills/floor_reach.py)."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from moneypath.cli import main
from tests.conftest import ROOT
from tests.support.drill_files import variant
from tests.support.liar_drills import drill_stack

pytestmark = pytest.mark.integration
OUTAGE = ROOT / "runbooks" / "drills" / "provider-partial-outage.yaml"
EXTRA_MS = 300  # a loop held 300 ms longer per request (1.8 requests a payment): about 1 payment/s
DELIVERED = re.compile(r"not measured: the drill delivered (\d+) of (\d+) planned payments \(([\d.]+)/s of 8/s\): "
                       r"\w+ProviderPartialOutage's 5 s window held ([\d.]+) events for provider globex, under its "
                       r"floor of 10 — the alert could not fire")


@pytest.fixture
def project(tmp_path):
    """The drill as a team would write it for a slower service: 8 payments/s (4/s to globex: what the floor needs
    at 99 %), two in flight, a steady state that holds at any rate the service carries."""
    def edit(doc):
        doc["load"].update(rate=8, baseline="6s", concurrency=2)
        doc["steady_state"][0]["expect"] = {"min": 0.5}
        doc["recovery"]["within"] = "20s"
        doc["alerts"]["allowed"].append("LoadShedding")  # a service this slow sheds what it cannot carry: it says so

    return variant(tmp_path, edit, OUTAGE, "slow-service.yaml", catalog=True)


@pytest.fixture
def target(catalog, tmp_path, monkeypatch):
    with drill_stack(catalog, OUTAGE, tmp_path / "stack", monkeypatch) as started:
        yield started


def test_a_service_at_a_fraction_of_the_rate_leaves_detection_not_measured(project, target, tmp_path, capsys):
    admin = {"authorization": f"Bearer {target.admin_token}"}
    httpx.put(f"{target.service}/admin/faults/request_cost", json={"extra_ms": EXTRA_MS}, headers=admin,
              timeout=10).raise_for_status()
    reports = tmp_path / "reports"
    code = main(["drill", "run", str(project), "--catalog", str(project.parents[2] / "moneypath.yaml"),
                 "--target-service", target.service, "--target-prometheus", target.prometheus,
                 "--target-providersim", target.providersim, "--target-pager", target.pager,
                 "--target-alertmanager", target.alertmanager, "--db-url", target.db_url,
                 "--time-factor", "60", "--reports", str(reports), "--no-history"])
    out = capsys.readouterr().out
    (journal,) = [json.loads(p.read_text()) for p in reports.glob("*/journal.json")]
    objectives = {o["name"]: o for o in journal["objectives"]}
    detected = objectives["detected"]
    print(f"detected: {detected['reason']}")
    assert detected["status"] == "not measured", detected
    found = DELIVERED.search(detected["reason"])
    assert found, detected["reason"]
    sent, planned, rate, held = int(found[1]), int(found[2]), float(found[3]), float(found[4])
    print(f"sent-to-planned {sent}/{planned} = {sent / planned:.2f}; window held {held:g}")
    assert sent < planned / 2 and rate < 4 and held < 10
    assert journal["verdict"] == "not measured" and code == 3, out
    assert not any(o["status"] == "fail" for o in journal["objectives"]), objectives
    load = journal["load"]
    print(f"load: {json.dumps(load)}")
