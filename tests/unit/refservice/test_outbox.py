"""The outbox: delivery to each consumer, retries with backoff, dead letters, driven through the HTTP API with the
provider simulator in-process; the background jobs are run by hand (run_once)."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from moneypath.reference.refservice.db import dead_letters, deliveries, outbox_messages
from tests.support.refservice import ADMIN, call, captured_payment, sample


def count(app, table, *where) -> int:
    with app.state.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_outbox_delivers_each_money_movement_to_both_consumers(world):
    app, _, mp = world
    payment = captured_payment(app, "ob")
    assert count(app, outbox_messages) == 2
    assert app.state.outbox.run_once() == {"delivered": 2, "retried": 0, "dead": 0}
    assert count(app, deliveries, deliveries.c.payload.contains(payment["id"])) == 2
    assert count(app, outbox_messages) == 0
    assert sample(mp, "moneypath_queue_depth", queue="notifications") == 0


def test_consumer_failures_retry_with_backoff_then_dead_letter(world):
    app, _, mp = world
    call(app, "PUT", "/admin/faults/consumer_failure", json={"rate": 1, "queue": "compliance_log"}, headers=ADMIN)
    captured_payment(app, "dl")
    outbox = app.state.outbox
    now = time.time()
    assert outbox.run_once(now) == {"delivered": 1, "retried": 1, "dead": 0}
    assert sample(mp, "moneypath_queue_depth", queue="compliance_log") == 1
    with app.state.engine.connect() as conn:
        due = conn.execute(select(outbox_messages.c.next_attempt_at)).scalar_one()
    assert now <= due <= now + 0.2  # full jitter under base 0.2 s for the first retry
    assert outbox.run_once(now + 10)["retried"] == 1
    assert outbox.run_once(now + 20) == {"delivered": 0, "retried": 0, "dead": 1}  # 3rd attempt was the last
    assert count(app, dead_letters, dead_letters.c.queue == "compliance_log") == 1
    assert count(app, outbox_messages) == 0
    assert sample(mp, "moneypath_dead_letters_total", queue="compliance_log") == 1
    assert sample(mp, "moneypath_queue_depth", queue="compliance_log") == 0
