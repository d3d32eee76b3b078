"""The audit walker's side of its protocol (walker.serve), in this process: a request a line, an answer a line;
a database it cannot read is an answer, not the end of the child. The child process itself:
tests/integration/refservice/test_audit_walker.py."""

from __future__ import annotations

import io
import json

from sqlalchemy import select

from moneypath.protocol.audit.chain import ChainWatch
from moneypath.reference.refservice import payment_state
from moneypath.reference.refservice.audit import trail
from moneypath.reference.refservice.audit.walker import serve
from moneypath.reference.refservice.db import audit_head, make_engine, make_reader


def answers(watch, reader, *requests) -> list[dict]:
    out = io.StringIO()
    serve(watch, reader, [json.dumps(r) + "\n" for r in requests], out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_resume_then_check_answers_the_verdict_and_the_tip(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    for i in range(3):
        with engine.begin() as conn, trail.acting("tienda_4", "payments:write"):
            payment_state.create(conn, payment_state.PaymentRow(
                principal="tienda_4", kind="payment", state="authorized", provider="conekta", method="card",
                amount_minor=9900 + i, currency="MXN", reference=f"mx-{i}", provider_ref=f"cnk_{i}",
                provider_status="approved"))
    with engine.connect() as conn:
        head = conn.execute(select(audit_head.c.hash)).scalar_one()
    first = answers(ChainWatch(), make_reader(url), {"check": True})  # the head event, then a sweep of all three
    assert first == [{"verdict": {"events": 4, "last_seq": 3, "last_hash": head, "broken_seq": None, "reason": "",
                                  "pending": 0}, "tip": [3, head]}]

    # resumed at a hash the chain never had (a checkpoint of another chain): the check says where it differs
    resumed = answers(ChainWatch(), make_reader(url), {"resume": [3, "ab" * 32, "signed in checkpoint X"]},
                      {"check": True})
    assert resumed[0] == {"ok": True}
    verdict = resumed[1]["verdict"]
    assert verdict["broken_seq"] == 3 and "differs from the one signed in checkpoint X" in verdict["reason"]
    engine.dispose()


def test_a_database_it_cannot_read_is_an_answer_and_the_next_request_is_served(tmp_path):
    reader = make_reader(f"sqlite:///{tmp_path / 'no-such-dir' / 'ledger.db'}")
    got = answers(ChainWatch(), reader, {"ready": True}, {"check": True}, {"resume": [1, "cd" * 32, "verified earlier"]})
    assert got[0] == {"ok": True} and got[1]["error"].startswith("OperationalError:") and got[2] == {"ok": True}
