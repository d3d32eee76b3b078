"""Signed checkpoints of the drill history's head (moneypath.readiness.checkpoints): the newest record deleted or
edited, and a chain re-hashed from an old record, are caught; what nothing signed vouches for is not measured."""

from __future__ import annotations

import json

import pytest

from moneypath.protocol.audit.checkpoint import CheckpointError, write_key_pair
from moneypath.readiness import history as h
from moneypath.readiness.checkpoints import sign_head, verify
from tests.support.drill_history import DAY, fields

T = 1_790_000_000.0


@pytest.fixture
def signed(tmp_path):
    """Five records, each signed after it was appended (as the drill runner does with a key): (history, checkpoint
    directory, signer key file, verifier key file)."""
    keys = tmp_path / "keys"
    keys.mkdir()
    private, public, _ = write_key_pair("team-drills", keys)
    folder, checkpoints = tmp_path / "history", tmp_path / "checkpoints"
    for i in range(5):
        h.append(folder, fields(ended=T + i * DAY))
        assert sign_head(folder, checkpoints, str(private)).seq == i + 1
    return folder, checkpoints, str(private), str(public)


def _file(folder, seq):
    return folder / "records" / f"{seq:08d}.json"


def test_an_intact_signed_history_passes(signed):
    folder, checkpoints, _, public = signed
    checked = verify(folder, checkpoints, public)
    assert checked.status == "pass" and checked.covered == 5
    assert checked.line().startswith("history intact: 5 record(s), seq 1..5 (0 journal(s) match their records, 5 not "
                                     "found here); passes through 5 signed checkpoint(s)")


def test_the_newest_record_deleted_is_caught(signed):
    folder, checkpoints, _, public = signed
    _file(folder, 5).unlink()
    assert len(h.read(folder)) == 4  # the chain alone reads
    checked = verify(folder, checkpoints, public)
    assert checked.status == "fail" and (checked.error.seq, checked.error.problem) == (5, "missing")
    assert "seq 5 deleted" in checked.line() and "the history ends at seq 4" in checked.line()


def test_the_two_newest_deleted_are_named_from_the_first(signed):
    folder, checkpoints, _, public = signed
    _file(folder, 5).unlink()
    _file(folder, 4).unlink()
    checked = verify(folder, checkpoints, public)
    assert checked.error.seq == 4 and "seq 4..5 deleted" in checked.line()


def test_the_newest_record_edited_is_caught(signed):
    folder, checkpoints, _, public = signed
    record = json.loads(_file(folder, 5).read_bytes())
    _file(folder, 5).write_bytes(h.canonical({**record, "verdict": "pass", "environment": "production"}))
    assert len(h.read(folder)) == 5
    checked = verify(folder, checkpoints, public)
    assert (checked.error.seq, checked.error.problem) == (5, "edited")


def test_a_chain_rewritten_and_re_hashed_from_an_old_record_is_caught_there(signed):
    folder, checkpoints, _, public = signed
    prev = h.record_hash(_file(folder, 2).read_bytes())
    for seq in (3, 4, 5):  # the attacker edits seq 3 and re-chains everything after it
        record = json.loads(_file(folder, seq).read_bytes())
        record.update(prev=prev, **({"verdict": "pass", "drill": "nicer"} if seq == 3 else {}))
        _file(folder, seq).write_bytes(h.canonical(record))
        prev = h.record_hash(record)
    assert len(h.read(folder)) == 5
    checked = verify(folder, checkpoints, public)
    assert (checked.error.seq, checked.error.problem) == (3, "edited") and checked.status == "fail"


def test_a_chain_break_before_any_contradiction_is_named_first(signed):
    folder, checkpoints, _, public = signed
    _file(folder, 2).unlink()
    checked = verify(folder, checkpoints, public)
    assert (checked.error.seq, checked.error.problem) == (2, "missing")


def test_records_appended_after_the_newest_checkpoint_are_not_measured_until_signed(signed):
    folder, checkpoints, private, public = signed
    h.append(folder, fields(ended=T + 9 * DAY))
    checked = verify(folder, checkpoints, public)
    assert checked.status == "not measured" and "seq 6..6: added after the newest checkpoint" in checked.line()
    assert sign_head(folder, checkpoints, private).seq == 6
    assert sign_head(folder, checkpoints, private) is None  # nothing new to sign
    assert verify(folder, checkpoints, public).status == "pass"


def test_without_checkpoints_an_intact_chain_is_not_measured_and_says_why(signed):
    folder, *_ = signed
    checked = verify(folder)
    assert checked.status == "not measured" and checked.covered is None
    assert "cannot show its newest records deleted" in checked.line()


def test_an_empty_checkpoint_directory_vouches_for_nothing(tmp_path, signed):
    folder, _, _, public = signed
    checked = verify(folder, tmp_path / "empty", public)
    assert checked.status == "not measured" and checked.covered == 0


def test_a_broken_history_is_never_signed(signed):
    folder, checkpoints, private, _ = signed
    h.append(folder, fields(ended=T + 9 * DAY))
    record = json.loads(_file(folder, 2).read_bytes())
    _file(folder, 2).write_bytes(h.canonical({**record, "verdict": "fail"}))
    before = sorted(p.name for p in checkpoints.iterdir())
    with pytest.raises(h.HistoryError, match="seq 2: edited.*nothing signed"):
        sign_head(folder, checkpoints, private)
    assert sorted(p.name for p in checkpoints.iterdir()) == before


def test_another_key_or_a_forged_checkpoint_is_refused_in_one_line(tmp_path, signed):
    folder, checkpoints, private, public = signed
    with pytest.raises(CheckpointError, match="verifying takes the verifier key"):
        verify(folder, checkpoints, private)
    note = checkpoints / f"{5:020d}.note"
    note.write_text(note.read_text().replace("\n5\n", "\n4\n"))
    with pytest.raises(CheckpointError, match=f"checkpoint {note.name}:.*does not verify"):
        verify(folder, checkpoints, public)


def test_checkpoints_of_the_audit_trail_key_are_not_the_historys(tmp_path, signed):
    folder, checkpoints, _, _ = signed
    other = tmp_path / "other"
    other.mkdir()
    _, public, _ = write_key_pair("payments-audit", other)
    with pytest.raises(CheckpointError, match="carries no signature by payments-audit"):
        verify(folder, checkpoints, str(public))


def test_a_journal_edited_after_it_was_recorded_is_an_edit_of_its_record(tmp_path):
    import hashlib

    folder = tmp_path / "history"
    for i in range(3):
        journal = folder / "reports" / f"run-{i}" / "journal.json"
        journal.parent.mkdir(parents=True)
        journal.write_text(json.dumps({"verdict": "fail", "run": i}))
        h.append(folder, fields(ended=T + i * DAY, report=f"reports/run-{i}",
                                journal_sha256=hashlib.sha256(journal.read_bytes()).hexdigest()))
    assert verify(folder).line().startswith("history intact: 3 record(s), seq 1..3 (3 journal(s) match their records)")
    (folder / "reports" / "run-1" / "journal.json").write_text(json.dumps({"verdict": "pass", "run": 1}))
    checked = verify(folder)
    assert checked.status == "fail" and (checked.error.seq, checked.error.problem) == (2, "edited")
    assert "its journal" in checked.line() and "sha256 differs" in checked.line()
