"""instrument_worker where a Django project defines its Celery app: every process that imports the app (the web
workers, `manage.py migrate`) calls it, and only a worker needs PROMETHEUS_MULTIPROC_DIR. A worker started
without it stops with one line instead of running with values no scrape can sum."""

from __future__ import annotations

import pytest
from celery import signals

from moneypath.instrument.celery import instrument_worker

WORKER_SIGNALS = (signals.worker_init, signals.worker_process_init, signals.worker_process_shutdown,
                  signals.worker_ready)


@pytest.fixture
def connected():
    """The receivers a test connects are disconnected afterwards (Celery's signals are process-wide)."""
    before = {sig: list(sig.receivers) for sig in WORKER_SIGNALS}
    yield
    for sig, receivers in before.items():
        sig.receivers[:] = receivers
        sig.sender_receivers_cache.clear()


def test_importing_the_app_outside_a_worker_needs_no_directory(monkeypatch, connected):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    instrument_worker(metrics_port=9808)  # a web worker or manage.py importing the Celery app: no error
    signals.worker_process_init.send(sender=None)
    signals.worker_process_shutdown.send(sender=None, pid=1, exitcode=0)


def test_a_worker_without_the_directory_stops_with_one_line(monkeypatch, connected):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    instrument_worker()
    with pytest.raises(SystemExit) as stopped:  # Celery logs an Exception from a receiver and starts anyway
        signals.worker_init.send(sender=None)
    assert "set PROMETHEUS_MULTIPROC_DIR in the Celery worker's environment" in str(stopped.value)


def test_a_worker_with_the_directory_starts_a_run(monkeypatch, tmp_path, connected):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "counter_1-1.db").write_bytes(b"")  # an earlier run's file: its process is gone
    instrument_worker()
    signals.worker_init.send(sender=None)
    assert not (tmp_path / "counter_1-1.db").exists()
