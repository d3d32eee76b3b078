"""`moneypath evidence`: the control map (covered only by a passed record of the period that declares the control),
what the pack holds, its manifest in sha256sum's format, and `evidence verify` catching one changed byte, a missing
or an added file, a bad or absent signature. The standard tools (sha256sum, ssh-keygen) and Chromium check the
same packs in tests/integration/readiness/test_evidence_tools.py."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path

import pytest

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.formats.controls import CONTROLS
from moneypath.readiness import evidence, history, sshsig
from tests.conftest import ROOT, run_cli
from tests.support.evidence_history import drill_records, openssh_key, quarter, record

Q1 = (date(2026, 1, 1), date(2026, 3, 31))


@pytest.fixture
def hist(tmp_path):
    directory = tmp_path / "history"
    quarter(directory)
    return directory


@pytest.fixture
def key(tmp_path):
    return openssh_key(tmp_path / "team.key")


@pytest.fixture
def pack_dir(hist, key, tmp_path):
    out = tmp_path / "pack"
    evidence.build(hist, *Q1, out, key)
    return out


# ---------------------------------------------------------------- the control map


def test_a_control_is_covered_only_by_a_passed_record_of_the_period_that_declares_it(hist, tmp_path):
    pack = evidence.build(hist, *Q1, tmp_path / "p")
    status = {c: None if check.outcome is NOT_MEASURED else check.ok for c, check in pack.controls.items()}
    assert [r["seq"] for r in pack.records] == [2, 3, 4]  # the December run is outside the period
    assert status["PCI-DSS-12.10.2"] and status["SOC2-CC7.4"] and status["DORA-Art11"]
    assert status["PCI-DSS-12.10.1"] is None  # declared by a failed run only
    assert status["SYSC-15A"] is None  # passed, but in December
    assert status["PCI-DSS-12.10.7"] is None  # nobody declares it
    assert "none passed" in pack.controls["PCI-DSS-12.10.1"].why
    assert pack.exit_code == 3  # a missing control is not measured, never a pass


def test_a_period_holding_the_december_run_covers_sysc_but_nothing_after_it(hist, tmp_path):
    pack = evidence.build(hist, date(2025, 12, 1), date(2025, 12, 31), tmp_path / "p")
    assert [c for c, check in pack.controls.items() if check.ok] == ["SYSC-15A"]
    assert [r["seq"] for r in pack.records] == [1]


def test_the_period_is_whole_utc_days_both_included(hist, tmp_path):
    pack = evidence.build(hist, date(2026, 3, 31), date(2026, 3, 31), tmp_path / "p")
    assert [r["seq"] for r in pack.records] == [4]


def test_every_control_covered_exits_0_and_a_chosen_set_of_controls_is_judged_alone(hist, tmp_path):
    pack = evidence.build(hist, *Q1, tmp_path / "p", controls=["PCI-DSS-12.10.2", "DORA-Art11"])
    assert list(pack.controls) == ["PCI-DSS-12.10.2", "DORA-Art11"] and pack.exit_code == 0
    with pytest.raises(evidence.EvidenceError, match="PCI-DSS-12.10.9"):
        evidence.build(hist, *Q1, tmp_path / "q", controls=["PCI-DSS-12.10.9"])


def test_an_empty_history_covers_nothing(tmp_path):
    (tmp_path / "h" / "records").mkdir(parents=True)
    pack = evidence.build(tmp_path / "h", *Q1, tmp_path / "p")
    assert pack.records == [] and not any(check.ok for check in pack.controls.values())
    assert "No drill record in this period" in (tmp_path / "p" / "index.html").read_text()


def test_the_ticket_shops_drills_cover_the_controls_their_files_declare(tmp_path):
    from moneypath.formats.drill import file_kind

    files = [p for p in sorted((ROOT / "tests" / "foreign" / "drills").glob("*.yaml")) if file_kind(p) is None]
    records = drill_records(tmp_path / "h", files, ROOT / "tests" / "foreign")
    declared = {c for r in records for c in r["controls"]}
    assert {"SYSC-15A", "PCI-DSS-12.10.5"} <= declared
    pack = evidence.build(tmp_path / "h", *Q1, tmp_path / "p")
    assert {c for c, check in pack.controls.items() if check.ok} == declared
    page = (tmp_path / "p" / "index.html").read_text()
    assert "knet-partial-outage" in page and "komoju-declines" in page


# ---------------------------------------------------------------- what the pack holds


def test_the_pack_holds_the_records_byte_for_byte_and_the_reports_they_point_to(pack_dir, hist):
    assert sorted(p.name for p in (pack_dir / "records").iterdir()) == ["00000002.json", "00000003.json",
                                                                        "00000004.json"]
    for name in ("00000002.json", "00000004.json"):
        assert (pack_dir / "records" / name).read_bytes() == (hist / "records" / name).read_bytes()
    copied = pack_dir / "reports" / "00000002-duplicate-charge-20260114-100000"
    assert (copied / "index.html").is_file() and (copied / "journal.json").is_file()
    assert len(list((pack_dir / "reports").iterdir())) == 1  # record 3's report is gone: listed, not invented


def test_index_html_shows_the_period_the_map_with_links_and_every_record(pack_dir):
    page = (pack_dir / "index.html").read_text()
    assert "<script" not in page and "http" not in page.replace("http://service.staging.internal", "")
    assert "Drill evidence, 2026-01-01 to 2026-03-31" in page
    row = re.search(r'<tr id="control-PCI-DSS-12.10.2">.*?</tr>', page, re.S)[0]
    assert 'class="covered">covered<' in row and 'href="records/00000002.json"' in row
    assert 'href="reports/00000002-duplicate-charge-20260114-100000/index.html"' in row
    assert 'class="missing">missing<' in re.search(r'<tr id="control-PCI-DSS-12.10.1">.*?</tr>', page, re.S)[0]
    record3 = re.search(r'<tr id="record-3">.*?</tr>', page, re.S)[0]
    assert 'class="fail">fail<' in record3 and "missing" in record3 and "reports/fraud-spike-gone" in record3
    record2 = re.search(r'<tr id="record-2">.*?</tr>', page, re.S)[0]
    assert "ana.m" in record2 and "li.w" in record2 and "late" in record2 and "staging" in record2
    assert "paged after 95 s" in record2 and "2026-01-14T10:00:00Z" in record2
    assert "production" in page and "Reports missing for record(s) 3" in page


def test_controls_json_and_chain_json_say_the_same_as_the_page(pack_dir, hist):
    controls = json.loads((pack_dir / "controls.json").read_text())
    assert set(controls["controls"]) == set(CONTROLS)
    assert controls["controls"]["PCI-DSS-12.10.2"] | {"why": ""} == {
        "title": CONTROLS["PCI-DSS-12.10.2"].title, "asks": CONTROLS["PCI-DSS-12.10.2"].asks, "status": "covered",
        "why": "", "records": [2]}
    assert controls["controls"]["PCI-DSS-12.10.1"]["status"] == "missing"
    assert controls["controls"]["PCI-DSS-12.10.2"]["why"] == "covered by 1 passed record(s): seq 2"
    assert controls["controls"]["PCI-DSS-12.10.1"]["why"] == "missing: 1 record(s) declare it, none passed"
    assert controls["controls"]["PCI-DSS-12.10.7"] | {"title": "", "asks": ""} == {
        "title": "", "asks": "", "status": "missing", "why": "missing: no record declares it", "records": []}
    chain = json.loads((pack_dir / "chain.json").read_text())
    assert chain["result"] == "intact" and chain["records"] == 4 and chain["in_period"] == [2, 3, 4]
    assert chain["head_sha256"] == hashlib.sha256((hist / "records" / "00000004.json").read_bytes()).hexdigest()


def test_the_manifest_is_sha256sums_format_over_every_other_file(pack_dir):
    lines = (pack_dir / "SHA256SUMS").read_text().splitlines()
    assert all(re.fullmatch(r"[0-9a-f]{64}  [^ ].*", line) for line in lines)
    listed = [line[66:] for line in lines]
    every = sorted(p.relative_to(pack_dir).as_posix() for p in pack_dir.rglob("*") if p.is_file())
    assert listed == sorted(listed) and set(every) - set(listed) == {"SHA256SUMS", "SHA256SUMS.sig"}
    assert {"index.html", "VERIFY.txt", "allowed_signers", "signing-key.pub", "controls.json"} <= set(listed)
    verify = (pack_dir / "VERIFY.txt").read_text()
    assert "sha256sum -c SHA256SUMS" in verify
    assert "ssh-keygen -Y verify -f allowed_signers -I team -n moneypath-evidence -s SHA256SUMS.sig < SHA256SUMS" \
        in verify
    assert (pack_dir / "allowed_signers").read_text().startswith('team namespaces="moneypath-evidence" ssh-ed25519 ')


# ---------------------------------------------------------------- verify


def test_an_intact_signed_pack_verifies_with_its_own_and_with_the_teams_key(pack_dir, key):
    assert evidence.verify(pack_dir).code == 0
    result = evidence.verify(pack_dir, Path(f"{key}.pub").read_text())
    assert result.code == 0 and "good signature by the key given" in result.lines[-1]


@pytest.mark.parametrize("where", ["records/00000002.json", "index.html",
                                   "reports/00000002-duplicate-charge-20260114-100000/index.html"])
def test_one_changed_byte_in_any_file_fails_verify(pack_dir, where):
    path = pack_dir / where
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = evidence.verify(pack_dir)
    assert result.code == 1 and result.lines == [f"{where}: changed (its sha256 is not the manifest's)"]


def test_a_changed_manifest_fails_its_signature(pack_dir):
    """Someone adds a file and lists it: every file matches, but the manifest is not the one that was signed."""
    manifest = pack_dir / "SHA256SUMS"
    (pack_dir / "extra.txt").write_text("added\n")
    manifest.write_text(manifest.read_text() + hashlib.sha256(b"added\n").hexdigest() + "  extra.txt\n")
    result = evidence.verify(pack_dir)
    assert result.code == 1 and "does not verify" in result.lines[-1]


def test_a_missing_or_an_added_file_fails_verify(pack_dir):
    (pack_dir / "records" / "00000003.json").unlink()
    (pack_dir / "records" / "00000005.json").write_text("{}")
    result = evidence.verify(pack_dir)
    assert result.code == 1
    assert result.lines == ["records/00000003.json: missing",
                            "records/00000005.json: not in SHA256SUMS (a file was added)"]


def test_another_key_fails_and_an_unsigned_pack_is_3(pack_dir, hist, tmp_path):
    other = openssh_key(tmp_path / "other.key")
    assert evidence.verify(pack_dir, Path(f"{other}.pub").read_text()).code == 1
    unsigned = tmp_path / "unsigned"
    evidence.build(hist, *Q1, unsigned)
    result = evidence.verify(unsigned)
    assert result.code == 3 and "unsigned" in result.lines[-1]
    assert "unsigned" in (unsigned / "VERIFY.txt").read_text() and not (unsigned / "SHA256SUMS.sig").exists()


def test_verify_and_the_control_map_answer_in_the_three_results(pack_dir, hist, tmp_path):
    """A pack's check is pass, fail or not measured (its exit code follows); a control is covered (pass) or missing
    (not measured), never a fail, and the pack's verdict is theirs."""
    assert evidence.verify(pack_dir).outcome is PASS
    (pack_dir / "index.html").write_text("changed")
    assert evidence.verify(pack_dir).outcome is FAIL
    pack = evidence.build(hist, *Q1, tmp_path / "unsigned")
    assert evidence.verify(tmp_path / "unsigned").outcome is NOT_MEASURED
    assert {check.outcome for check in pack.controls.values()} == {PASS, NOT_MEASURED}
    assert pack.verdict.outcome is NOT_MEASURED and pack.verdict.exit_code == pack.exit_code == 3
    assert pack.controls["PCI-DSS-12.10.2"].figures == {"records": [2]}


def test_the_audit_trails_key_signs_and_its_pub_verifies(hist, tmp_path):
    from moneypath.protocol.audit.checkpoint import write_key_pair

    private, public, _ = write_key_pair("payments-evidence", tmp_path)
    evidence.build(hist, *Q1, tmp_path / "p", private)
    assert evidence.verify(tmp_path / "p", public.read_text()).code == 0
    assert (tmp_path / "p" / "allowed_signers").read_text().startswith("payments-evidence ")


def test_sshsig_refuses_another_namespace(key):
    signing = sshsig.load_signing_key(key)
    armored = signing.sign(b"manifest", namespace="file")
    with pytest.raises(sshsig.SignatureError, match="namespace"):
        sshsig.verify(b"manifest", armored, signing.public_raw)


# ---------------------------------------------------------------- the command


def test_the_command_writes_the_pack_prints_the_map_and_exits_3_on_a_missing_control(hist, key, tmp_path):
    out = tmp_path / "cli-pack"
    r = run_cli("evidence", "--from", "2026-01-01", "--to", "2026-03-31", "--out", str(out), "--history", str(hist),
                "--signing-key", str(key))
    assert r.returncode == 3, r.stderr
    assert "3 record(s) from 2026-01-01 to 2026-03-31, 4 of 10 controls covered, signed by team" in r.stdout
    assert re.search(r"PCI-DSS-12.10.1 +MISSING +missing: 1 record\(s\) declare it, none passed", r.stdout)
    r = run_cli("evidence", "verify", str(out), "--key", f"{key}.pub")
    assert r.returncode == 0 and "good signature" in r.stdout


@pytest.mark.parametrize("args, words", [
    (["--from", "2026-13-01", "--to", "2026-03-31"], "--from: '2026-13-01' is not a date"),
    (["--from", "2026-04-01", "--to", "2026-03-31"], "--from 2026-04-01 is after --to 2026-03-31"),
    (["--to", "2026-03-31"], "give --from"),
    (["--from", "2026-01-01", "--to", "2026-03-31", "--signing-key", "/nonexistent"], "cannot read the signing key"),
])
def test_bad_usage_is_one_line_exit_2_and_writes_nothing(hist, tmp_path, args, words):
    out = tmp_path / "never"
    r = run_cli("evidence", *args, "--out", str(out), "--history", str(hist))
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.splitlines()) == 1
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["history"]


def test_a_pack_is_never_written_over_another(pack_dir, hist):
    before = (pack_dir / "SHA256SUMS").read_bytes()
    r = run_cli("evidence", "--from", "2026-01-01", "--to", "2026-03-31", "--out", str(pack_dir), "--history",
                str(hist))
    assert r.returncode == 2 and "not an empty directory" in r.stderr
    assert (pack_dir / "SHA256SUMS").read_bytes() == before


def test_a_broken_chain_makes_no_pack_and_exits_1(hist, tmp_path):
    path = hist / "records" / "00000003.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps(doc | {"verdict": "pass"}, sort_keys=True, separators=(",", ":")))
    r = run_cli("evidence", "--from", "2026-01-01", "--to", "2026-03-31", "--out", str(tmp_path / "p"),
                "--history", str(hist))
    assert r.returncode == 1 and "chain is broken" in r.stderr and not (tmp_path / "p").exists()
    with pytest.raises(history.HistoryError):
        history.read(hist)


def test_verify_of_something_that_is_not_a_pack(tmp_path):
    r = run_cli("evidence", "verify", str(tmp_path))
    assert r.returncode == 1 and "no SHA256SUMS" in r.stderr
    assert run_cli("evidence", "verify", str(tmp_path / "nothing")).returncode == 2


def test_a_record_with_the_contracts_fields_and_no_report(tmp_path):
    history.append(tmp_path / "h", record("2026-02-01", "audit-chain-tampered", "not measured", ["SOC2-CC7.5"]))
    pack = evidence.build(tmp_path / "h", *Q1, tmp_path / "p")
    assert pack.controls["SOC2-CC7.5"].outcome is NOT_MEASURED and pack.reports == {1: None}
    assert 'class="not-measured">not measured<' in (tmp_path / "p" / "index.html").read_text()


def test_the_docs_example_writes_the_pack_it_shows(tmp_path):
    from tests.docs_examples import code_block, sessions

    [(argv, shown)] = sessions(code_block("docs/evidence.md", "The pack", "console"))
    quarter(tmp_path / "ops" / "drill-history")
    openssh_key(tmp_path / "team.key")
    r = run_cli(*argv[1:], cwd=tmp_path)
    assert r.returncode == 3, r.stderr  # controls are missing: not measured
    assert all(line in r.stdout for line in shown), (shown, r.stdout)
    assert evidence.verify(tmp_path / "evidence-2026-q1").code == 0
