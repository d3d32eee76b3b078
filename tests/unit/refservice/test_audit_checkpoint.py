"""Signed checkpoints of the audit trail (moneypath.protocol.audit.checkpoint): each attack on a copy of a reference
service's SQLite (payments authorized, captured and refunded, then tampered with as someone with write access to the
database would; tests/support/audit_checkpoints.py) is caught by `moneypath audit verify --checkpoints DIR --key PUB`,
naming the checkpoint it contradicts. Without checkpoints the same chains verify: that is what the checkpoints are
for. The service's side: test_audit_check.py."""

from __future__ import annotations

import base64
import json
import sqlite3

import pytest

from moneypath.protocol.audit.chain import EVENTS_TABLE, GENESIS, HASHED, HEAD_TABLE, event_hash
from moneypath.protocol.audit.checkpoint import Checkpoint, CheckpointError, Signer, Verifier, generate_key
from tests.conftest import run_cli
from tests.support.audit_checkpoints import (
    checkpoint,
    forge_append,
    insert,
    other_actor,
    rehash_from,
    smaller_refund,
    truncate,
    verify,
)

# ------------------------------------------------------------------ verify --checkpoints


def test_an_untouched_chain_passes_through_its_checkpoints(ledger):
    path, keys, cps = ledger
    result = verify(path, keys, cps)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("audit chain intact: 20 event(s), seq 1..20; passes through 2 signed "
                                    "checkpoint(s), the newest checkpoint 00000000000000000020.note (seq 20, signed ")
    assert len(result.stdout.splitlines()) == 1
    assert verify(path, keys, cps, "--covered").returncode == 0


def test_the_attacks_verify_without_checkpoints(ledger):
    """The issue's finding, kept as the reason for checkpoints: a chain consistent with itself verifies."""
    path, _, _ = ledger
    forge_append(path, move_head=True)
    truncate(path)
    rehash_from(path, 20, smaller_refund)
    rehash_from(path, 1, other_actor)
    assert verify(path).returncode == 0


def test_an_event_after_the_head_is_an_error_not_ignored(ledger):
    path, keys, cps = ledger
    forge_append(path, move_head=False)
    for result in (verify(path), verify(path, keys, cps)):
        assert result.returncode == 1, result.stdout
        assert result.stdout == ("audit chain BROKEN at seq 21: events up to seq 21 lie beyond the head (seq 20): they "
                                 "were added without moving the head, or the head was moved back (20 event(s) "
                                 "walked)\n")


def test_a_deleted_head_row_is_an_error_and_nothing_is_signed_over_it(ledger, tmp_path):
    path, keys, cps = ledger
    db = sqlite3.connect(path)
    db.execute(f"DELETE FROM {HEAD_TABLE}")  # then an event added after the old head would pass unseen
    db.commit()
    db.close()
    forge_append(path, move_head=False)
    says = (f"audit chain BROKEN at seq 21: the head row ({HEAD_TABLE} id 1) is missing: it was deleted, so where "
            "the chain ends is unknown (21 event(s) walked)\n")
    for result in (verify(path), verify(path, keys, cps)):
        assert (result.returncode, result.stdout) == (1, says)
    fresh = tmp_path / "fresh-checkpoints"
    signed = checkpoint(f"sqlite:///{path}", keys, fresh)  # the first checkpoint walks all history
    assert signed.returncode == 1 and signed.stdout == says.rstrip() + "; nothing signed\n"
    assert not fresh.exists() or not any(fresh.iterdir())


def test_an_appended_event_with_the_head_moved_is_not_covered_by_any_checkpoint(ledger):
    path, keys, cps = ledger
    forge_append(path, move_head=True)
    result = verify(path, keys, cps)
    assert result.returncode == 0  # a running service appends too: it says so, and --covered makes it an error
    assert result.stdout.rstrip().endswith("; 1 event(s) after it are not covered by a checkpoint yet")
    strict = verify(path, keys, cps, "--covered")
    assert strict.returncode == 1
    assert strict.stdout.startswith("audit chain BROKEN at seq 21: seq 21..21 are not covered by any checkpoint "
                                    "(the newest is checkpoint 00000000000000000020.note (seq 20, signed ")


def test_the_newest_event_deleted_and_the_head_moved_back_contradicts_the_checkpoint(ledger):
    path, keys, cps = ledger
    truncate(path)
    result = verify(path, keys, cps)
    assert result.returncode == 1
    assert result.stdout.startswith("audit chain BROKEN at seq 20: the chain ends at seq 19, but seq 20 is in "
                                    "checkpoint 00000000000000000020.note (seq 20, signed ")
    assert result.stdout.rstrip().endswith("events were deleted (19 event(s) walked)")


def test_the_last_event_edited_and_rehashed_contradicts_the_checkpoint(ledger):
    path, keys, cps = ledger
    rehash_from(path, 20, smaller_refund)
    result = verify(path, keys, cps)
    assert result.returncode == 1
    assert result.stdout.startswith("audit chain BROKEN at seq 20: its hash differs from checkpoint "
                                    "00000000000000000020.note (seq 20, signed ")
    assert "the chain was rewritten" in result.stdout


def test_the_whole_chain_rehashed_contradicts_the_first_checkpoint_it_covers(ledger):
    path, keys, cps = ledger
    rehash_from(path, 1, other_actor)
    result = verify(path, keys, cps)
    assert result.returncode == 1
    assert result.stdout.startswith("audit chain BROKEN at seq 10: its hash differs from checkpoint "
                                    "00000000000000000010.note (seq 10, signed ")


def test_an_event_edited_between_two_checkpoints_names_the_next_one(ledger):
    path, keys, cps = ledger
    rehash_from(path, 12, other_actor)
    result = verify(path, keys, cps)
    assert result.returncode == 1 and result.stdout.startswith(
        "audit chain BROKEN at seq 20: its hash differs from checkpoint 00000000000000000020.note")


# ------------------------------------------------------------------ the checkpoints themselves


def test_a_checkpoint_altered_or_signed_by_another_key_is_refused_in_one_line(ledger, tmp_path):
    path, keys, cps = ledger
    note = (cps / "00000000000000000020.note").read_text()
    lines = note.split("\n")
    lines[2] = base64.b64encode(b"\x00" * 32).decode()  # another hash under the old signature
    (cps / "00000000000000000020.note").write_text("\n".join(lines))
    result = verify(path, keys, cps)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("moneypath audit verify: checkpoint 00000000000000000020.note: its signature by "
                             "payments-audit does not verify: it was altered or forged\n")
    other, _ = generate_key("payments-audit")  # same name, another key
    forged = Checkpoint("payments-audit", 20, "00" * 32, 1_800_000_000)
    (cps / "00000000000000000020.note").write_text(Signer(other).sign(forged.body()))
    result = verify(path, keys, cps)
    assert result.returncode == 2 and "carries no signature by payments-audit" in result.stderr


def test_a_checkpoint_under_another_seqs_name_is_refused(ledger):
    path, keys, cps = ledger
    (cps / "00000000000000000010.note").rename(cps / "00000000000000000011.note")
    result = verify(path, keys, cps)
    assert result.returncode == 2 and "signs seq 10, not the seq it is named for" in result.stderr


@pytest.mark.parametrize("args, says", [
    (["--checkpoints", "CPS"], "--checkpoints and --key go together"),
    (["--key", "KEYS/payments-audit.pub"], "--checkpoints and --key go together"),
    (["--covered"], "--covered needs --checkpoints"),
    (["--checkpoints", "CPS", "--key", "KEYS/nope.pub"], "cannot read the verifier key"),
    (["--checkpoints", "CPS", "--key", "KEYS/payments-audit.key"], "that is the signer (private) key"),
    (["--checkpoints", "CPS", "--key", "x+1234abcd+AAAA"], "is not an Ed25519 key"),
    (["--checkpoints", "CPS/none", "--key", "KEYS/payments-audit.pub"], "cannot read the checkpoint directory"),
])
def test_bad_checkpoint_arguments_are_one_line_and_exit_2(ledger, args, says):
    path, keys, cps = ledger
    args = [a.replace("CPS", str(cps)).replace("KEYS", str(keys)) for a in args]
    result = run_cli("audit", "verify", "--db", f"sqlite:///{path}", *args)
    assert (result.returncode, result.stdout) == (2, "") and says in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_keygen_refuses_to_replace_a_key_or_a_bad_name(ledger):
    _, keys, _ = ledger
    before = (keys / "payments-audit.key").read_text()
    again = run_cli("audit", "keygen", "payments-audit", "--out", str(keys))
    assert again.returncode == 2 and "exists; refusing to replace a key" in again.stderr
    assert (keys / "payments-audit.key").read_text() == before
    assert oct((keys / "payments-audit.key").stat().st_mode & 0o777) == "0o600"
    bad = run_cli("audit", "keygen", "../x", "--out", str(keys))
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and not (keys.parent / "x.key").exists()


def test_the_checkpoint_command_signs_nothing_over_a_rewritten_chain(ledger):
    path, keys, cps = ledger
    before = sorted(p.name for p in cps.iterdir())
    rehash_from(path, 3, other_actor)
    result = checkpoint(f"sqlite:///{path}", keys, cps)
    assert result.returncode == 1
    assert result.stdout.startswith("audit chain BROKEN at seq 20: its hash differs from the one signed in "
                                    "checkpoint 00000000000000000020.note")
    assert result.stdout.rstrip().endswith("nothing signed")
    assert sorted(p.name for p in cps.iterdir()) == before


def test_the_signed_note_format_is_c2sps_as_gos_note_package_reads_it():
    """The example key and note of golang.org/x/mod/sumdb/note's documentation open with this verifier."""
    verifier = Verifier("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    note = ("If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
            "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6Ryy"
            "BwJnAM=\n")
    assert verifier.open(note).startswith("If you think cryptography")
    with pytest.raises(CheckpointError, match="does not verify"):
        verifier.open(note.replace("problem,", "problem;"))


def test_jobs_out_of_range_is_one_line_and_exit_2(ledger):
    path, _, _ = ledger
    result = run_cli("audit", "verify", "--db", f"sqlite:///{path}", "--jobs", "-1")
    assert (result.returncode, result.stdout) == (2, "") and "--jobs -1: give 1 to 64" in result.stderr


@pytest.mark.parametrize("key, where, says", [
    ("KEYS/nope.key", "CPS", "cannot read the signer key"),
    ("KEYS/payments-audit.pub", "CPS", "a signer key starts with PRIVATE+KEY+"),
    ("KEYS/payments-audit.key", "FILE", "cannot read the checkpoint directory"),
    ("KEYS/payments-audit.key", "FILE/sub", "cannot write to"),
])
def test_bad_checkpoint_command_input_is_one_line_exit_2_and_writes_nothing(ledger, key, where, says):
    path, keys, cps = ledger
    (cps.parent / "file").write_text("")
    before = sorted(p.name for p in cps.iterdir())
    result = run_cli("audit", "checkpoint", "--db", f"sqlite:///{path}", "--key",
                     key.replace("KEYS", str(keys)), "--checkpoints",
                     where.replace("CPS", str(cps)).replace("FILE", str(cps.parent / "file")))
    assert (result.returncode, result.stdout) == (2, "") and says in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in cps.iterdir()) == before


# ------------------------------------------------------------------ a foreign service


def ticket_shop(path, sales: list[tuple[str, str, int]], db=None) -> None:
    """A team's own service (tickets in JPY and KWD, its own actors and actions) writing the chain's layout with
    plain sqlite3 and nothing of the reference service; it does not sign checkpoints itself."""
    db = db or sqlite3.connect(path)
    db.execute(f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} ({', '.join(HASHED)}, prev_hash, hash)")
    db.execute(f"CREATE TABLE IF NOT EXISTS {HEAD_TABLE} (id INTEGER PRIMARY KEY, seq INTEGER, hash TEXT)")
    head = db.execute(f"SELECT seq, hash FROM {HEAD_TABLE} WHERE id = 1").fetchone() or (0, GENESIS)
    seq, prev = head
    for action, currency, amount in sales:
        seq += 1
        event = {"seq": seq, "at": 1_800_000_000 + seq, "actor": "box-office", "scope": "tickets:sell",
                 "correlation_id": f"c{seq}", "entity": "ticket", "entity_id": f"t{seq}", "action": action,
                 "before": None, "after": json.dumps({"currency": currency, "amount_minor": amount}),
                 "prev_hash": prev}
        event["hash"] = prev = event_hash(prev, event)
        insert(db, event)
    db.execute(f"INSERT OR REPLACE INTO {HEAD_TABLE} VALUES (1, ?, ?)", (seq, prev))
    db.commit()
    db.close()


def test_a_foreign_service_checkpointed_by_cron_catches_the_same_attacks(tmp_path):
    keys, cps, path = tmp_path / "keys", tmp_path / "cps", tmp_path / "shop.db"
    keys.mkdir()
    assert run_cli("audit", "keygen", "payments-audit", "--out", str(keys)).returncode == 0
    ticket_shop(path, [("charge", "JPY", 6235), ("charge", "KWD", 1250), ("void", "JPY", 6235)])
    first = checkpoint(f"sqlite:///{path}", keys, cps)  # the first one walks all history
    assert first.returncode == 0 and "intact up to seq 3: signed checkpoint 00000000000000000003.note" in first.stdout
    ticket_shop(path, [("charge", "KWD", 4000)])
    assert "seq 4: signed checkpoint 00000000000000000004.note" in checkpoint(f"sqlite:///{path}", keys, cps).stdout
    again = checkpoint(f"sqlite:///{path}", keys, cps)
    assert again.stdout == "audit chain intact up to seq 4: already checkpointed, nothing new to sign\n"
    assert verify(path, keys, cps).returncode == 0

    pristine = path.read_bytes()
    for attack, broken_at, says in [
        (lambda: rehash_from(path, 2, lambda e: e.update(after=e["after"].replace("1250", "125"))), 3,
         "its hash differs from checkpoint 00000000000000000003.note"),
        (lambda: rehash_from(path, 4, other_actor), 4, "its hash differs from checkpoint 00000000000000000004.note"),
        (lambda: truncate(path), 4, "the chain ends at seq 3, but seq 4 is in checkpoint 00000000000000000004.note"),
        (lambda: forge_append(path, move_head=False), 5, "lie beyond the head (seq 4)"),
    ]:
        path.write_bytes(pristine)
        attack()
        result = verify(path, keys, cps)
        assert result.returncode == 1 and result.stdout.startswith(f"audit chain BROKEN at seq {broken_at}: ")
        assert says in result.stdout, result.stdout
    path.write_bytes(pristine)
    forge_append(path, move_head=True)
    assert verify(path, keys, cps, "--covered").stdout.startswith("audit chain BROKEN at seq 5: seq 5..5 are not "
                                                                  "covered by any checkpoint")
