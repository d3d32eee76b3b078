"""`moneypath demo`'s lanes on real stacks: two light drills run at once, each in its own `drill run` process,
and a drill with a peak runs alone; every line shows after its drill's name; the results come back in the
order given, from the journals the processes wrote."""

from __future__ import annotations

import shutil

import pytest

from moneypath.catalog import load_catalog
from moneypath.check.drill_files import load_drill
from moneypath.drills.lanes import run_in_lanes
from moneypath.readiness.history import walk
from moneypath.readiness.records import Recorder
from tests.conftest import ROOT
from tests.support.drill_files import variant

pytestmark = pytest.mark.integration
DRILLS = ROOT / "runbooks" / "drills"


@pytest.fixture
def project(tmp_path):
    def shorter(doc):  # and a peak this machine carries beside another worker's test (3x the baseline, not 10x)
        doc["load"]["baseline"], doc["load"]["peak"]["duration"] = "6s", "6s"
        doc["load"]["peak"]["rate"], doc["load"]["peak"]["headroom"]["min_multiple"] = 24, 3

    variant(tmp_path, shorter, DRILLS / "healthy-baseline-peak.yaml", "short-peak.yaml", catalog=True)
    for name in ("audit-chain-tampered", "provider-partial-outage"):
        shutil.copy(DRILLS / f"{name}.yaml", tmp_path / "runbooks" / "drills" / f"{name}.yaml")
    return tmp_path


def test_two_light_drills_share_the_time_and_a_peak_runs_alone(project, tmp_path):
    catalog = load_catalog(str(project / "moneypath.yaml"))
    names = ["audit-chain-tampered", "short-peak", "provider-partial-outage"]
    drills = [load_drill(project / "runbooks" / "drills" / f"{n}.yaml", catalog, project) for n in names]
    lines: list[str] = []
    history = tmp_path / "history"
    results = run_in_lanes(drills, catalog, tmp_path / "reports", tmp_path / "state", say=lines.append,
                           recorder=Recorder(history, "demo"))
    assert [r.drill for r in results] == names
    assert [r.verdict for r in results] == ["pass"] * 3, [(r.drill, r.report) for r in results if r.verdict != "pass"]
    spans = {r.drill: (r.journal["started_at"], r.journal["finished_at"]) for r in results}
    light = sorted(spans[n] for n in ("audit-chain-tampered", "provider-partial-outage"))
    assert light[1][0] < light[0][1]  # the second light drill started before the first ended
    peak = spans["short-peak"]
    assert all(end <= peak[0] or start >= peak[1] for n, (start, end) in spans.items() if n != "short-peak")
    shown = [line for line in lines if line]
    assert all(line.split(" │ ")[0] in names for line in shown if "history: recorded" not in line), shown[:5]
    assert any(line.startswith("short-peak │ ") and "headroom" in line for line in shown)
    chain = walk(history)  # recorded by this process from the journals, one after another: one unbroken chain
    assert chain.error is None and sorted(r["drill"] for r in chain.records) == sorted(names)
