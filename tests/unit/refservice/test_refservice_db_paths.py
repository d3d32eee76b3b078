"""How the service reaches SQLite, chosen for speed, kept honest: a booking is on disk before its answer goes
out, with one sync for many off the event loop (durability.GroupSync); a writer holding the lock elsewhere never
stalls the event loop (the transaction moves to a thread and waits there), and the payment is still booked once."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry

from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.reference.refservice.app import ServiceConfig, create_app
from moneypath.reference.refservice.db import make_engine
from moneypath.reference.refservice.durability import LOG_PAGES_PER_CHECKPOINT, Checkpointer, GroupSync
from tests.support.db_paths import SECRET, WRITE

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
        with claims.connect() as conn:  # the writers' checkpoint comes every LOG_PAGES_PER_CHECKPOINT pages of log
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == LOG_PAGES_PER_CHECKPOINT != 1000
        with bookings.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        bookings.dispose()
        claims.dispose()


def test_one_sync_covers_everyone_waiting_and_a_late_arrival_waits_for_the_next(tmp_path):
    path = str(tmp_path / "ledger.db")
    engine = make_engine(f"sqlite:///{path}", durable=False)
    group = GroupSync(path)

    async def scenario():
        await asyncio.gather(*(group.sync() for _ in range(50)))
        first = group.syncs
        await group.sync()
        return first, group.syncs

    try:
        assert asyncio.run(scenario()) == (1, 2)
    finally:
        group.close()
        engine.dispose()


def test_without_a_log_there_is_nothing_to_sync_and_a_new_log_is_synced_not_the_old_one(tmp_path):
    path = tmp_path / "ledger.db"
    group = GroupSync(str(path))
    try:
        group.sync_now()  # no database yet: nothing to sync, no error
        assert group.syncs == 0
        log = tmp_path / "ledger.db-wal"
        log.write_bytes(b"first")
        group.sync_now()
        old = os.fstat(group._fd).st_ino
        log.unlink()  # the last connection checkpointed and removed it; a new writer made a new one
        log.write_bytes(b"second")
        group.sync_now()
        assert os.fstat(group._fd).st_ino == log.stat().st_ino != old
        assert group.syncs == 2
    finally:
        group.close()


def test_the_log_does_not_grow_without_bound_under_the_service(catalog, tmp_path):
    """Checkpoints stay in the commit: a log that is never restarted grows with every booking."""
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    app = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=SECRET,
                                   provider_url="http://127.0.0.1:9"), mp=mp)
    services = app.state.services
    try:
        for i in range(6000):  # a log never restarted: > 2 pages each, 48 MB
            with services.engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO ledger_transactions (payment_id, kind, created_at) "
                                     f"VALUES ('p{i}', '{'x' * 200}', 0)")
        assert (tmp_path / "ledger.db-wal").stat().st_size < (LOG_PAGES_PER_CHECKPOINT + 1000) * 4096
    finally:
        services.group_sync.close()
        services.engine.dispose()


def test_the_checkpointer_copies_the_log_so_the_writers_checkpoint_finds_nothing_left(tmp_path):
    """A PASSIVE checkpoint on a connection of its own: what the writers logged reaches the database file, the
    writers' own checkpoint (the one that runs on the event loop) then has nothing to copy, and the next write
    starts the log over. (In a directory whose name a URI would misread.)"""
    path = tmp_path / "a #?% b" / "ledger.db"
    path.parent.mkdir()
    writer = sqlite3.connect(path, isolation_level=None)
    checkpointer = Checkpointer(str(path))
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")  # only the checkpointer copies here
        writer.execute("CREATE TABLE t (x TEXT)")
        for _ in range(200):
            writer.execute("INSERT INTO t VALUES (?)", ("x" * 1000,))
        before = path.stat().st_size
        log_frames, copied = checkpointer.run_once()
        assert log_frames > 200 and copied == log_frames and checkpointer.runs == 1
        assert path.stat().st_size > before + 150_000  # the rows are in the database file now
        assert writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone() == (0, log_frames, log_frames)
        writer.execute("INSERT INTO t VALUES ('y')")
        assert checkpointer.run_once()[0] < 5  # the write restarted the log
    finally:
        checkpointer.close()
        writer.close()


def test_the_checkpointer_never_creates_a_database_and_runs_for_a_ledger_file_only(catalog, tmp_path):
    missing = tmp_path / "missing.db"
    with pytest.raises(sqlite3.OperationalError):
        Checkpointer(str(missing)).run_once()
    assert not missing.exists()
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    for url, has in ((f"sqlite:///{tmp_path / 'ledger.db'}", True), ("sqlite://", False)):
        services = create_app(ServiceConfig(db_url=url, token_secret=SECRET, provider_url="http://127.0.0.1:9"),
                              mp=mp).state.services
        try:
            assert (services.checkpointer is not None) is has
        finally:
            asyncio.run(services.aclose())


def test_the_service_copies_its_log_in_a_background_job(catalog, tmp_path):
    """While the service runs, the checkpointer job copies what its writers log into the database file, before
    the writers' own checkpoint would (the log stays far under LOG_PAGES_PER_CHECKPOINT here)."""
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    path = tmp_path / "ledger.db"
    app = create_app(ServiceConfig(db_url=f"sqlite:///{path}", token_secret=SECRET,
                                   provider_url="http://127.0.0.1:9"), mp=mp)
    services = app.state.services

    async def run():
        async with app.router.lifespan_context(app):
            before = path.stat().st_size
            for i in range(500):  # ~100 kB of rows, a few frames each: under 4,000 pages of log
                with services.engine.begin() as conn:
                    conn.exec_driver_sql("INSERT INTO ledger_transactions (payment_id, kind, created_at) "
                                         f"VALUES ('p{i}', '{'x' * 200}', 0)")
            for _ in range(100):  # bounded: a run every 0.1 s
                if path.stat().st_size > before + 50_000:
                    return True
                await asyncio.sleep(0.05)
            return False

    assert asyncio.run(run())


def test_an_acknowledged_booking_is_on_disk_before_its_answer(service):
    """The answer waits for a sync that started after the booking committed (what the sync saw committed)."""
    app, path = service
    group = app.state.services.group_sync
    seen: list[set[str]] = []  # per sync: the payments committed when it started
    real = group.sync_now

    def observed_sync():
        with sqlite3.connect(path) as conn:
            seen.append({row[0] for row in conn.execute("SELECT id FROM payments")})
        real()

    group.sync_now = observed_sync

    async def authorize():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            return await client.post("/v1/payments/authorize", headers={**WRITE, "idempotency-key": "k-durable"},
                                     json={"amount_minor": 700, "currency": "EUR", "provider": "acme",
                                           "reference": "durable-1"})

    response = asyncio.run(authorize())
    assert response.status_code == 201, response.text
    assert any(response.json()["id"] in committed for committed in seen), seen




@pytest.mark.parametrize("url, says", [
    ("sqlite:///{tmp}/no/such/dir/ledger.db", "unable to open database file"),
    ("postgresql+psycopg://user:secret@127.0.0.1:9/ledger", "127.0.0.1"),  # a closed port: nothing answers
    ("nosuch://x", "Can't load plugin"),
])
def test_a_ledger_database_that_cannot_be_opened_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, url, says):
    from moneypath.reference.refservice.__main__ import main

    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "s")
    monkeypatch.setenv("MONEYPATH_DB_URL", url.format(tmp=tmp_path))
    assert main(["--port", "9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("moneypath refservice: cannot open the ledger database ")
    assert says in err and "secret" not in err


def test_payment_ids_sort_by_creation_so_the_indexes_keyed_by_them_grow_at_their_right_edge():
    from moneypath.reference.refservice.payment_state import new_id

    ids = []
    for _ in range(5):
        ids.append(new_id("pay"))
        time.sleep(0.002)  # a new millisecond
    assert ids == sorted(ids)
    assert all(len(i) == len("pay_") + 24 and int(i[4:], 16) >= 0 for i in ids)
    assert len({new_id("pay") for _ in range(10_000)}) == 10_000  # the same millisecond: the random half differs


def test_a_catalog_that_is_not_there_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    """Started outside the project (no moneypath.yaml where it runs): one line naming the file, not a traceback."""
    from moneypath.reference.refservice.__main__ import main

    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "s")
    monkeypatch.setenv("MONEYPATH_DB_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("MONEYPATH_CATALOG", str(tmp_path / "nowhere.yaml"))
    assert main(["--port", "9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("moneypath refservice: ") and "nowhere.yaml" in err
