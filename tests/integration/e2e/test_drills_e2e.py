"""Drills end to end on the real stack (provider simulator, reference service, Prometheus with the
rules compressed 60x, Alertmanager, pager), 1 s intervals.

Two shipped drills must pass through `moneypath drill run` (exit 0, every objective met, a report
written); a third, the edited audit trail, as `moneypath drill run FILE --interactive` with each role's answers
piped in (the tabletop judged too). A broken stack — the expected alert's rule removed from Prometheus' rules — must make the
drill fail with the reason in its objectives and a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from moneypath.check.drill_files import load_drill
from moneypath.cli import main
from moneypath.drills.runner import local_stack
from moneypath.stack import local as stack
from tests.conftest import ROOT
from tests.docs_examples import args_of, code_block, required, shell, substitute
from tests.support.drill_files import variant

pytestmark = pytest.mark.integration
DRILLS = ROOT / "runbooks" / "drills"


def _journals(reports: Path) -> dict[str, dict]:
    return {p.parent.name.split("-2")[0]: json.loads(p.read_text()) for p in reports.glob("*/journal.json")}


def test_two_drills_pass_end_to_end(tmp_path, capsys, monkeypatch):
    """docs/drills.md's first command, with one more file and the state and reports in temporary directories."""
    run = args_of(shell(code_block("docs/drills.md", "Drills", "sh"))[0])
    reports = tmp_path / "reports"
    started = time.monotonic()
    monkeypatch.chdir(ROOT)
    code = main([*required(run), str(DRILLS / "dead-letters-growing.yaml"),
                 "--state-dir", str(tmp_path / "state"), "--reports", str(reports)])
    out = capsys.readouterr().out
    print(f"\ntwo drills in {time.monotonic() - started:.0f} s")
    journals = _journals(reports)
    assert set(journals) == {"duplicate-charge", "dead-letters-growing"}, out
    for name, j in journals.items():
        failed = [o for o in j["objectives"] if not o["ok"]]
        assert not failed, f"{name}: {failed}\n{out}"
        assert j["verdict"] == "pass" and j["schema"] == 1
        names = {o["name"] for o in j["objectives"]}
        assert {"steady_state_before", "detected", "diagnosed", "mitigated", "recovered", "no_unexpected_pages",
                "ledger_balanced", "steady_state_after"} <= names
        assert j["money"]["writes_lost"] == 0 and j["money"]["acknowledged_payments"] > 50
        assert j["fault"]["injected_at"] < j["fault"]["cleared_at"]
        assert all(e["ok"] for e in j["evidence"])
        assert j["timeline"] == sorted(j["timeline"], key=lambda e: e["t"])
        assert j["target"]["started_stack"] and j["time_factor"] == 60
        assert any(points for s in j["series"].values() for points in s["points"].values())
        assert (reports / next(p.parent.name for p in reports.glob(f"{name}-*/journal.json")) / "report.md").exists()
        print(f"{name}: detect {j['timings']['detect_s']} s, page {j['timings']['page_s']} s, diagnose "
              f"{j['timings']['diagnose_s']} s, recover {j['timings']['recover_s']} s")
    dup = journals["duplicate-charge"]
    assert sum(dup["money"]["duplicate_amount_minor"].values()) > 0 and dup["money"]["payments_affected"] > 0
    row = next(r for r in dup["alerts"] if r["expectation"] == "expected")
    assert set(row["receivers"]) == {"payments-oncall", "compliance"} and row["resolved_at"]
    dead = journals["dead-letters-growing"]
    assert next(r for r in dead["alerts"] if r["expectation"] == "expected")["receivers"] == ["payments-tickets"]
    assert code == 0, out
    assert "duplicate-charge" in out and "PASS" in out


def test_a_tampered_audit_event_is_caught_and_every_role_answers_at_the_tabletop(tmp_path):
    """The background check under load: new events between every check, and still the sweep comes back to the
    edited old one (it once chased the head and never did). Run as docs/drills.md's `--interactive` line, FILE
    this drill, its program this venv's, the state and reports in temporary directories: a process of its own
    whose stdin is a pipe holding each role's answers (who answers, the answer, y), read by the prompts after
    the run as from a terminal. The tabletop is judged and the answers are in the journal. Recorded as
    docs/drill-history.md says (that line is the drills page's, with an environment and a signing key; the history
    in a temporary directory): one signed record, in real time, with who answered each card; `history verify`
    passes it, and fails once it is deleted."""
    line = shell(code_block("docs/drills.md", "Drills", "sh"))[2]
    assert line[0] == ".venv/bin/moneypath" and "--interactive" in line
    keygen, recorded, listing, verify = shell(code_block("docs/drill-history.md", "Every drill on record", "sh"))
    # the drills page's line, after the environment and the signing it records with (MONEYPATH_*=… words)
    settings = [word.split("=", 1) for word in recorded if "=" in word and word.split("=")[0].startswith("MONEYPATH_")]
    recorded = recorded[len(settings):]
    assert recorded[:len(line)] == line and {name for name, _ in settings} >= {"MONEYPATH_ENVIRONMENT"}
    keys, checkpoints, history = tmp_path / "keys", tmp_path / "checkpoints", tmp_path / "history"
    keys.mkdir()
    assert main(substitute(args_of(keygen), {"KEYS": str(keys)})) == 0
    signing = {"CHECKPOINTS": str(checkpoints), "KEYS/team-drills.key": str(keys / "team-drills.key")}
    drill = DRILLS / "audit-chain-tampered.yaml"
    roles = list(yaml.safe_load(drill.read_text())["tabletop"]["roles"])
    answers = "".join(f"{role} lead\n{role}: done as the card says\ny\n" for role in roles)
    reports, state = tmp_path / "reports", tmp_path / "state"
    argv = [str(Path(sys.executable).parent / "moneypath"), *substitute(recorded[1:], {"FILE": str(drill)}),
            "--state-dir", str(state), "--reports", str(reports), "--history", str(history)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYPATH_")}
    env |= dict(zip([name for name, _ in settings], substitute([value for _, value in settings], signing)))
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(answers, timeout=600)
    finally:
        if proc.poll() is None:  # timed out: SIGTERM clears the fault and stops the stack, as Ctrl-C does
            proc.terminate()
            proc.communicate(timeout=120)
        stack.down((state / "drills" / "audit-chain-tampered").resolve(), progress=lambda *_: None)
    print(f"\naudit-chain-tampered, interactive, in {time.monotonic() - started:.0f} s")
    assert "Traceback" not in err, err
    j = _journals(reports)["audit-chain-tampered"]
    assert [o for o in j["objectives"] if not o["ok"]] == [], out[-3000:]
    assert j["timings"]["page_s"] is not None and j["timings"]["page_s"] < 20
    assert proc.returncode == 0 and "PASS" in out, out[-3000:] + err
    # the tabletop: every card asked once, answered in time from the pipe, judged met
    assert out.count("checkpoint met? [y/n]") == len(roles), out[-3000:]
    tabletop = next(o for o in j["objectives"] if o["name"] == "tabletop")
    assert tabletop["reason"] == f"every role met its first-hour checkpoint ({len(roles)})"
    assert [(r["role"], r["answered_by"], r["answer"], r["ok"], r["late"]) for r in j["roles"]] == [
        (role, f"{role} lead", f"{role}: done as the card says", True, False) for role in roles]
    assert sum(1 for e in j["timeline"] if e["kind"] == "answer") == len(roles)
    _assert_recorded(history, j, reports, out, roles)
    verify = substitute(args_of(verify), {"CHECKPOINTS": str(checkpoints),
                                          "KEYS/team-drills.pub": str(keys / "team-drills.pub")})
    assert main([*args_of(listing), "--history", str(history)]) == 0
    assert main([*verify, "--history", str(history)]) == 0
    (history / "records" / "00000001.json").unlink()  # the newest record: only the signed checkpoint shows it
    assert main([*verify, "--history", str(history)]) == 1


def _assert_recorded(history: Path, j: dict, reports: Path, out: str, roles: list[str]) -> None:
    """The drill's one record: staging, signed, its time to page in real time (60x the stack's), every role's
    answer with who gave it and when."""
    import hashlib

    from moneypath.readiness.history import parse_time, read

    [record] = read(history)
    assert "history: recorded as seq 1" in out and "signed checkpoint" in out, out[-3000:]
    assert (record["environment"], record["kind"], record["verdict"], record["compression"]) == (
        "staging", "drill", "pass", 60)
    [alert] = [a for a in record["alerts"] if a["expectation"] == "expected"]
    assert alert["severity"] == "page" and alert["paged"] and alert["ok"]
    row = next(r for r in j["alerts"] if r["expectation"] == "expected")
    assert alert["time_to_page_s"] == pytest.approx((row["paged_at"] - j["fault"]["injected_at"]) * 60, abs=0.1)
    assert alert["time_to_page_s"] == pytest.approx(j["timings"]["page_s"] * 60, abs=6)  # the journal's, to 0.1 s
    assert alert["time_to_page_s"] > 60 and alert["time_to_recover_s"] > alert["time_to_page_s"]
    assert [(r["role"], r["who"], r["late"]) for r in record["roles"]] == [(role, f"{role} lead", False)
                                                                            for role in roles]
    assert all(parse_time(r["asked_at"]) <= parse_time(r["answered_at"]) for r in record["roles"])
    journal = next(reports.glob("audit-chain-tampered-*/journal.json"))
    assert record["journal_sha256"] == hashlib.sha256(journal.read_bytes()).hexdigest()
    assert record["report"] == str(journal.parent.resolve())
    # the catalog it ran on, kept beside the history; the report draws that catalog's map
    catalog = (ROOT / "moneypath.yaml").read_bytes()
    assert record["catalog_sha256"] == hashlib.sha256(catalog).hexdigest()
    assert (history / "catalogs" / f"{record['catalog_sha256']}.yaml").read_bytes() == catalog
    assert 'data-highlight="true"' in (journal.parent / "map.svg").read_text()


@pytest.mark.alone
def test_overload_spike_is_shed_and_pages_load_shedding_only(tmp_path, capsys):
    """Three times capacity (the request_cost fault lowers capacity, the peak raises the traffic): refused fast,
    LoadShedding paged and no SLO, recovered, and every refused payment counted apart from the (zero) writes lost.
    About 50 s; the drill passed 13 of 13 runs of this test on 2026-11-26, 11 of them beside another pytest worker
    running other integration files, as CI runs it, and failed once in CI on the admitted p99 (0.358 s, then 0.3 was
    the bound; runbooks/drills/proposed/README.md has the history). Later it failed in two full CI runs beside another
    worker (admitted p99 1.41 and 1.62 s, the latency SLO paged; the second on a VM a third as fast), so it runs
    `alone`; on that VM it failed alone too, now and then (the latency SLO paged). The cause found: in the overload's
    lulls the limit followed the load up to the overload's own peak (admission.py, `LagLimit.calm_s`)."""
    reports = tmp_path / "reports"
    started = time.monotonic()
    code = main(["drill", "run", str(DRILLS / "overload-spike.yaml"), "--catalog", str(ROOT / "moneypath.yaml"),
                 "--state-dir", str(tmp_path / "state"), "--reports", str(reports)])
    out = capsys.readouterr().out
    print(f"\noverload-spike in {time.monotonic() - started:.0f} s")
    j = _journals(reports)["overload-spike"]
    failed = [o for o in j["objectives"] if not o["ok"]]
    assert not failed, f"{failed}\n{out}"
    assert {"steady_state_before", "detected", "diagnosed", "mitigated", "recovered", "no_unexpected_pages",
            "ledger_balanced", "steady_state_after"} <= {o["name"] for o in j["objectives"]}
    assert j["load"]["statuses"].get("503", 0) > 0 and j["money"]["payments_refused"] > 0
    assert j["money"]["writes_lost"] == 0 and j["money"]["acknowledged_payments"] > 100
    # and no SLO, nothing else: a ticket (an SLO's slow burn on the stack's minutes-old history) is shown, not a page
    paged = {r["alert"] for r in j["alerts"] if r["paged_at"]}  # a ticket (the latency budget's) pages no one
    assert paged == {"MoneyPathLoadShedding"}, [(r["alert"], r["receivers"]) for r in j["alerts"] if r["paged_at"]]
    assert code == 0 and "PASS" in out


@pytest.fixture
def broken_stack(catalog, tmp_path):
    """A local stack whose Prometheus lost the DuplicateChargeDetected rule (reloaded without it)."""
    state = tmp_path / "broken"
    drill = load_drill(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml", catalog, ROOT)
    target = local_stack(catalog, drill, state, say=lambda _: None)
    try:
        rules_file = state.resolve() / "alert-rules.yaml"
        doc = yaml.safe_load(rules_file.read_text())
        gone = catalog.alert_name("DuplicateChargeDetected")
        for group in doc["groups"]:
            group["rules"] = [r for r in group["rules"] if r.get("alert") != gone]
        rules_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        httpx.post(f"{target.prometheus}/-/reload", timeout=10).raise_for_status()
        rules = httpx.get(f"{target.prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        assert gone not in {r["name"] for g in rules for r in g["rules"]}
        yield target, state
    finally:
        stack.down(state.resolve(), progress=lambda *_: None)


def test_drill_fails_clearly_when_the_alert_rule_is_missing(broken_stack, tmp_path, capsys, monkeypatch):
    target, state = broken_stack
    # the shipped drill with shorter waits, so the failure is quick
    def quicker(doc):
        doc["load"]["baseline"] = "6s"
        doc["steady_state_within"] = "10s"
        doc["alerts"]["expected"][0]["page_within"] = "10s"
        doc["diagnosis"]["within"] = "4s"
        doc["recovery"]["within"] = "8s"
        doc["recovery"]["alerts_resolved"] = False

    drill = variant(tmp_path, quicker, DRILLS / "duplicate-charge.yaml", "duplicate-charge-broken.yaml", catalog=True)
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", stack.read_secrets(state.resolve())["token_secret"])
    reports = tmp_path / "reports"
    code = main(["drill", "run", str(drill), "--catalog", str(tmp_path / "moneypath.yaml"),
                 "--target-service", target.service, "--target-prometheus", target.prometheus,
                 "--target-providersim", target.providersim, "--target-pager", target.pager,
                 "--target-alertmanager", target.alertmanager, "--db-url", target.db_url,
                 "--time-factor", "60", "--reports", str(reports)])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "Traceback" not in out + err
    (journal,) = _journals(reports).values()
    assert journal["verdict"] == "fail" and not journal["target"]["started_stack"]
    detected = next(o for o in journal["objectives"] if o["name"] == "detected")
    assert not detected["ok"]
    assert "never fired within 10 s" in detected["reason"] and "is the rule loaded?" in detected["reason"]
    # the rest of the drill still ran: evidence found (reconciliation still counts), fault cleared, ledger whole
    ok = {o["name"]: o["ok"] for o in journal["objectives"]}
    assert ok["mitigated"] and ok["ledger_balanced"]
    # no page came, so the runbook's queries (read at the deadline) diagnosed nothing: not measured, never a pass
    diagnosed = next(o for o in journal["objectives"] if o["name"] == "diagnosed")
    assert diagnosed["status"] == "not measured" and "no expected page came" in diagnosed["reason"], diagnosed
    assert journal["fault"]["cleared_at"] is not None
    assert "FAIL" in out
