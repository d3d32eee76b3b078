"""`uvicorn --workers 2 --limit-max-requests` (its supervisor starts a fresh worker for each that reaches the
limit), with nobody preparing the multi-process directory: the first worker starts the run, an earlier run's
files never count, every capture is counted once across recycles, the count never decreases, a dead worker's
live gauge is gone, and the files stay bounded. A single-process uvicorn killed with -9 and started again on the
same directory counts only the new process's captures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.conftest import ROOT, free_port, http_ok, wait_for
from tests.integration.instrument.workers_harness import CAPTURES, Watch, drive_web, env_for, leave_stale_run, scrape
from tests.support.djangoshop import stop_groups

pytestmark = pytest.mark.integration
HERE = "tests.integration.instrument"


def test_uvicorn_recycled_workers_are_counted_once(tmp_path):
    port, mp_dir = free_port(), tmp_path / "mp"
    stale = leave_stale_run(mp_dir)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", f"{HERE}.workers_app:asgi", "--workers", "2", "--limit-max-requests",
         "8", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env_for(mp_dir), cwd=ROOT, start_new_session=True, stderr=open(tmp_path / "uvicorn.log", "wb"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: server.poll() is None and http_ok(f"{base}/metrics"), 30, "uvicorn to answer")
        pids = drive_web(base, Watch(f"{base}/metrics", mp_dir, processes=2), workers=2)
        assert len(pids) >= 4
        assert not stale.exists()
    except AssertionError as exc:
        exc.args = (f"{exc}\n{(tmp_path / 'uvicorn.log').read_text()[-3000:]}",)
        raise
    finally:
        stop_groups([server])


def _start_single(port: int, mp_dir, log):
    """A single-process uvicorn (no supervisor: its parent is this test, alive across the restart)."""
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", f"{HERE}.workers_app:asgi", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"], env=env_for(mp_dir), cwd=ROOT, start_new_session=True, stderr=log)


def test_a_single_uvicorn_killed_and_started_again_counts_only_the_new_process(tmp_path):
    port, mp_dir = free_port(), tmp_path / "mp"
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "uvicorn.log", "wb")
    servers = []
    try:
        for run, calls in enumerate((8, 2)):
            servers.append(_start_single(port, mp_dir, log))
            wait_for(lambda: servers[-1].poll() is None and http_ok(f"{base}/metrics"), 30, "uvicorn to answer")
            pids = {int(httpx.post(f"{base}/call", timeout=10).text) for _ in range(calls)}
            assert pids == {servers[-1].pid}
            assert scrape(f"{base}/metrics").get(CAPTURES) == calls, f"run {run + 1}: only its own {calls} captures"
            if run == 0:
                servers[-1].send_signal(signal.SIGKILL)  # no shutdown: its files stay behind
                servers[-1].wait(10)
                assert any(n.startswith("counter_") for n in os.listdir(mp_dir))
    except AssertionError as exc:
        exc.args = (f"{exc}\n{(tmp_path / 'uvicorn.log').read_text()[-3000:]}",)
        raise
    finally:
        stop_groups(servers)
        log.close()
