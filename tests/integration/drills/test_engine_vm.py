"""A second rules engine, for real: the provider-outage and duplicate-charge drills through
`moneypath drill run --engine vm` (VictoriaMetrics scrapes and answers queries, vmalert evaluates the same
rule files and notifies the same Alertmanager). They must page the same receivers, with every objective
met, as they do through Prometheus (test_drills_e2e.py, the demo)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from moneypath.cli import main
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
DRILLS = ROOT / "runbooks" / "drills"


def test_the_outage_and_duplicate_charge_drills_page_through_vmalert(tmp_path, capsys, monkeypatch):
    reports = tmp_path / "reports"
    monkeypatch.setenv("MONEYPATH_ENGINE", "vm")  # the stack's shape: the environment or moneypath.run.yaml
    started = time.monotonic()
    code = main(["drill", "run", str(DRILLS / "provider-partial-outage.yaml"), str(DRILLS / "duplicate-charge.yaml"),
                 "--catalog", str(ROOT / "moneypath.yaml"), "--state-dir", str(tmp_path / "state"),
                 "--reports", str(reports)])
    out = capsys.readouterr().out
    print(f"\ntwo drills on vmalert in {time.monotonic() - started:.0f} s")
    journals = {p.parent.name.split("-2")[0]: json.loads(p.read_text()) for p in Path(reports).glob("*/journal.json")}
    assert set(journals) == {"provider-partial-outage", "duplicate-charge"}, out
    for name, j in journals.items():
        assert [o for o in j["objectives"] if not o["ok"]] == [], f"{name}\n{out}"
        print(f"{name}: detect {j['timings']['detect_s']} s, page {j['timings']['page_s']} s")
    outage = next(r for r in journals["provider-partial-outage"]["alerts"] if r["expectation"] == "expected")
    assert outage["receivers"] == ["payments-oncall"] and outage["paged_at"] and outage["resolved_at"]
    dup = next(r for r in journals["duplicate-charge"]["alerts"] if r["expectation"] == "expected")
    assert set(dup["receivers"]) == {"payments-oncall", "compliance"} and dup["resolved_at"]
    assert code == 0, out

