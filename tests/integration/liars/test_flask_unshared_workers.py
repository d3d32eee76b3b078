"""The liar: the Flask shop (tests/foreign/flaskshop) under gunicorn with two workers and no multi-process directory,
each worker counting its own share of the charges, a real Prometheus scraping whichever worker answers. A short
`moneypath loadtest` on it must not pass: the counter did not count what Locust sent, so every gate read from
Prometheus is not measured (exit 3) and the reconciliation's line says so, with the ratio."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import pytest

from moneypath import cli
from tests.conftest import ROOT, SHOP_INIT_ARGS, wait_for
from tests.foreign.harness import _pythonpath, moneypath, shop
from tests.support.prometheus_server import running_prometheus, scraping

pytestmark = pytest.mark.integration
FOREIGN = ROOT / "tests" / "foreign"
LINE = re.compile(r"^conservation of counts: FAIL: the metrics counted (\d+) of (\d+) authorizations sent to "
                  r"127\.0\.0\.1:(\d+) \((\d+\.\d\d); (\d+) acknowledged\): (.+)$", re.M)
# Scrapes alternating between the workers: each drop read as a reset, whatever the total comes to is not data.
RESETS = re.compile(r"target 127\.0\.0\.1:\d+ \(job shop\): its counters reset \d+ times in \d+s while its process "
                    r"start time did not change: several processes answer its scrapes in turn \(workers without "
                    r"prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR\), so its rates are not data")
CAUSES = ("several workers without multiprocess mode, or another instance scraped",
          "double counting: two scrape jobs on one target, or a counter incremented twice per call")


def unshared_workers(tmp_path):
    """gunicorn -w 2 as a team starts it without docs/instrumenting.md's directory: no PROMETHEUS_MULTIPROC_DIR."""
    def serve(port: int, env: dict) -> subprocess.Popen:
        own = {**os.environ, "PYTHONPATH": _pythonpath(), "SHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
               **env}
        own.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                                 "tests.foreign.flaskshop.app:app"], cwd=ROOT, env=own, start_new_session=True,
                                stderr=open(tmp_path / "gunicorn.log", "wb"))
    return serve


def test_a_load_test_on_two_workers_without_multiprocess_mode_is_not_measured(tmp_path):
    project = tmp_path / "ops"
    args = list(SHOP_INIT_ARGS)
    args[args.index("--methods") + 1] = "card,konbini,debit"  # what the ticket shop's scenarios pay by
    assert cli.main(["init", str(project), *args]) == 0
    catalog = project / "moneypath.yaml"
    with shop(catalog, serve=unshared_workers(tmp_path)) as url:
        address = url["shop"].removeprefix("http://")
        with running_prometheus(tmp_path / "prometheus", scraping({"shop": address})) as prom:
            wait_for(lambda: httpx.get(f"{prom}/api/v1/query", params={"query": 'up{job="shop"} == 1'},
                                       timeout=5).json()["data"]["result"], 30, "the shop's first scrape")
            run = moneypath("loadtest", "checkout", "--locustfile", str(FOREIGN / "locustfile.py"), "--catalog",
                            str(catalog), "--scenario-file", str(FOREIGN / "scenarios.yaml"), "--host", url["shop"],
                            "--prometheus", prom, "--no-auth", "--rate", "8", "--duration", "12", "--out",
                            str(tmp_path / "reports"), check=False, timeout=120)
    said = run.stdout + run.stderr
    assert run.returncode == 3, said[-4000:]
    found = LINE.search(run.stdout)
    assert found, said[-4000:]
    counted, sent, port, ratio, acknowledged, cause = found.groups()
    print(f"\n{found.group(0)}")
    assert port == address.rsplit(":", 1)[1] and int(sent) >= 80 and (cause in CAUSES or RESETS.fullmatch(cause)), cause
    assert int(acknowledged) <= int(sent) and float(ratio) == pytest.approx(int(counted) / int(sent), abs=0.006)
    last = run.stdout.splitlines()[-1]
    assert last.startswith("checkout: NOT MEASURED: no gate failed; ") and last.endswith(found.group(0).split(
        "FAIL: ", 1)[1]), last
    assert "PASS" not in last and "every gate passed" not in run.stdout
    service = [line for line in run.stderr.splitlines() if line.startswith("NOT MEASURED: ")]
    assert service and all(found.group(0).split("FAIL: ", 1)[1] in line for line in service), run.stderr
