"""Signed checkpoints of the audit trail: each attack of issue 32 on a copy of a reference service's SQLite
(payments authorized, captured and refunded, then tampered with as someone with write access to the database
would) is caught by `moneypath audit verify --checkpoints DIR --key PUB`, naming the checkpoint it contradicts,
and by a restarted service that resumes from the newest checkpoint. Without checkpoints the same chains verify:
that is what the checkpoints are for."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3

import pytest
from prometheus_client import CollectorRegistry

from moneypath.catalog.conventions import Key
from moneypath.instrument import MoneyPath
from moneypath.protocol.audit.chain import EVENTS_TABLE, GENESIS, HASHED, HEAD_TABLE, event_hash
from moneypath.protocol.audit.checkpoint import (
    Checkpoint,
    CheckpointDir,
    CheckpointError,
    Publisher,
    Signer,
    Verifier,
    generate_key,
)
from moneypath.reference.refservice import payment_state
from moneypath.reference.refservice.audit import trail as audit
from moneypath.reference.refservice.audit.chain_check import AuditCheck
from moneypath.reference.refservice.db import make_engine, make_reader
from tests.conftest import ROOT, run_cli

ROW = (*HASHED, "prev_hash", "hash")


@pytest.fixture
def ledger(tmp_path):
    """A reference ledger after 8 payments were authorized and captured and 4 of them refunded (20 events), with
    a signer key kept apart from it, a checkpoint directory, and two checkpoints (after the first 4 payments and
    at the head) signed by `moneypath audit checkpoint`."""
    path = tmp_path / "ledger.db"
    engine = make_engine(f"sqlite:///{path}")
    keys = tmp_path / "keys"
    keys.mkdir()
    assert run_cli("audit", "keygen", "payments-audit", "--out", str(keys)).returncode == 0
    url, cps = f"sqlite:///{path}", tmp_path / "checkpoints"
    for i in range(8):
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            row = payment_state.create(conn, principal="merchant_1", kind="payment", state="authorized", provider="acme",
                                  method="card", amount_minor=1000 + i, currency="EUR", reference=f"order-{i}",
                                  provider_ref=f"acme_{i}", provider_status="approved")
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            payment_state.mark_captured(conn, row, "captured")
        if i % 2:
            with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
                payment_state.mark_refunded(conn, {**row, "state": "captured"}, 1000 + i, "refunded")
        if i == 3:
            signed = checkpoint(url, keys, cps)
            assert signed.returncode == 0 and "signed checkpoint 00000000000000000010.note" in signed.stdout
    engine.dispose()
    assert checkpoint(url, keys, cps).returncode == 0
    yield path, keys, cps


def checkpoint(url, keys, cps):
    return run_cli("audit", "checkpoint", "--db", url, "--key", str(keys / "payments-audit.key"),
                   "--checkpoints", str(cps))


def verify(path, keys=None, cps=None, *more: str):
    args = ["audit", "verify", "--db", f"sqlite:///{path}"]
    if cps is not None:
        args += ["--checkpoints", str(cps), "--key", str(keys / "payments-audit.pub")]
    return run_cli(*args, *more)


# ------------------------------------------------------------------ the attacks, as plain SQL on the file

def rows(db) -> list[dict]:
    return [dict(zip(ROW, r)) for r in db.execute(f"SELECT {', '.join(ROW)} FROM {EVENTS_TABLE} ORDER BY seq")]


def insert(db, event: dict) -> None:
    db.execute(f"INSERT INTO {EVENTS_TABLE} ({', '.join(ROW)}) VALUES ({', '.join('?' * len(ROW))})",
               [event[c] for c in ROW])


def forge_append(path, move_head: bool) -> None:
    """A refund nobody made, chained onto the last event with a correct hash."""
    with sqlite3.connect(path) as db:
        last = rows(db)[-1]
        event = {**last, "seq": last["seq"] + 1, "actor": "merchant_1", "action": "refund", "prev_hash": last["hash"],
                 "after": json.dumps({"state": "refunded", "refunded_minor": 5000}, separators=(",", ":"))}
        event["hash"] = event_hash(last["hash"], event)
        insert(db, event)
        if move_head:
            db.execute(f"UPDATE {HEAD_TABLE} SET seq = ?, hash = ? WHERE id = 1", (event["seq"], event["hash"]))


def truncate(path) -> None:
    """The newest event deleted and the head moved back onto the one before it."""
    with sqlite3.connect(path) as db:
        *_, before, last = rows(db)
        db.execute(f"DELETE FROM {EVENTS_TABLE} WHERE seq = ?", (last["seq"],))
        db.execute(f"UPDATE {HEAD_TABLE} SET seq = ?, hash = ? WHERE id = 1", (before["seq"], before["hash"]))


def rehash_from(path, seq: int, edit) -> None:
    """Edit the event at `seq`, then re-hash it and every later one, and move the head: a consistent chain."""
    with sqlite3.connect(path) as db:
        events = rows(db)
        prev = GENESIS if seq == 1 else events[seq - 2]["hash"]
        for event in events[seq - 1:]:
            if event["seq"] == seq:
                edit(event)
            event["prev_hash"], event["hash"] = prev, event_hash(prev, event)
            prev = event["hash"]
            db.execute(f"UPDATE {EVENTS_TABLE} SET actor = ?, after = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                       (event["actor"], event["after"], event["prev_hash"], event["hash"], event["seq"]))
        db.execute(f"UPDATE {HEAD_TABLE} SET seq = ?, hash = ? WHERE id = 1", (events[-1]["seq"], prev))


def smaller_refund(event: dict) -> None:
    event["after"] = event["after"].replace('"refunded_minor":1007', '"refunded_minor":7')


def other_actor(event: dict) -> None:
    event["actor"] = "someone-else"


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


# ------------------------------------------------------------------ the service: publish, restart, resume

def service_check(path, cps, signer_text, registry=None):
    mp = MoneyPath.from_catalog(ROOT / "moneypath.yaml", registry=registry or CollectorRegistry())
    engine, reader = make_engine(f"sqlite:///{path}"), make_reader(f"sqlite:///{path}")
    return AuditCheck(engine, reader, mp, publisher=Publisher(Signer(signer_text), CheckpointDir(cps)),
                      checkpoint_interval_s=3600), mp


def test_the_service_signs_its_verified_head_and_a_restart_resumes_from_the_newest_checkpoint(tmp_path):
    path, cps = tmp_path / "ledger.db", tmp_path / "cps"
    signer, public = generate_key("refservice")
    engine = make_engine(f"sqlite:///{path}")
    for i in range(3):
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            payment_state.create(conn, principal="merchant_1", kind="payment", state="authorized", provider="acme",
                            method="card", amount_minor=500, currency="JPY", reference=f"r{i}",
                            provider_ref=f"acme_r{i}", provider_status="approved")
    registry = CollectorRegistry()
    check, mp = service_check(path, cps, signer, registry)
    assert check.run_once().intact
    assert [p.name for p in cps.iterdir()] == ["00000000000000000003.note"]
    assert registry.get_sample_value(mp.catalog.metric(Key.AUDIT_CHECKPOINT_SEQ)) == 3
    assert registry.get_sample_value(mp.catalog.metric(Key.AUDIT_HEAD_SEQ)) == 3  # what AuditCheckpointStale compares
    assert check.run_once().intact and len(list(cps.iterdir())) == 1  # within the interval: none more
    assert CheckpointDir(cps).newest(Verifier(public)).seq == 3

    rehash_from(path, 1, other_actor)  # while the service is down
    restarted, _ = service_check(path, cps, signer)
    verdict = restarted.run_once()
    assert not verdict.intact and verdict.broken_seq == 3
    assert "its hash differs from the one signed in checkpoint 00000000000000000003.note" in verdict.reason
    assert len(list(cps.iterdir())) == 1  # nothing signed over a broken chain

    plain = CollectorRegistry()
    without = AuditCheck(make_engine(f"sqlite:///{path}"), make_reader(f"sqlite:///{path}"),
                         MoneyPath.from_catalog(ROOT / "moneypath.yaml", registry=plain))
    assert without.run_once().intact  # the same restart without checkpoints: nothing outside says otherwise
    # and nothing to catch up with: both gauges stay 0, so AuditCheckpointStale cannot fire for it
    assert plain.get_sample_value(without.mp.catalog.metric(Key.AUDIT_HEAD_SEQ)) == 0


def test_no_checkpoint_directory_yet_is_no_error_on_a_new_chain_and_a_warning_on_one_with_history(tmp_path, caplog):
    """A fresh stack logged ERROR "cannot read the checkpoint directory" at its first start (nothing published
    yet); a chain with events and no directory may have lost its checkpoints, which is worth a warning."""
    path, cps = tmp_path / "ledger.db", tmp_path / "cps"
    signer, _ = generate_key("refservice")
    make_engine(f"sqlite:///{path}")
    with caplog.at_level(logging.INFO, logger="moneypath.refservice.audit"):
        check, _ = service_check(path, cps, signer)
    assert [(r.levelname, "no directory" in r.getMessage()) for r in caplog.records] == [("INFO", True)]
    assert check.run_once().intact and not cps.exists()  # nothing to sign on an empty chain

    with make_engine(f"sqlite:///{path}").begin() as conn, audit.acting("merchant_1", "payments:write"):
        payment_state.create(conn, principal="merchant_1", kind="payment", state="authorized", provider="zenpay",
                        method="card", amount_minor=700, currency="BRL", reference="b1", provider_ref="zen_b1",
                        provider_status="approved")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="moneypath.refservice.audit"):
        check, _ = service_check(path, cps, signer)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "the chain holds 1 events" in caplog.records[0].getMessage()
    assert check.run_once().intact and [p.name for p in cps.iterdir()] == ["00000000000000000001.note"]


def test_a_restart_catches_a_chain_cut_off_below_the_newest_checkpoint(tmp_path):
    path, cps = tmp_path / "ledger.db", tmp_path / "cps"
    signer, _ = generate_key("refservice")
    engine = make_engine(f"sqlite:///{path}")
    for i in range(2):
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            payment_state.create(conn, principal="merchant_1", kind="payment", state="authorized", provider="acme",
                            method="card", amount_minor=500, currency="KWD", reference=f"k{i}",
                            provider_ref=f"acme_k{i}", provider_status="approved")
    check, _ = service_check(path, cps, signer)
    check.final_checkpoint()  # the service's last act at shutdown
    assert [p.name for p in cps.iterdir()] == ["00000000000000000002.note"]
    truncate(path)
    verdict = service_check(path, cps, signer)[0].run_once()
    assert not verdict.intact and "signed in checkpoint 00000000000000000002.note" in verdict.reason
    assert "the head was moved back" in verdict.reason or "gone" in verdict.reason


def test_the_publisher_skips_an_unmoved_head_and_refuses_a_second_hash_for_a_signed_seq(tmp_path):
    signer, _ = generate_key("refservice")
    first = Publisher(Signer(signer), CheckpointDir(tmp_path))
    assert first.publish(5, "ab" * 32, 1_800_000_000).seq == 5
    assert first.publish(5, "ab" * 32, 1_800_000_060) is None
    other = Publisher(Signer(signer), CheckpointDir(tmp_path))  # a second service instance on the same database
    assert other.publish(5, "ab" * 32, 1_800_000_001) is None  # same head: agrees, nothing written
    with pytest.raises(CheckpointError, match="signs another hash for seq 5"):
        Publisher(Signer(signer), CheckpointDir(tmp_path)).publish(5, "cd" * 32, 1_800_000_002)
    assert [p.name for p in tmp_path.iterdir()] == ["00000000000000000005.note"]


def test_the_service_signs_the_head_as_it_leaves_it_at_shutdown(tmp_path):
    import asyncio

    from moneypath.reference.refservice.app import ServiceConfig, create_app

    signer, public = generate_key("refservice")
    (tmp_path / "refservice.key").write_text(signer)
    config = ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=b"s", provider_url="http://sim",
                           audit_verify_interval_s=3600, audit_checkpoint_dir=str(tmp_path / "cps"),
                           audit_checkpoint_key=str(tmp_path / "refservice.key"))
    app = create_app(config, mp=MoneyPath.from_catalog(ROOT / "moneypath.yaml", registry=CollectorRegistry()))

    async def run():
        async with app.router.lifespan_context(app):
            for i in range(2):  # bookings after the first check: only the checkpoint at shutdown covers them
                with app.state.engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
                    payment_state.create(conn, principal="merchant_1", kind="payment", state="authorized",
                                    provider="acme", method="card", amount_minor=700, currency="GBP",
                                    reference=f"s{i}", provider_ref=f"acme_s{i}", provider_status="approved")

    asyncio.run(run())
    assert CheckpointDir(tmp_path / "cps").newest(Verifier(public)).seq == 2


@pytest.mark.parametrize("env, says", [
    ({"MONEYPATH_AUDIT_CHECKPOINT_DIR": "cps"}, "MONEYPATH_AUDIT_CHECKPOINT_DIR and MONEYPATH_AUDIT_CHECKPOINT_KEY go "
                                                "together"),
    ({"MONEYPATH_AUDIT_CHECKPOINT_KEY": "k.key"}, "go together"),
    ({"MONEYPATH_AUDIT_CHECKPOINT_DIR": "cps", "MONEYPATH_AUDIT_CHECKPOINT_KEY": "KEYDIR/none.key"},
     "MONEYPATH_AUDIT_CHECKPOINT_KEY: cannot read the signer key"),
    ({"MONEYPATH_AUDIT_CHECKPOINT_DIR": "cps", "MONEYPATH_AUDIT_CHECKPOINT_KEY": "KEYDIR/k.pub"},
     "MONEYPATH_AUDIT_CHECKPOINT_KEY: a signer key starts with PRIVATE+KEY+"),
    ({"MONEYPATH_AUDIT_CHECKPOINT_INTERVAL_S": "0"}, "MONEYPATH_AUDIT_CHECKPOINT_INTERVAL_S=0 must be between"),
])
def test_the_service_refuses_a_bad_checkpoint_configuration_in_one_line(tmp_path, env, says):
    from moneypath.reference.refservice.config import ServiceConfig

    signer, public = generate_key("k")
    (tmp_path / "k.key").write_text(signer)
    (tmp_path / "k.pub").write_text(public)
    env = {"MONEYPATH_TOKEN_SECRET": "s", **{k: v.replace("KEYDIR", str(tmp_path)) for k, v in env.items()}}
    with pytest.raises(SystemExit) as stopped:
        ServiceConfig.from_env(env)
    assert says in str(stopped.value) and len(str(stopped.value).splitlines()) == 1


def test_the_service_takes_a_good_checkpoint_configuration(tmp_path):
    from moneypath.reference.refservice.config import ServiceConfig

    signer, _ = generate_key("k")
    (tmp_path / "k.key").write_text(signer)
    config = ServiceConfig.from_env({"MONEYPATH_TOKEN_SECRET": "s", "MONEYPATH_AUDIT_CHECKPOINT_DIR": "cps",
                                     "MONEYPATH_AUDIT_CHECKPOINT_KEY": str(tmp_path / "k.key"),
                                     "MONEYPATH_AUDIT_CHECKPOINT_INTERVAL_S": "30"})
    assert (config.audit_checkpoint_dir, config.audit_checkpoint_interval_s) == ("cps", 30)


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


# ------------------------------------------------------------------ the walk's fast paths give the same answers

def spans_here(engine):
    """verify_database's `spans`, run in this process (the CLI runs each range in a process of its own)."""
    from moneypath.protocol.audit.chain import walk_span

    def run(ranges, marks):
        with engine.connect() as conn:
            return [walk_span(conn, first, last, marks, batch=4) for first, last in ranges]
    return run


@pytest.mark.parametrize("attack, broken_at, says", [
    (None, None, ""),
    (lambda path: rehash_from(path, 14, other_actor), 20, "differs from checkpoint 00000000000000000020.note"),
    (lambda path: rehash_from(path, 2, other_actor), 10, "differs from checkpoint 00000000000000000010.note"),
    (lambda path: sqlite3.connect(path).execute(f"UPDATE {EVENTS_TABLE} SET actor = 'x' WHERE seq = 15").connection
     .commit(), 15, "the event was edited"),
    (lambda path: sqlite3.connect(path).execute(f"DELETE FROM {EVENTS_TABLE} WHERE seq = 13").connection.commit(),
     13, "seq 13 is missing"),  # the last event of a range: the next range starts from it
    (lambda path: truncate(path), 20, "the chain ends at seq 19, but seq 20 is in checkpoint"),
])
def test_a_walk_in_ranges_finds_what_one_walk_finds(ledger, monkeypatch, attack, broken_at, says):
    from moneypath.protocol.audit import chain as audit_chain
    from moneypath.protocol.audit.checkpoint import marks

    path, keys, cps = ledger
    if attack is not None:
        attack(path)
    monkeypatch.setattr(audit_chain, "SPAN_MIN", 6)
    signed = marks(CheckpointDir(cps).read(Verifier((keys / "payments-audit.pub").read_text())))
    engine = make_reader(f"sqlite:///{path}")  # reads only: no write lock for the second connection to wait on
    with engine.connect() as conn:
        one = audit_chain.verify_database(conn, marks=signed, batch=4)
        ranges = audit_chain.verify_database(conn, marks=signed, spans=spans_here(engine), workers=3)
    engine.dispose()
    assert (ranges.broken_seq, ranges.events, ranges.last_seq) == (one.broken_seq, one.events, one.last_seq)
    assert one.broken_seq == broken_at and says in one.reason and says in ranges.reason


def test_an_event_the_database_quotes_otherwise_is_hashed_again_in_python(tmp_path):
    """A foreign writer that stores `at` as text: SQLite's quoting path cannot build its JSON, the Python one can."""
    from moneypath.protocol.audit.chain import verify_database

    path = tmp_path / "shop.db"
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE {EVENTS_TABLE} ({', '.join(HASHED)}, prev_hash, hash)")
    db.execute(f"CREATE TABLE {HEAD_TABLE} (id INTEGER PRIMARY KEY, seq INTEGER, hash TEXT)")
    event = {"seq": 1, "at": "2027-01-15T08:00:00Z", "actor": "box-office\n", "scope": "", "correlation_id": "c",
             "entity": "ticket", "entity_id": "t1", "action": "charge", "before": None, "after": "{}",
             "prev_hash": GENESIS}
    event["hash"] = event_hash(GENESIS, event)
    insert(db, event)
    db.execute(f"INSERT INTO {HEAD_TABLE} VALUES (1, 1, ?)", (event["hash"],))
    db.commit()
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert verify_database(conn).intact
    db.execute(f"UPDATE {EVENTS_TABLE} SET at = '2027-01-15T09:00:00Z'")
    db.commit()
    with engine.connect() as conn:
        assert verify_database(conn).reason.endswith("the event was edited")
    engine.dispose()
    db.close()


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


def test_the_first_intact_check_signs_even_on_a_machine_booted_less_than_an_interval_ago(tmp_path, monkeypatch):
    # monotonic time counts from boot: a CI machine up for 7 minutes held the first checkpoint back for the hour
    monkeypatch.setattr("moneypath.reference.refservice.audit.chain_check.time.monotonic", lambda: 5.0)
    path, cps = tmp_path / "ledger.db", tmp_path / "cps"
    signer, _ = generate_key("refservice")
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
        payment_state.create(conn, principal="merchant_1", kind="payment", state="authorized", provider="acme",
                        method="card", amount_minor=500, currency="JPY", reference="r0",
                        provider_ref="acme_r0", provider_status="approved")
    check, _ = service_check(path, cps, signer)
    assert check.run_once().intact
    assert [p.name for p in cps.iterdir()] == ["00000000000000000001.note"]
