"""The liar: a duplicate detector that never runs. A team's FastAPI service that uses the library but runs no
duplicate check of its own — the ticket shop of tests/foreign with `SHOP_DETECTORS=off`: its duplicate counter
stays at the 0 the library created, its ledger imbalance at the 0 it set at start, and nothing reports a run.

A real Prometheus scrapes it every second and a short real load test (6 s at 8 charges/s, the team's locustfile)
runs against it. "zero duplicate charges" must not read PASS 0: it is not measured, the line names the heartbeat
that did not advance and the run's window, and the run exits 3. (The same gate passes where the detector runs: the
ticket shop with its detectors, tests/integration/loadtest/test_user.py, and the reference service,
tests/integration/loadtest/test_session.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from moneypath.catalog import load_catalog
from tests.conftest import ROOT, free_port, http_ok, stop_process, wait_for
from tests.support.prometheus_server import running_prometheus, scraping

pytestmark = pytest.mark.integration
FOREIGN = ROOT / "tests" / "foreign"
CATALOG = FOREIGN / "moneypath.yaml"
WINDOW = r"did not advance between (\d\d:\d\d:\d\d) and (\d\d:\d\d:\d\d) UTC: Prometheus has no such series\)"


def _uvicorn(app: str, port: int, log: Path, env: dict | None = None) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                                 "--log-level", "warning"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT), os.environ.get(
                                    "PYTHONPATH", ""))), **(env or {})})


@pytest.fixture
def shop_without_detectors(tmp_path):
    ports = {name: free_port() for name in ("komoju", "knet", "shop")}
    procs = [_uvicorn("tests.foreign.provider_stub:app", ports[p], tmp_path / f"{p}.log") for p in ("komoju", "knet")]
    try:
        procs.append(_uvicorn("tests.foreign.ticketshop:app", ports["shop"], tmp_path / "shop.log", {
            "SHOP_CATALOG": str(CATALOG), "SHOP_DETECTORS": "off",
            "SHOP_PROVIDERS": f"komoju=http://127.0.0.1:{ports['komoju']},knet=http://127.0.0.1:{ports['knet']}"}))
        for name in ("komoju", "knet"):
            wait_for(lambda name=name: http_ok(f"http://127.0.0.1:{ports[name]}/docs"), 30, f"the {name} stub")
        wait_for(lambda: http_ok(f"http://127.0.0.1:{ports['shop']}/healthz"), 30, "the ticket shop")
        yield f"127.0.0.1:{ports['shop']}"
    finally:
        for proc in procs:
            stop_process(proc)


def test_a_zero_from_a_duplicate_detector_that_never_runs_is_not_measured(shop_without_detectors, tmp_path):
    catalog = load_catalog(CATALOG)
    beat = catalog.metric("detector_last_run_timestamp_seconds")
    with running_prometheus(tmp_path / "prometheus", scraping({"shop": shop_without_detectors})) as prom:
        run = subprocess.run(
            [sys.executable, "-m", "moneypath", "loadtest", "checkout", "--locustfile", str(FOREIGN / "locustfile.py"),
             "--catalog", str(CATALOG), "--host", f"http://{shop_without_detectors}", "--no-auth", "--prometheus",
             prom, "--scenario-file", str(FOREIGN / "scenarios.yaml"), "--rate", "8", "--duration", "6",
             "--out", str(tmp_path / "out")],
            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stdout[-3000:] + run.stderr[-3000:]
    [report] = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    result = json.loads((report / "result.json").read_text())
    gates = {g["name"]: g for g in result["gates"]}
    dup = gates["duplicate_charges"]
    assert (dup["status"], dup["observed"]) == ("not measured", "0, detector unseen"), dup
    line = (f'not measured: the duplicate detector was not seen running ({beat}{{detector="duplicates"}} '
            f"{WINDOW}")
    window = re.fullmatch(line.replace("(", r"\(", 1).replace("{", r"\{").replace("}", r"\}"), dup["reason"])
    assert window, dup["reason"]
    assert window.group(1) < window.group(2)  # the run's own window, start to end
    # the imbalance the shop set to 0 at start and never computed is not a balanced ledger either
    ledger = gates["ledger_balanced"]
    assert ledger["status"] == "not measured" and "the ledger balance check was not seen running" in ledger["reason"]
    row = next(r for r in run.stdout.splitlines() if r.startswith("zero duplicate charges"))
    assert re.fullmatch(r"zero duplicate charges\s+prometheus\s+NOT MEASURED\s+0, detector unseen\s+0", row), row
    assert run.stdout.splitlines()[-1].startswith("checkout: NOT MEASURED: no gate failed; 2 of 10 gates not measured "
                                                  "(zero duplicate charges, ledger balanced)"), run.stdout[-1000:]
    assert dup["reason"] in run.stderr, run.stderr[-3000:]  # the one line, on stderr as every breach
    assert gates["failure_ratio_prometheus"]["status"] == "pass"  # the shop served the run, and Prometheus saw it
    print(dup["reason"])
