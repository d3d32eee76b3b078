"""The pager down for the whole drill: "no unexpected pages" must not read pass on pages nobody could read. A
healthy baseline (no fault) on a real local stack, run with a closed loopback port as its pager."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.support.drill_files import variant
from tests.support.liar_drills import closed_port, drill_run, drill_stack, objectives

pytestmark = pytest.mark.integration
SOURCE = ROOT / "runbooks" / "drills" / "healthy-baseline-peak.yaml"


def _baseline_only(doc):
    doc["load"]["baseline"] = "6s"
    doc["load"]["peak"] = {"rate": 8, "duration": "4s"}  # a drill without a fault watches a peak: the baseline's
    doc["diagnosis"]["within"] = "6s"


@pytest.fixture
def target(catalog, tmp_path, monkeypatch):
    with drill_stack(catalog, SOURCE, tmp_path / "stack", monkeypatch) as started:
        yield started


def test_nothing_paged_is_not_measured_while_the_pager_does_not_answer(tmp_path, target, capsys):
    drill = variant(tmp_path / "project", _baseline_only, SOURCE, "baseline-pager-down.yaml", catalog=True)
    port = closed_port()
    code, journal = drill_run(drill, target, tmp_path / "reports", pager=f"http://127.0.0.1:{port}")
    out = capsys.readouterr().out
    quiet = objectives(journal)["no_unexpected_pages"]
    assert objectives(journal)["steady_state_before"]["status"] == "pass", out  # the stack itself was healthy
    assert quiet["status"] == "not measured", quiet
    reads = quiet["reason"].removeprefix(f"not measured: the pager at 127.0.0.1:{port} did not answer ")
    failed, of, total, rest = reads.split(" ", 3)
    assert of == "of" and failed == total and int(total) >= 5, quiet["reason"]
    assert rest.startswith("reads (last: ConnectError: "), quiet["reason"]
    assert journal["verdict"] != "pass" and code == 3, out
    assert "0 pages" not in out and "verdict: NOT MEASURED" in out, out
    [report] = (tmp_path / "reports").glob("*/report.md")
    shown = quiet["reason"].replace("[", "\\[").replace("]", "\\]")  # markdown escapes
    row = f"| no unexpected pages | _not measured_ | {shown} |"
    assert row in report.read_text().splitlines()
