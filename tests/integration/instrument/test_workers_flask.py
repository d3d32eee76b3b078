"""A Flask app on the extension under gunicorn's sync, gthread and gevent workers recycled by --max-requests: every
capture counted once from whichever worker serves /metrics, the count never decreasing (the pattern of
test_workers_gunicorn.py); and two workers without a multi-process directory told at start, in one log line, and
read by the lint."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.conftest import ROOT, free_port, http_ok, wait_for
from tests.foreign.harness import init_project, moneypath
from tests.integration.instrument.workers_harness import Watch, drive_web, env_for
from tests.support.djangoshop import stop_groups
from tests.support.prometheus_server import running_prometheus, scraping

pytestmark = pytest.mark.integration
APP = "tests.integration.instrument.workers_flask_app:app"
CONF = str(ROOT / "tests/integration/instrument/workers_gunicorn_conf.py")


def gunicorn(port: int, log, env, *options: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", *options, APP],
                            env=env, cwd=ROOT, start_new_session=True, stderr=log)


@pytest.mark.parametrize("worker", [["-k", "sync"], ["-k", "gthread", "--threads", "2"], ["-k", "gevent"]],
                         ids=["sync", "gthread", "gevent"])
def test_flask_under_recycled_gunicorn_workers_is_counted_once(tmp_path, worker):
    port, mp_dir, log = free_port(), tmp_path / "mp", tmp_path / "gunicorn.log"
    server = gunicorn(port, open(log, "wb"), env_for(mp_dir), "--max-requests", "8", "-c", CONF, *worker)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: server.poll() is None and http_ok(f"{base}/metrics"), 30, "gunicorn to answer")
        pids = drive_web(base, Watch(f"{base}/metrics", mp_dir, processes=2), workers=2)
        assert len(pids) >= 4
        assert "PROMETHEUS_MULTIPROC_DIR is not set" not in log.read_text()
    except AssertionError as exc:
        exc.args = (f"{exc}\n{log.read_text()[-3000:]}",)
        raise
    finally:
        stop_groups([server])


def test_two_workers_without_a_directory_are_told_at_start_and_the_lint_reads_it(tmp_path):
    """The team's project from `init`, its app under two workers without a directory: each worker logs it once at
    start, and `moneypath lint --prometheus` reads the counter from a real Prometheus scraping the workers."""
    project = tmp_path / "ops"
    catalog = init_project(project)
    port, log = free_port(), tmp_path / "gunicorn.log"
    env = env_for(tmp_path / "unused", MONEYPATH_CATALOG=str(catalog))
    del env["PROMETHEUS_MULTIPROC_DIR"]
    server = gunicorn(port, open(log, "wb"), env)
    try:
        wait_for(lambda: log.read_text().count("gunicorn runs 2 workers") >= 2, 30, "both workers to say so")
        line = next(line for line in log.read_text().splitlines() if "gunicorn runs 2 workers" in line)
        assert "PROMETHEUS_MULTIPROC_DIR is not set" in line and "shop_instrumentation_errors_total" in line
        with running_prometheus(tmp_path / "prometheus", scraping({"shop": f"127.0.0.1:{port}"})) as url:
            wait_for(lambda: httpx.get(f"{url}/api/v1/query", params={"query": "shop_instrumentation_errors_total"},
                                       timeout=5).json()["data"]["result"], 30, "the first scrape")
            run = moneypath("lint", "--root", str(project), "--catalog", str(catalog), "--prometheus", url,
                            "--lookback", "5m", check=False)
    finally:
        stop_groups([server])
    assert run.returncode == 1, run.stdout + run.stderr
    counted = [line for line in run.stderr.splitlines() if line.startswith("instrumentation: ")]
    assert counted == [f"instrumentation: 127.0.0.1:{port} (job shop) counted 1 in shop_instrumentation_errors_total: "
                       "1 several_processes (several workers behind one port without PROMETHEUS_MULTIPROC_DIR); its "
                       "log names each, once"], run.stderr  # the init catalog's `reason` label names the cause
