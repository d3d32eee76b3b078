"""How the service reaches its database, where a unit test cannot show it: a writer holding SQLite's lock does not
stall the event loop, and instances starting together on PostgreSQL create the schema once (the rest:
tests/unit/refservice/test_refservice_db_paths.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import httpx
import pytest

from moneypath.reference.refservice.db import make_engine
from tests.support.db_paths import WRITE


@pytest.mark.timing  # asserts on wall-clock time; the other test here starts a PostgreSQL server
def test_a_writer_holding_the_lock_does_not_stall_the_loop_and_the_payment_books_once(service):
    app, path = service
    held, release = threading.Event(), threading.Event()

    def other_writer():  # e.g. another worker process, or an operator's script, mid-transaction
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            release.wait(10)
            conn.execute("COMMIT")
        finally:
            conn.close()

    async def scenario():
        lags: list[float] = []
        stop = asyncio.Event()

        async def watch_loop():  # how late a 5 ms sleep wakes up: the loop's stalls
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - t - 0.005)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc",
                                     timeout=30) as client:
            watcher = asyncio.create_task(watch_loop())
            request = asyncio.create_task(client.post(
                "/v1/payments/authorize", headers={**WRITE, "idempotency-key": "k-locked"},
                json={"amount_minor": 700, "currency": "EUR", "provider": "acme", "reference": "locked-1"}))
            await asyncio.sleep(0.6)  # the request waits for the lock all this time…
            assert not request.done()
            release.set()  # …and completes once the other writer commits
            response = await asyncio.wait_for(request, 30)
            stop.set()
            await watcher
        return response, lags

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        assert held.wait(10)
        response, lags = asyncio.run(scenario())
    finally:
        release.set()
        writer.join(10)
    assert response.status_code == 201, response.text
    # Without the move to a thread the loop would stand still for the whole 0.6 s.
    assert max(lags) < 0.25, f"event loop stalled {max(lags) * 1000:.0f} ms"
    with app.state.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM payments WHERE reference = 'locked-1'").scalar()
        state = conn.exec_driver_sql("SELECT state FROM idempotency_keys WHERE key = 'k-locked'").scalar()
    assert (rows, state) == (1, "completed")


def test_instances_starting_together_on_postgresql_create_the_schema_once(pg_url):
    """Two processes of `up --instances` create the schema at the same moment: neither may fail (one did, on a
    duplicate type, before the schema was created under a lock)."""
    barrier, errors, engines = threading.Barrier(4), [], []

    def start():
        try:
            barrier.wait(10)
            engines.append(make_engine(pg_url))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    assert errors == [] and len(engines) == 4
