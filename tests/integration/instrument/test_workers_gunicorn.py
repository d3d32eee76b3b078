"""gunicorn -w 2 recycling its workers (--max-requests): every capture counted once, across recycles, from
whichever worker serves /metrics; the count never decreases, a dead worker's live gauge is gone, and the
multi-process directory holds files of no more processes than run at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, free_port, http_ok, wait_for
from tests.integration.instrument.workers_harness import Watch, drive_web, env_for, leave_stale_run
from tests.support.djangoshop import stop_groups

pytestmark = pytest.mark.integration
HERE = "tests.integration.instrument"


def test_gunicorn_recycled_workers_are_counted_once(tmp_path):
    port, mp_dir = free_port(), tmp_path / "mp"
    stale = leave_stale_run(mp_dir)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "--max-requests", "8", "-b", f"127.0.0.1:{port}",
         "-c", str(ROOT / "tests/integration/instrument/workers_gunicorn_conf.py"), f"{HERE}.workers_app:wsgi"],
        env=env_for(mp_dir), cwd=ROOT, start_new_session=True, stderr=open(tmp_path / "gunicorn.log", "wb"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: server.poll() is None and http_ok(f"{base}/metrics"), 30, "gunicorn to answer")
        pids = drive_web(base, Watch(f"{base}/metrics", mp_dir, processes=2), workers=2)
        assert len(pids) >= 4
        assert not stale.exists()
    except AssertionError as exc:
        exc.args = (f"{exc}\n{(tmp_path / 'gunicorn.log').read_text()[-3000:]}",)
        raise
    finally:
        stop_groups([server])
