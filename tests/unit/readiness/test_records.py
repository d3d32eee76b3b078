"""A drill run's record (moneypath.readiness.records): built from its journal in real time, appended by the
runner after the report, one line when it cannot be; where `drill run` and `demo` record by default."""

from __future__ import annotations

import hashlib
import json

import pytest

from moneypath.check.drill_files import alert_names, load_drill
from moneypath.readiness import history as h
from moneypath.readiness.records import Recorder, record_fields, severities
from tests.conftest import ROOT
from tests.support.drill_journal import INJECT, PAGE, T0, passing_journal
from tests.unit.drills.helpers import run_args

DRILL = ROOT / "runbooks" / "drills" / "duplicate-charge.yaml"


def _journal(tmp_path, **changes):
    journal = {**passing_journal(), "time_factor": 60, "alert": "MoneyPathDuplicateChargeDetected", **changes}
    folder = tmp_path / "reports" / "duplicate-charge-20260314-090000"
    folder.mkdir(parents=True)
    (folder / "journal.json").write_text(json.dumps(journal))
    return journal, folder / "journal.json"


def test_a_compressed_drills_times_are_scaled_back_to_real_time(tmp_path, catalog):
    journal, path = _journal(tmp_path)
    journal["roles"][0].update(answered_by="Ana", asked_at=PAGE + 100, answered_at=PAGE + 1000, late=True, ok=False,
                               met=True)
    record = record_fields(journal, path, tmp_path / "history", "staging", "drill", severities(alert_names(catalog)),
                           ["PCI-DSS-12.10.2"])
    h.check_fields({**record, "seq": 1, "prev": h.GENESIS})
    assert record["compression"] == 60.0 and record["environment"] == "staging" and record["target"] == "local stack"
    assert record["started_at"] == h.rfc3339(T0) == "2026-03-14T09:00:00Z"
    assert [a["alert"] for a in record["alerts"]] == ["MoneyPathDuplicateChargeDetected"]  # must_not_page left out
    alert = record["alerts"][0]
    assert alert["severity"] == "page" and alert["paged"] is True and alert["ok"] is True
    assert alert["time_to_page_s"] == (PAGE - INJECT) * 60 == 2520.0  # 42 s on the 60x stack: 42 minutes
    assert (alert["time_to_fire_s"], alert["time_to_diagnose_s"], alert["time_to_recover_s"]) == (2100.0, 3600.0,
                                                                                                    11100.0)
    assert alert["page_deadline_s"] == 7200.0
    ana, nobody = record["roles"]
    assert (ana["role"], ana["who"], ana["late"]) == ("engineering", "Ana", True)
    assert ana["asked_at"] == h.rfc3339(PAGE + 100) and ana["answered_at"] == h.rfc3339(PAGE + 1000)
    assert (nobody["who"], nobody["asked_at"], nobody["answered_at"], nobody["late"]) == (None, None, None, False)
    assert record["controls"] == ["PCI-DSS-12.10.2"] and record["impact"] == {}
    assert record["journal_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["report"] == str(path.parent.resolve())
    assert record["regulatory"][0]["due_at"] == h.rfc3339(PAGE + 4 * 3600)
    assert record["objectives"]["detected"] == "pass"


def test_a_report_inside_the_history_is_named_relative_to_it(tmp_path, catalog):
    journal, path = _journal(tmp_path)
    record = record_fields(journal, path, tmp_path, "local", "drill", severities(alert_names(catalog)))
    assert record["report"] == "reports/duplicate-charge-20260314-090000"


def test_a_drill_that_expects_no_page_still_records_the_alert_it_rehearses(tmp_path, catalog):
    journal, path = _journal(tmp_path, alerts=[], time_factor=1.0, impact={"within_tolerance": True})
    record = record_fields(journal, path, tmp_path, "prod", "gameday", severities(alert_names(catalog)))
    [alert] = record["alerts"]
    assert alert["expectation"] == "runbook" and alert["paged"] is False and alert["time_to_page_s"] is None
    assert alert["time_to_recover_s"] == 185.0  # real time already: factor 1
    assert record["impact"] == {"within_tolerance": True}


def test_each_alert_takes_its_severity_from_the_map_it_is_given(tmp_path, catalog):
    """The record reads no catalog: a ticket alert in the map is a ticket, an alert the map does not name a page."""
    journal, path = _journal(tmp_path)
    [alert] = record_fields(journal, path, tmp_path, "ci", "drill", {"MoneyPathDuplicateChargeDetected": "ticket"})[
        "alerts"]
    assert alert["severity"] == "ticket"
    [alert] = record_fields(journal, path, tmp_path, "ci", "drill", {})["alerts"]
    assert alert["severity"] == "page"
    known = alert_names(catalog)
    assert severities(known) == {name: info["severity"] for name, info in known.items()}
    assert set(severities(known).values()) == {"page", "ticket"}

def test_the_recorder_appends_and_says_so_unsigned(tmp_path, catalog):
    journal, path = _journal(tmp_path)
    said = []
    drill = load_drill(DRILL, catalog, ROOT)
    record = Recorder(tmp_path / "history", "staging").record(drill, severities(alert_names(catalog)), journal, path,
                                                              said.append)
    assert record["seq"] == 1 and record["kind"] == "drill" and h.read(tmp_path / "history") == [record]
    assert said == [f"           history: recorded as seq 1 in {tmp_path / 'history'} (staging); not signed (no "
                    "--signing-key and --checkpoints)"]


def test_a_history_that_cannot_be_written_is_one_line_and_the_journal_is_kept(tmp_path, catalog):
    journal, path = _journal(tmp_path)
    (tmp_path / "file").write_text("not a directory")
    said = []
    drill = load_drill(DRILL, catalog, ROOT)
    assert Recorder(tmp_path / "file", "local").record(drill, {}, journal, path, said.append) is None
    assert len(said) == 1 and "history: NOT recorded in" in said[0] and str(path) in said[0]
    assert path.exists()


def test_the_runner_records_each_drill_after_its_report(tmp_path, catalog, monkeypatch):
    from moneypath.drills import runner
    from tests.support.canned_drill_run import canned_runs

    journal, _ = _journal(tmp_path / "canned")
    target = canned_runs(monkeypatch, journal)
    said = []
    drill = load_drill(DRILL, catalog, ROOT)
    result = runner.run_drills([drill, drill], catalog, tmp_path / "reports", target,
                               operator=runner.Operator(said.append),
                               recorder=Recorder(tmp_path / "history", "ci", "gameday"))
    assert [r.verdict for r in result] == ["pass", "pass"]
    records = h.read(tmp_path / "history")
    assert [(r["seq"], r["kind"], r["environment"]) for r in records] == [(1, "gameday", "ci"), (2, "gameday", "ci")]
    assert records[0]["report"] != records[1]["report"]  # each run's own folder
    assert said.index(f"           report: {result[0].report}") < next(
        i for i, line in enumerate(said) if "history: recorded as seq 1" in line)



def test_the_catalogs_alerts_are_built_once_for_a_run_and_read_by_watcher_and_record(tmp_path, catalog, monkeypatch):
    from moneypath.drills import runner
    from moneypath.drills.report import rendering
    from moneypath.generate import rules
    from tests.support.canned_drill_run import TARGET

    journal, _ = _journal(tmp_path / "canned")
    built, given = [], []
    real = rules.alert_rules
    monkeypatch.setattr(rules, "alert_rules", lambda c: built.append(c) or real(c))

    class Run(runner.DrillRun):
        def run(self):
            given.append(self.watcher.known)
            return dict(journal)

    monkeypatch.setattr(runner, "DrillRun", Run)
    monkeypatch.setattr(rendering, "render", lambda journal, folder, catalog: folder / "report.md")
    drill = load_drill(DRILL, catalog, ROOT)
    built.clear()
    runner.run_drills([drill, drill], catalog, tmp_path / "reports", TARGET,
                      operator=runner.Operator(lambda _: None),
                      recorder=Recorder(tmp_path / "history", "ci"))
    assert len(built) == 1  # not once per drill, nor once more per record
    assert len(given) == 2 and given[0] is given[1] and "MoneyPathDuplicateChargeDetected" in given[0]
    assert [a["severity"] for r in h.read(tmp_path / "history") for a in r["alerts"]] == ["page", "page"]

# ---------------------------------------------------------------- where drill run and demo record


def test_drill_run_records_beside_the_catalog_unless_told_otherwise(tmp_path, monkeypatch):
    from moneypath.cli.history import recorder

    monkeypatch.delenv("MONEYPATH_HISTORY", raising=False)
    monkeypatch.delenv("MONEYPATH_ENVIRONMENT", raising=False)
    default = recorder(run_args(tmp_path), team_default=True)
    assert default.history_dir == ROOT / "drill-history" and default.environment == "local"
    assert default.kind is None and default.signing_key is None
    monkeypatch.setenv("MONEYPATH_HISTORY", str(tmp_path / "env"))
    monkeypatch.setenv("MONEYPATH_ENVIRONMENT", "staging")
    assert recorder(run_args(tmp_path), True).history_dir == tmp_path / "env"
    monkeypatch.setenv("MONEYPATH_ENVIRONMENT", "prod-eu")  # history.environment: the environment or the run config
    given = recorder(run_args(tmp_path, "--history", "h", "--game-day"), True)
    assert (str(given.history_dir), given.environment, given.kind) == ("h", "prod-eu", "gameday")
    assert recorder(run_args(tmp_path, "--no-history"), True) is None


def test_the_demo_records_nothing_unless_given_a_history(tmp_path, monkeypatch):
    from moneypath.cli import build_parser
    from moneypath.cli.history import recorder

    monkeypatch.setenv("MONEYPATH_HISTORY", str(tmp_path / "env"))
    assert recorder(build_parser().parse_args(["demo"]), team_default=False) is None
    given = recorder(build_parser().parse_args(["demo", "--history", str(tmp_path / "h")]), team_default=False)
    assert given.history_dir == tmp_path / "h"


def test_an_empty_environment_name_is_refused(tmp_path, monkeypatch):
    from moneypath.cli.history import recorder

    monkeypatch.setenv("MONEYPATH_ENVIRONMENT", " ")
    with pytest.raises(h.HistoryError, match="environment's name is empty"):
        recorder(run_args(tmp_path), True)


def test_signing_options_are_checked_before_any_drill_runs(tmp_path, monkeypatch):
    from moneypath.cli.history import recorder
    from moneypath.protocol.audit.checkpoint import write_key_pair

    monkeypatch.delenv("MONEYPATH_HISTORY_CHECKPOINTS", raising=False)
    monkeypatch.delenv("MONEYPATH_HISTORY_SIGNING_KEY", raising=False)
    monkeypatch.setenv("MONEYPATH_HISTORY_CHECKPOINTS", str(tmp_path / "cp"))
    with pytest.raises(h.HistoryError, match="history checkpoints and signing key go together"):
        recorder(run_args(tmp_path), True)
    private, public, _ = write_key_pair("team-drills", tmp_path)
    monkeypatch.setenv("MONEYPATH_HISTORY_SIGNING_KEY", str(public))
    with pytest.raises(h.HistoryError, match="history signing key: a signer key starts with PRIVATE"):
        recorder(run_args(tmp_path), True)
    monkeypatch.setenv("MONEYPATH_HISTORY_SIGNING_KEY", str(private))
    signing = recorder(run_args(tmp_path), True)
    assert (signing.checkpoints, signing.signing_key) == (str(tmp_path / "cp"), str(private))


def test_drill_run_refuses_bad_signing_options_in_one_line_before_running(tmp_path, monkeypatch):
    from tests.conftest import run_cli

    monkeypatch.setenv("MONEYPATH_HISTORY_SIGNING_KEY", str(tmp_path / "missing.key"))
    monkeypatch.setenv("MONEYPATH_HISTORY_CHECKPOINTS", str(tmp_path))
    result = run_cli("drill", "run", str(DRILL), "--catalog", str(ROOT / "moneypath.yaml"))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("moneypath drill: history signing key: cannot read the signer key")
