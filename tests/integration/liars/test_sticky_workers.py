"""The liar: two uvicorn workers without PROMETHEUS_MULTIPROC_DIR, every scrape landing on the same worker (the
scrape connection kept alive). No series is absent and no counter goes backwards, so only the conservation of
counts can tell: the drill's baseline sent N authorizations and the metrics counted about half. The drill's
steady state is not measured, the verdict is not PASS and the command exits 3, with the line that says why."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, free_port, http_ok, wait_for
from tests.foreign.harness import MONEYPATH, init_project, moneypath
from tests.support.djangoshop import stop_groups
from tests.support.prometheus_server import running_prometheus, scraping

pytestmark = pytest.mark.integration

DRILL = """\
title: Baseline only, on two workers without multiprocess mode
runbook: ProviderPartialOutage
load:
  rate: 25
  baseline: 8s
  capture: 0
  providers: {komoju: 1, knet: 1}
  currencies: {JPY: 1}
  amounts: {min: 500, max: 5000}
  requests:
    auth: none
    authorize:
      path: /charges
      json: {amount_minor: "{amount_minor}", currency: "{currency}", provider: "{provider}", method: "{method}"}
      id: id
      outcome: status
    approved: [approved]
  peak: {rate: 25, duration: 5s}  # never reached: the baseline's steady state is not measured
steady_state_within: 2s
steady_state:
  - name: charges flowing
    promql: sum(rate(shop_authorizations_total[10s]))
    expect: {min: 1}
alerts:
  must_not_page: ["*"]
diagnosis:
  within: 5s
  steps:
    - step: the alert's own condition (reason=error_ratio)
      expect: {below: 0.05}
mitigation:
  clear_fault: true
tabletop:
  narrative: A quiet evening; nothing is broken.
  roles:
    engineering: {checkpoint: "Read the charge rate from the dashboard.", due: 10m}
    operations: {checkpoint: "Nothing to decide.", due: 20m}
    compliance: {checkpoint: "Nothing to classify.", due: 60m}
    customer_support: {checkpoint: "Nothing to tell.", due: 30m}
"""
LINE = re.compile(r"the metrics counted (\d+) of (\d+) authorizations sent to (127\.0\.0\.1:\d+) \((0\.\d\d); "
                  r"(\d+) acknowledged\): several workers without multiprocess mode, or another instance scraped")


def test_scrapes_stuck_to_one_of_two_workers_are_not_a_pass(tmp_path):
    ops = tmp_path / "ops"
    catalog = init_project(ops)
    drills = ops / "runbooks" / "drills"
    (drills / "sticky.yaml").write_text(DRILL)
    port, pager_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {"MONEYPATH_CATALOG": str(catalog),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    procs = [subprocess.Popen([sys.executable, "-m", "uvicorn", "tests.integration.liars.sticky_app:asgi", "--workers",
                               "2", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                              env=env, cwd=ROOT, start_new_session=True, stderr=subprocess.DEVNULL),
             subprocess.Popen([*MONEYPATH, "pager", "--port", str(pager_port)], cwd=ROOT, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/metrics") and http_ok(
            f"http://127.0.0.1:{pager_port}/pages"), 30, "the service and the pager")
        with running_prometheus(tmp_path / "prom", scraping({"shop": f"127.0.0.1:{port}"})) as prom:
            wait_for(lambda: http_ok(f"{prom}/api/v1/query?query=up%3D%3D1"), 10, "a scrape")
            run = moneypath("drill", "run", str(drills / "sticky.yaml"), "--catalog", str(catalog), "--reports",
                            str(tmp_path / "reports"), "--no-history", "--target-service", f"http://127.0.0.1:{port}",
                            "--target-prometheus", prom, "--target-pager", f"http://127.0.0.1:{pager_port}",
                            "--time-factor", "60", check=False, timeout=120)
    finally:
        stop_groups(procs)
    print(run.stdout[-3000:])
    assert run.returncode == 3, run.stdout[-3000:] + run.stderr
    assert "verdict: PASS" not in run.stdout and "verdict: NOT MEASURED" in run.stdout
    found = LINE.search(run.stdout)
    assert found, run.stdout[-3000:]
    counted, sent, target, ratio, acknowledged = found.groups()
    assert target == f"127.0.0.1:{port}" and int(acknowledged) >= 40  # 8 s at 25/s, on a loaded machine
    assert int(counted) < 0.9 * int(acknowledged), found[0]  # one worker's share, far below what was answered
    [journal] = [json.loads(p.read_text()) for p in (tmp_path / "reports").glob("*/journal.json")]
    [baseline] = journal["conservation"]
    assert (baseline["phase"], baseline["status"], baseline["line"]) == ("baseline", "fail", found[0])
    steady = next(o for o in journal["objectives"] if o["name"] == "steady_state_before")
    assert steady["status"] == "not measured", steady
    report = next((tmp_path / "reports").glob("*/report.md")).read_text()
    assert found[0] in report
