"""`moneypath history list | verify | checkpoint`: the table newest first, the three results of verify (an edited,
reordered or deleted record caught, the newest one too once signed), one line for bad usage."""

from __future__ import annotations

import json

import pytest

from moneypath.readiness import history as h
from tests.conftest import run_cli
from tests.docs_examples import args_of, code_block, shell, substitute
from tests.support.drill_history import DAY, fields, history

T = 1_790_000_000.0


@pytest.fixture
def team(tmp_path):
    """Three records, a key pair from `moneypath audit keygen`, the head signed by `moneypath history checkpoint`:
    (history, checkpoints, signer key, verifier key)."""
    folder, checkpoints, keys = tmp_path / "history", tmp_path / "checkpoints", tmp_path / "keys"
    keys.mkdir()
    assert run_cli("audit", "keygen", "team-drills", "--out", str(keys)).returncode == 0
    history(folder, [T, T + DAY, T + 2 * DAY])
    h.append(folder, fields(drill="provider-partial-outage", ended=T + 3 * DAY, verdict="fail", time_to_page_s=None,
                            roles=[]))
    signed = run_cli("history", "checkpoint", "--history", str(folder), "--checkpoints", str(checkpoints),
                     "--signing-key", str(keys / "team-drills.key"))
    assert signed.returncode == 0 and "signed checkpoint 00000000000000000004.note (seq 4" in signed.stdout
    return folder, checkpoints, keys / "team-drills.key", keys / "team-drills.pub"


def _verify(folder, checkpoints=None, public=None):
    extra = ["--checkpoints", str(checkpoints), "--key", str(public)] if checkpoints else []
    return run_cli("history", "verify", "--history", str(folder), *extra)


def test_list_shows_the_records_newest_first(team):
    folder, *_ = team
    result = run_cli("history", "list", "--history", str(folder))
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and lines[0].split() == ["seq", "ended", "environment", "kind", "drill", "verdict",
                                                            "page", "roles"]
    assert lines[1].split() == ["4", h.rfc3339(T + 3 * DAY), "staging", "drill", "provider-partial-outage", "FAIL",
                                "—", "—"]
    assert lines[2].split()[:7] == ["3", h.rfc3339(T + 2 * DAY), "staging", "drill", "duplicate-charge", "PASS", "5.0"]
    assert lines[2].split()[-1] == "1/1" and len(lines) == 5
    records = json.loads(run_cli("history", "list", "--history", str(folder), "--json").stdout)
    assert [r["seq"] for r in records] == [4, 3, 2, 1]


def test_verify_passes_a_signed_history_and_says_not_measured_without_its_checkpoints(team):
    folder, checkpoints, _, public = team
    signed = _verify(folder, checkpoints, public)
    assert signed.returncode == 0 and signed.stdout.startswith(
        "history intact: 4 record(s), seq 1..4 (0 journal(s) match their records, 4 not found here); passes through 1 "
        "signed")
    bare = _verify(folder)
    assert bare.returncode == 3 and "not measured beyond the chain" in bare.stdout


@pytest.mark.parametrize("tamper, seq, problem", [
    ("edit", 2, "edited"), ("reorder", 2, "reordered"), ("delete", 3, "missing"), ("delete-newest", 4, "missing"),
    ("edit-newest", 4, "edited"), ("extra", None, "extra"),
])
def test_verify_catches_each_tampering_with_exit_1(team, tamper, seq, problem):
    folder, checkpoints, _, public = team
    records = folder / "records"

    def path(n):
        return records / f"{n:08d}.json"

    if tamper.startswith("edit"):
        n = 4 if tamper == "edit-newest" else 2
        record = json.loads(path(n).read_bytes())
        path(n).write_bytes(h.canonical({**record, "verdict": "fail" if record["verdict"] == "pass" else "pass"}))
    elif tamper == "reorder":
        two, three = path(2).read_bytes(), path(3).read_bytes()
        path(2).write_bytes(three)
        path(3).write_bytes(two)
    elif tamper.startswith("delete"):
        path(seq).unlink()
    else:
        (records / "notes.txt").write_text("hello")
    result = _verify(folder, checkpoints, public)
    assert result.returncode == 1, result.stdout
    where = f"history BROKEN at seq {seq}: {problem}" if seq else f"is an {problem} file"
    assert where in result.stdout and len(result.stdout.splitlines()) == 1


def test_the_newest_deleted_passes_a_bare_chain_which_says_it_cannot_tell(team):
    folder, checkpoints, _, public = team
    (folder / "records" / "00000004.json").unlink()
    assert _verify(folder).returncode == 3
    assert _verify(folder, checkpoints, public).returncode == 1


def test_bad_usage_is_one_line_and_exit_2(team, tmp_path):
    folder, checkpoints, private, public = team
    half = run_cli("history", "verify", "--history", str(folder), "--checkpoints", str(checkpoints))
    assert half.returncode == 2 and "--checkpoints and --key go together" in half.stderr
    nowhere = run_cli("history", "verify", "--history", str(tmp_path / "none"))
    assert nowhere.returncode == 2 and "no drill history at" in nowhere.stderr
    wrong = _verify(folder, checkpoints, private)
    assert wrong.returncode == 2 and len(wrong.stderr.splitlines()) == 1 and "verifier key" in wrong.stderr
    keyless = run_cli("history", "checkpoint", "--history", str(folder), "--checkpoints", str(checkpoints))
    assert keyless.returncode == 2 and "--signing-key" in keyless.stderr


def test_checkpoint_refuses_a_broken_history_and_signs_nothing(team):
    folder, checkpoints, private, _ = team
    h.append(folder, fields(ended=T + 4 * DAY))
    (folder / "records" / "00000002.json").unlink()
    result = run_cli("history", "checkpoint", "--history", str(folder), "--checkpoints", str(checkpoints),
                     "--signing-key", str(private))
    assert result.returncode == 1 and "seq 2: missing" in result.stdout and "nothing signed" in result.stdout
    assert [p.name for p in checkpoints.iterdir()] == [f"{4:020d}.note"]


def test_the_documented_verify_and_checkpoint_lines(team):
    """docs/drill-history.md's lines as written, DIR, CHECKPOINTS and KEYS the fixture's: the chain alone is never
    a pass, a record appended after the newest checkpoint is not measured until `history checkpoint` signs it,
    and the newest record deleted passes the bare chain but not the signed one."""
    folder, checkpoints, private, _ = team
    bare, signed, sign = [args_of(substitute(argv, {"DIR": str(folder)})) for argv in
                          shell(code_block("docs/drill-history.md", "Signing and verifying", "sh"))]
    keys = {"CHECKPOINTS": str(checkpoints), "KEYS/team-drills.pub": str(private.with_suffix(".pub")),
            "KEYS/team-drills.key": str(private)}
    signed, sign = (substitute(signed, {k: v for k, v in keys.items() if k in signed}),
                    substitute(sign, {k: v for k, v in keys.items() if k in sign}))
    assert run_cli(*bare).returncode == 3 and run_cli(*signed).returncode == 0
    h.append(folder, fields(ended=T + 4 * DAY))
    assert run_cli(*signed).returncode == 3
    assert run_cli(*sign).returncode == 0 and run_cli(*signed).returncode == 0
    (folder / "records" / "00000005.json").unlink()
    assert run_cli(*bare).returncode == 3
    caught = run_cli(*signed)
    assert caught.returncode == 1 and caught.stdout.startswith("history BROKEN at seq 5: missing (seq 5 deleted")


def test_readiness_and_drill_run_read_one_default_history_beside_the_catalog(tmp_path, monkeypatch):
    """A project's catalog in ops/: `drill run` records into, and `readiness` and `evidence` read, one directory
    (moneypath.readiness.history's default), whatever the command."""
    from moneypath.cli import build_parser
    from moneypath.cli.history import recorder
    from moneypath.cli.readiness import history_dir as readiness_dir
    from tests.conftest import ROOT

    monkeypatch.delenv("MONEYPATH_HISTORY", raising=False)
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "moneypath.yaml").write_bytes((ROOT / "moneypath.yaml").read_bytes())
    catalog = str(tmp_path / "ops" / "moneypath.yaml")
    history(tmp_path / "ops" / "drill-history", [T])
    parse = build_parser().parse_args
    ran = recorder(parse(["drill", "run", "x.yaml", "--catalog", catalog]), team_default=True).history_dir
    read = readiness_dir(parse(["readiness", "--catalog", catalog]))
    assert ran == read == tmp_path / "ops" / "drill-history"
    report = run_cli("readiness", "--json", "--catalog", catalog, cwd=tmp_path)
    assert json.loads(report.stdout)["history"] == str(tmp_path / "ops" / "drill-history")
    assert json.loads(report.stdout)["records"] == 1
