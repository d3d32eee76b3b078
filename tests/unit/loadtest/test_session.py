"""One `moneypath loadtest` run, from its options to its judged report, without Locust (moneypath.loadtest.command.session):
and how a run that cannot be made, or is stopped (Ctrl-C, SIGTERM), ends: one error with where its logs are kept,
and what the run started stopped."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from moneypath import cli
from moneypath.loadtest.command import gates, locust_run
from moneypath.loadtest.command.inputs import UsageError
from moneypath.loadtest.command.session import RunFailed, reported
from tests.conftest import CATALOG_PATH, SHIPPED_LOCUSTFILE
from tests.support.locust_stats import entry
from tests.unit.loadtest.helpers import FOREIGN_DIR, FakePrometheus, fake_run, foreign_catalog, foreign_text


def test_a_host_without_prometheus_is_refused_before_the_run(tmp_path, monkeypatch, capsys):
    from moneypath.loadtest.command import locust_run

    monkeypatch.setenv("MONEYPATH_TOKEN", "t")
    monkeypatch.setattr(locust_run, "run", lambda *_: pytest.fail("the run started"))
    code = cli.main(["loadtest", "checkout", "--host", "http://127.0.0.1:9", "--state-dir", str(tmp_path / "none"),
                     "--out", str(tmp_path / "out"), "--catalog", str(CATALOG_PATH)])
    assert code == 2
    assert capsys.readouterr().err == (
        "moneypath: no Prometheus scrapes http://127.0.0.1:9: the service latency, duplicate-charge, ledger and "
        "reconciliation gates need one: pass --prometheus URL, or --no-prometheus to judge without them\n")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_run_whose_prometheus_failed_fails_the_release(tmp_path, no_run, monkeypatch, capsys, catalog):
    from moneypath.loadtest.command import locust_run

    monkeypatch.setattr(locust_run, "run", fake_run(None, "Prometheus unavailable: timed out", catalog))
    code = cli.main(["loadtest", "checkout", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "BREACH: ledger balanced: not proven: Prometheus unavailable: timed out" in err.splitlines()


def test_soak_reports_its_drift_in_the_terminal_result_and_report(tmp_path, no_run, monkeypatch, capsys, catalog):
    from moneypath.loadtest.command import locust_run
    from tests.support.drift_samples import compute, run

    plain = fake_run(None, locust_run.NOT_JUDGED, catalog)

    def with_drift(c, spec, target, work, port, progress):
        outcome = plain(c, spec, target, work, port, progress)
        outcome.drift = compute(run(cpu_growth=0.3))
        outcome.gates += gates.drift_gates(outcome.drift, outcome.scenario)
        return outcome

    monkeypatch.setattr(locust_run, "run", with_drift)
    code = cli.main(["loadtest", "soak", "--no-prometheus", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH)])
    out, err = capsys.readouterr()
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("BREACH")] == [
        "BREACH: " + next(m.reason for m in compute(run(cpu_growth=0.3)).metrics if m.status == "fail")]
    assert "drift, first minute after the warm-up -> last minute (growth over +5% fails):" in out.splitlines()
    report_dir = next(tmp_path.iterdir())
    result = json.loads((report_dir / "result.json").read_text())
    assert [m["status"] for m in result["drift"]["metrics"]] == ["fail", "pass", "pass", "pass"]
    assert "## Drift" in (report_dir / "report.md").read_text()
    assert (report_dir / "drift-rss.png").exists() and (report_dir / "drift-cpu.png").exists()


def test_no_prometheus_passes_but_says_what_was_not_judged(tmp_path, no_run, monkeypatch, capsys, catalog):
    from moneypath.loadtest.command import locust_run

    monkeypatch.setattr(locust_run, "run", fake_run(None, locust_run.NOT_JUDGED, catalog))
    code = cli.main(["loadtest", "checkout", "--no-prometheus", "--out", str(tmp_path), "--catalog",
                     str(CATALOG_PATH)])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    assert out.splitlines()[-1] == (
        "checkout: every judged gate passed; WITHOUT Prometheus (--no-prometheus): 5 gates not judged (p99 "
        "authorization latency, service, authorization error ratio, service, zero duplicate charges, ledger balanced, "
        "reconciliation caught up)")
    report_dir = next(tmp_path.iterdir())
    assert "PASSED without Prometheus evidence" in (report_dir / "report.md").read_text().splitlines()[0]
    result = json.loads((report_dir / "result.json").read_text())
    assert result["no_prometheus"] is True
    assert {g["reason"] for g in result["gates"] if g["status"] == "skip"} == {
        locust_run.NOT_JUDGED, gates.NO_REPLAYS, gates.NO_CIRCUIT_EXPECTED,
        "scenario checkout sets no flow_p99_ms (an objective for the whole flow, first step to last)"}


def test_prometheus_and_no_prometheus_together_are_refused(capsys):
    assert cli.main(["loadtest", "checkout", "--prometheus", "http://127.0.0.1:9", "--no-prometheus", "--catalog",
                     str(CATALOG_PATH)]) == 2
    assert capsys.readouterr().err == "moneypath: --prometheus and --no-prometheus: choose one\n"


def test_a_foreign_load_test_end_to_end_without_locust_or_prometheus(tmp_path, no_run, monkeypatch, capsys):
    """`moneypath loadtest` on the foreign catalog and scenarios: the real runner, observer, gates and report;
    Locust's results are a file and Prometheus a table of answers."""
    from moneypath.loadtest.command import counts, locust_run, observe

    path = tmp_path / "moneypath.yaml"
    path.write_text(foreign_text(cost=False))
    c = foreign_catalog(cost=False)

    def start_locust(spec, target, work, *rest):
        work.mkdir(parents=True, exist_ok=True)
        (work / "locust.json").write_text(json.dumps([entry("authorize [komoju]", times={"120": 300}),
                                                      entry("capture [komoju]", times={"40": 200})]))
        return []

    imb, auth = c.metric("ledger_imbalance_minor"), c.metric("authorizations_total")
    counter = [{"metric": {"outcome": "approved", "instance": "127.0.0.1:1"}, "values": [[3e9, "0"], [4e9, "300"]]}]
    fake = FakePrometheus({f"min_over_time({imb}": [{"metric": {"currency": "KWD"}, "value": [0, "-1250"]}],
                           "1 - ": [{"metric": {}, "value": [0, "0"]}],
                           c.metric("authorizations_total"): [{"metric": {}, "value": [0, "300"]}],
                           c.metric("duplicate_charges_total"): [{"metric": {}, "value": [0, "0"]}],
                           # the shop's detectors reported a run after the load test started
                           c.metric("detector_last_run_timestamp_seconds"): [
                               {"metric": {}, "value": [0, str(time.time() + 600)]}]})
    monkeypatch.setattr(locust_run, "start_locust", start_locust)
    monkeypatch.setattr(locust_run, "wait_locust", lambda *a, **k: None)
    monkeypatch.setattr(locust_run, "scrape_interval_s", lambda url: 0.0)
    monkeypatch.setattr(observe, "Prometheus", fake)
    raw = FakePrometheus({f"{auth}[": counter})  # the counter's raw samples (a range vector) for the reconciliation
    monkeypatch.setattr(counts, "Prometheus", raw)
    code = cli.main(["loadtest", "checkout", "--catalog", str(path), "--scenario-file",
                     str(FOREIGN_DIR / "scenarios.yaml"), "--locustfile", str(SHIPPED_LOCUSTFILE), "--out",
                     str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.splitlines() == ["BREACH: the ledger was out of balance by up to KWD 1.250 during the run"]
    result = json.loads(next((tmp_path / "out").iterdir()).joinpath("result.json").read_text())
    assert {g["name"]: g["status"] for g in result["gates"]} == {
        "p99_latency_locust": "skip", "p99_latency_prometheus": "skip", "failure_ratio_locust": "pass",
        "failure_ratio_prometheus": "pass", "duplicate_charges": "pass", "ledger_balanced": "fail",
        "reconciliation": "skip", "flow_p99_locust": "skip", "idempotent_replays": "skip", "circuit_opened": "skip"}
    assert out.splitlines()[-1] == ("checkout: FAILED: 1 of 10 gates breached; skipped: reconciliation caught up "
                                    "(feature reconciliation is off)")
    md = next((tmp_path / "out").iterdir()).joinpath("report.md").read_text()
    assert md.splitlines()[0] == ("# Load test checkout: FAILED; skipped: reconciliation caught up (feature "
                                  "reconciliation is off)")
    assert "KWD 1.250" in md and "cost" not in md.lower()
    assert not [q for q in fake.queries if "reconcil" in q or "cost" in q]
    assert raw.queries[0].startswith(f"{auth}[") and any("resets(" in q for q in raw.queries)
    assert result["conservation"]["outcome"] == "pass"
    assert "conservation of counts: PASS: the metrics counted 300 of 300 authorizations sent" in out


def staged(tmp_path):
    tmp, final = tmp_path / ".staging", tmp_path / "loadtest-checkout-1"
    tmp.mkdir()
    (tmp / "locust.log").write_text("what Locust said\n")
    return tmp, final


@pytest.mark.parametrize(("error", "code"), [(UsageError("--rate must be positive"), 2),
                                             (locust_run.LoadTestError("Locust exited 1"), 1)])
def test_a_run_that_cannot_be_made_fails_with_its_code_and_the_kept_logs(tmp_path, error, code):
    tmp, final = staged(tmp_path)
    with pytest.raises(RunFailed) as caught, reported(tmp, final, warn=pytest.fail):
        raise error
    kept = tmp_path / "loadtest-checkout-1-failed"
    assert caught.value.exit_code == code
    assert str(error) in str(caught.value) and str(kept) in str(caught.value)
    assert (kept / "locust.log").read_text() == "what Locust said\n" and not tmp.exists()


def test_an_interrupted_run_keeps_its_logs_says_where_and_goes_on_stopping(tmp_path):
    tmp, final = staged(tmp_path)
    said = []
    with pytest.raises(KeyboardInterrupt), reported(tmp, final, warn=said.append):
        raise KeyboardInterrupt
    kept = tmp_path / "loadtest-checkout-1-failed"
    assert said == [f"moneypath: the run stopped (KeyboardInterrupt); its logs are in {kept}"]


def test_sigterm_during_a_run_stops_the_stack_it_started_and_keeps_the_logs(tmp_path, monkeypatch, capsys):
    """What CI, systemd and `timeout` send: the run ends as after Ctrl-C, the target it opened (a stack it
    started) closed, Locust's log kept, one last line and 143."""
    from moneypath.loadtest.command import targets

    target = locust_run.LoadTarget("http://127.0.0.1:9", None, None, "t", None)
    closed = []
    monkeypatch.setattr(targets, "open_target", lambda *args, **kw: target)
    monkeypatch.setattr(targets, "close_target", closed.append)

    def run(c, spec, target, work, port, progress):
        work.mkdir(parents=True)
        (work / "locust.log").write_text("what Locust said\n")
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pause()  # not reached: the handler raises on delivery

    monkeypatch.setattr(locust_run, "run", run)
    code = cli.main(["loadtest", "checkout", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH), "--no-prometheus"])
    err = capsys.readouterr().err
    (kept,) = [p for p in tmp_path.iterdir() if p.name.endswith("-failed")]
    assert code == 143 and closed == [target]
    assert err.splitlines() == [f"moneypath: the run stopped (Terminated); its logs are in {kept}",
                                "moneypath: terminated (SIGTERM)"]
    assert (kept / "locust" / "locust.log").read_text() == "what Locust said\n"
