"""How the service reaches SQLite, chosen for speed, kept honest: bookings are synced at commit
and claims need not be; a writer holding the lock elsewhere never stalls the event loop (the
transaction moves to a thread and waits there), and the payment is still booked once."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry

from moneypath._common.tokens import issue
from moneypath.instrument.prometheus import PrometheusBackend
from moneypath.instrument.signals import MoneyPath
from moneypath.reference.providersim.app import SimConfig
from moneypath.reference.providersim.app import create_app as create_sim
from moneypath.reference.refservice.app import ServiceConfig, create_app
from moneypath.reference.refservice.db import make_engine

SECRET = b"db-paths-secret"
WRITE = {"authorization": f"Bearer {issue(SECRET, 'merchant_1', ['payments:write'], ttl_s=3600)}"}
FULL, NORMAL = 2, 1  # PRAGMA synchronous


def synchronous(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA synchronous").scalar()


def test_bookings_sync_at_commit_and_claims_do_not(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    bookings, claims = make_engine(url), make_engine(url, durable=False)
    try:
        assert synchronous(bookings) == FULL
        assert synchronous(claims) == NORMAL
        with bookings.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        bookings.dispose()
        claims.dispose()


@pytest.fixture
def service(catalog, tmp_path):
    sim = create_sim(SimConfig(settlement_dir=tmp_path / "settlements", webhook_url=None, webhook_secret=b"w",
                               token_secret=SECRET, latency_scale=0))
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    app = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=SECRET,
                                   provider_url="http://sim", background_jobs=False),
                     mp=mp, provider_transport=httpx.ASGITransport(app=sim))
    yield app, tmp_path / "ledger.db"
    app.state.engine.dispose()


@pytest.mark.timing  # asserts on wall-clock time: the second tier
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
