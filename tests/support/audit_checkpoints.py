"""A reference ledger with signed checkpoints (the `ledger` fixture; tests/unit/refservice/conftest.py offers it), the
`moneypath audit checkpoint` and `verify` commands run on it, and the attacks of someone with write access to the
database, as plain SQL on the file."""

from __future__ import annotations

import json
import sqlite3

import pytest

from moneypath.protocol.audit.chain import EVENTS_TABLE, GENESIS, HASHED, HEAD_TABLE, event_hash
from moneypath.reference.refservice import payment_state as payments
from moneypath.reference.refservice.audit import trail as audit
from moneypath.reference.refservice.db import make_engine
from tests.conftest import run_cli

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
            row = payments.create(conn, payments.PaymentRow(
                principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
                amount_minor=1000 + i, currency="EUR", reference=f"order-{i}", provider_ref=f"acme_{i}",
                provider_status="approved"))
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            payments.mark_captured(conn, row, "captured")
        if i % 2:
            with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
                payments.mark_refunded(conn, {**row, "state": "captured"}, 1000 + i, "refunded")
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
