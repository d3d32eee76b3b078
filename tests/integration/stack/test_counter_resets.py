"""Counters that go backwards are not data: `gunicorn -w 2` without multiprocess mode serves each scrape from one
worker or the other, so its counters alternate; the same app in multiprocess mode sums its workers. Both scraped by
one real Prometheus from `moneypath up --target`, after some traffic: `up` (reading each target's /metrics a few
times) and `status` (from Prometheus' data) name the first with its reason and not the second, and the library
logged the first's workers sharing one port."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from moneypath.stack.counter_check import probe
from tests.conftest import FOREIGN_PATH, ROOT, free_port, http_ok, wait_for
from tests.foreign.harness import moneypath
from tests.integration.instrument.workers_harness import env_for
from tests.support.djangoshop import stop_groups

pytestmark = pytest.mark.integration
APP = "tests.integration.stack.counters_app:wsgi"


def _gunicorn(port: int, env: dict, log, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", *extra, APP],
                            env=env, cwd=ROOT, start_new_session=True, stderr=log)


def _traffic(target: str, calls: int) -> None:
    """`calls` captures, most of them while one worker is held busy: the workers' counts differ, as a real service's
    do (calls handed to either worker in turn would leave them equal, and the alternation invisible)."""
    with ThreadPoolExecutor(1) as hold:
        busy = hold.submit(httpx.post, f"http://{target}/hold", timeout=10)
        time.sleep(0.1)
        for _ in range(calls):  # a connection each
            httpx.post(f"http://{target}/call", timeout=10, headers={"connection": "close"})
        busy.result()


def test_status_names_the_target_whose_workers_answer_in_turn(tmp_path):
    plain, merged = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in env_for(tmp_path / "mp").items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    logs = {name: open(tmp_path / f"{name}.log", "wb") for name in ("plain", "merged")}
    servers = [_gunicorn(int(plain.rsplit(":", 1)[1]), env, logs["plain"]),
               _gunicorn(int(merged.rsplit(":", 1)[1]), env_for(tmp_path / "mp"), logs["merged"],
                         "-c", str(ROOT / "tests/integration/instrument/workers_gunicorn_conf.py"))]
    where = ("--catalog", str(FOREIGN_PATH), "--state-dir", str(tmp_path / "stack"))
    try:
        for target in (plain, merged):
            wait_for(lambda t=target: http_ok(f"http://{t}/metrics"), 30, f"gunicorn on {target}")
            _traffic(target, 10)
        assert probe(merged) is None  # the summed counters never go back
        up = moneypath("up", *where, "--fast", "--target", plain, "--target", merged, "--target-wait", "30",
                       timeout=90)
        assert f"warning: target {plain}: " in up.stderr and merged not in up.stderr, up.stderr
        assert "went down between two scrapes while the process did not restart" in up.stderr

        def named():
            _traffic(plain, 3)
            status = moneypath("status", *where[2:], check=False, timeout=30).stdout
            line = next(x for x in status.splitlines() if x.startswith("prometheus"))
            return line if "COUNTERS NOT DATA" in line else None

        line = wait_for(named, 40, "status to name the target whose counters go backwards")
        assert f"target {plain} (job " in line and "several processes answer its scrapes in turn" in line, line
        assert merged not in line.split("COUNTERS NOT DATA", 1)[1], line
        assert ", targets up 2/2;" in line
        logged = (tmp_path / "plain.log").read_text()
        assert "several processes serve this port" in logged, logged[-2000:]
        assert "several processes serve this port" not in (tmp_path / "merged.log").read_text()
    finally:
        moneypath("down", *where[2:], check=False, timeout=60)
        stop_groups(servers)
        for log in logs.values():
            log.close()
