"""Several drills and Ctrl-C (moneypath.drills.runner): journals and reports kept, summaries, exit 130."""

from __future__ import annotations

import json

import httpx

from moneypath.check.drill_files import load_drill
from moneypath.drills.endpoints import Target
from tests.conftest import ROOT
from tests.unit.drills.helpers import run_args

# ---------------------------------------------------------------- Ctrl-C and several drills


def test_ctrl_c_keeps_the_journal_and_report_of_what_happened(catalog, tmp_path, monkeypatch):
    from moneypath.drills import runner

    deletes = []

    def phases(self):
        self.http.close()
        self.http = httpx.Client(transport=httpx.MockTransport(
            lambda request: deletes.append(request.method) or httpx.Response(200, json={})))
        self.faults.inject()
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.DrillRun, "_run_phases", phases)
    drill = load_drill(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml", catalog, ROOT)
    target = Target(service="http://127.0.0.1:9", prometheus="http://127.0.0.1:9", providersim="http://sim",
                    pager="http://127.0.0.1:9", admin_token="t", time_factor=60)
    result = runner.run_drill(drill, catalog, target, tmp_path, operator=runner.Operator(lambda _: None))
    assert result.interrupted and result.verdict == "fail"
    assert deletes == ["PUT", "DELETE"]  # the fault was cleared
    journal_path = next(tmp_path.glob("duplicate-charge-*/journal.json"))
    journal = json.loads(journal_path.read_text())
    assert journal["interrupted"] is True and journal["fault"]["cleared_at"] is not None
    assert journal["root"] == str(ROOT)  # the runbook link in the report is resolved against it
    assert journal["objectives"][0] == {"name": "interrupted", "ok": False,
                                        "reason": "the drill was interrupted (Ctrl-C) before it finished",
                                        "status": "fail", "if_not_measured": "fail"}
    md = (journal_path.parent / "report.md").read_text()
    assert "interrupted (Ctrl-C stopped the drill) | ❌ **fail**" in md
    assert (journal_path.parent / "index.html").exists()
    pngs = list(journal_path.parent.glob("plot-*.png"))  # the default key signals and the drill's plots, even empty
    assert len(pngs) == 3 + len(drill.plots) and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)


def _result(name, verdict="pass", interrupted=False):
    from moneypath.drills.runner import Result

    return Result(name, verdict, {"detect_s": 3.2, "page_s": 4.0, "diagnose_s": None, "recover_s": 20.6},
                  f"reports/{name}/report.md", interrupted=interrupted)


def test_a_stack_that_does_not_start_fails_its_drill_and_the_next_runs(catalog, tmp_path, monkeypatch):
    from moneypath.drills import runner
    from moneypath.stack import local as stack

    drills = [load_drill(ROOT / "runbooks" / "drills" / f"{n}.yaml", catalog, ROOT)
              for n in ("duplicate-charge", "fraud-spike", "settlement-mismatch")]
    started, stopped = [], []

    def local_stack(catalog, drill, state_dir, say, topology=None):
        started.append(state_dir.name)
        if state_dir.name == "duplicate-charge":
            raise stack.StackError("prometheus exited at start;\nsee prometheus.log")
        return state_dir.name

    monkeypatch.setattr(runner, "local_stack", local_stack)
    monkeypatch.setattr(stack, "down", lambda state_dir, **kw: stopped.append(state_dir.name))
    monkeypatch.setattr(runner, "run_drill", lambda drill, *a, **kw: _result(drill.name))
    said = []
    results = runner.run_drills(drills, catalog, tmp_path, stacks=runner.LocalStacks(tmp_path / "state"),
                                operator=runner.Operator(said.append))
    assert [(r.drill, r.verdict) for r in results] == [("duplicate-charge", "fail"), ("fraud-spike", "pass"),
                                                        ("settlement-mismatch", "pass")]
    assert results[0].report == "stack did not start: StackError: prometheus exited at start; see prometheus.log"
    assert stopped == started == ["duplicate-charge", "fraud-spike", "settlement-mismatch"]
    # Ctrl-C in the second drill: its result is kept, the third is not run
    monkeypatch.setattr(runner, "run_drill", lambda drill, *a, **kw: _result(
        drill.name, "fail", interrupted=drill.name == "fraud-spike"))
    results = runner.run_drills(drills, catalog, tmp_path, stacks=runner.LocalStacks(tmp_path / "state"),
                                operator=runner.Operator(said.append))
    assert [r.drill for r in results] == ["duplicate-charge", "fraud-spike"] and results[1].interrupted
    assert said[-1] == "interrupted: 1 drill(s) not run"


def test_an_interrupted_run_prints_the_summary_and_exits_130(tmp_path, monkeypatch, capsys):
    from moneypath.cli import drill as drill_cli

    monkeypatch.setattr("moneypath.drills.runner.run_drills", lambda *a, **kw: [_result("duplicate-charge", "fail",
                                                                                          interrupted=True)])
    monkeypatch.setattr("moneypath.drills.runner.print_summary", lambda results: print("SUMMARY", len(results)))
    assert drill_cli._run(run_args(tmp_path)) == 130
    assert "SUMMARY 1" in capsys.readouterr().out


def test_summary_rows_and_plain_table():
    from moneypath.drills.runner import SUMMARY_HEADERS, print_summary, summary_rows

    results = [_result("duplicate-charge"), _result("fraud-spike", "fail"),
               _result("settlement-mismatch", "fail", interrupted=True)]
    rows = summary_rows(results)
    assert rows[0] == ["duplicate-charge", "PASS", "3 s", "4 s", "—", "21 s", "reports/duplicate-charge/report.md"]
    assert [r[1] for r in rows] == ["PASS", "FAIL", "INTERRUPTED"]
    lines = []
    print_summary(results, out=lines.append)  # not the terminal: plain text, one line per drill under a header
    assert lines[0].split() == SUMMARY_HEADERS and len(lines) == 4
    assert lines[2].split() == ["fraud-spike", "FAIL", "3", "s", "4", "s", "—", "21", "s", "reports/fraud-spike/report.md"]
    starts = {line.find(" PASS") if "PASS" in line else line.find(" FAIL") if "FAIL" in line else
              line.find(" INTERRUPTED") if "INTERRUPTED" in line else line.find(" verdict") for line in lines}
    assert len(starts) == 1  # the verdict column is aligned


def test_summary_on_the_terminal_is_a_rich_table(capsys):
    from moneypath.drills.runner import print_summary

    print_summary([_result("duplicate-charge"), _result("fraud-spike", "fail")])
    out = capsys.readouterr().out
    assert "drills (times from fault injection)" in out
    assert "duplicate-charge" in out and "PASS" in out and "FAIL" in out
    assert "reports/fraud-spike/report.md" in out  # the path is not cut
