"""A team adopts moneypath for its own service, through the CLI alone, as docs/getting-started.md (and the
README's shortest path) walks it: a ticket shop (tests/foreign/ticketshop.py: POST /charges,
Komoju and KNET, JPY and KWD, no fraud, queues, payouts, reconciliation or webhooks).

init → its own custom alert → build and lint clean (real promtool) → the service instrumented and
running → the local stack scraping it with rules compressed 60x → KNET fails → the provider page
reaches the pager for the team's on-call, and nothing of a disabled feature exists anywhere: not in
the files, not in Prometheus' rules, not among its series.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from moneypath.catalog.features import FEATURES
from tests.conftest import free_port, http_ok, stop_process, wait_for
from tests.docs_examples import code_block, script_lines
from tests.foreign.harness import moneypath, uvicorn

PAGE, STEPS = "docs/getting-started.md", "Your own service in 10 minutes"  # its examples, run as written

OFF = ("fraud", "queues", "payouts", "reconciliation", "webhooks")
CUSTOM_ALERT = """
  KonbiniApprovalsLow:
    severity: ticket
    for: 10m
    summary: Fewer than half of konbini charges are approved.
    expr: |
      sum(rate(shop_authorizations_total{method="konbini", outcome="approved"}[10m]))
      / sum(rate(shop_authorizations_total{method="konbini"}[10m])) < 0.5
"""


# What step 3's example leaves to "your service": a FastAPI app, a call's seconds, a ledger and a charge.
YOURS = """
from fastapi import FastAPI
app, seconds, charge, posted = FastAPI(), 0.25, {"id": "ch_1"}, []
class Ledger:
    post = staticmethod(posted.append)
ledger = Ledger()
"""
SHOW = """
from starlette.testclient import TestClient
print(posted)
print(TestClient(app).get("/metrics").text)
"""


def sh(cwd: Path, line: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """A command line of the page in bash, in the directory that holds ops/, with this venv's moneypath and
    python first on the PATH."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    run = subprocess.run(["bash", "-ec", line], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)
    assert run.returncode == 0 or not check, f"{line}\n{run.stdout}\n{run.stderr}"
    return run


@pytest.fixture
def project(tmp_path) -> Path:
    """Step 1's `moneypath init ops ...` in tmp_path, then step 2's own alert."""
    sh(tmp_path, script_lines(code_block(PAGE, STEPS, "sh"))[0])
    root = tmp_path / "ops"
    catalog = root / "moneypath.yaml"
    # The team's own alert, appended under alerts: as the catalog's comment shows; then init again
    # for its runbook page.
    text = catalog.read_text()
    catalog.write_text(text.replace("\nalerts:\n", "\nalerts:" + CUSTOM_ALERT, 1))
    again = moneypath("init", str(root))
    assert "runbooks/shopkonbiniapprovalslow.md" in again.stdout
    return root


def test_a_team_adopts_moneypath_and_its_provider_outage_pages_its_oncall(project, tmp_path):
    catalog = project / "moneypath.yaml"
    moneypath("catalog", "check", "--catalog", str(catalog))
    build, lint, _ = script_lines(code_block(PAGE, STEPS, "sh", nth=1))  # the third (--db-url): test_own_service.py
    sh(tmp_path, build)
    moneypath("build", "--root", str(project), "--check")
    assert "no problems" in sh(tmp_path, lint).stdout

    # Step 3's instrumentation, as written, on stand-ins for what it says is the service's.
    shown = subprocess.run([sys.executable, "-c", YOURS + code_block(PAGE, STEPS) + SHOW], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("[{'id': 'ch_1'}]\n")
    declined = re.search(r'^shop_authorizations_total\{(.*)\} 1\.0$', shown.stdout, re.M)
    assert declined and set(declined[1].split(",")) >= {'provider="knet"', 'method="konbini"', 'outcome="declined"'}

    # Nothing of a disabled feature in any file init or build wrote.
    everything = "\n".join(p.read_text() for p in project.rglob("*") if p.is_file()).lower()
    for feature in OFF:
        for name in (*FEATURES[feature].signals, *(a.lower() for a in FEATURES[feature].alerts)):
            assert name not in everything, f"{feature}: {name}"

    ports = {name: free_port() for name in ("komoju", "knet", "shop")}
    procs = [uvicorn("tests.foreign.provider_stub:app", ports[p], {}) for p in ("komoju", "knet")]
    procs.append(uvicorn("tests.foreign.ticketshop:app", ports["shop"], {
        "SHOP_CATALOG": str(catalog),
        "SHOP_PROVIDERS": ",".join(f"{p}=http://127.0.0.1:{ports[p]}" for p in ("komoju", "knet"))}))
    # Step 5, command for command: the stack scraping the shop (on a free port, not 8080), its firing pages,
    # the snapshot, the stack down.
    up_line, curl_line, snapshot_line, down_line = script_lines(code_block(PAGE, STEPS, "sh", nth=2))
    assert "--target 127.0.0.1:8080" in up_line
    stop = threading.Event()
    try:
        shop = f"http://127.0.0.1:{ports['shop']}"
        for name, port in ports.items():
            wait_for(lambda port=port: http_ok(f"http://127.0.0.1:{port}/docs"), 30, f"{name} to start")
        up = sh(tmp_path, up_line.replace("127.0.0.1:8080", f"127.0.0.1:{ports['shop']}"))
        urls = dict(re.findall(r"(Prometheus|Alertmanager) (http://\S+?),", up.stdout))
        pager = re.search(r"pages (http://\S+)/pages", up.stdout)[1]
        prom = urls["Prometheus"]

        def charge_loop():
            n = 0
            with httpx.Client(timeout=5) as client:
                while not stop.is_set():
                    n += 1
                    body = {"provider": ("komoju", "knet")[n % 2], "currency": ("JPY", "KWD")[n % 3 == 0],
                            "amount_minor": 6235, "method": ("card", "konbini")[n % 5 == 0]}
                    client.post(f"{shop}/charges", json=body)
                    time.sleep(0.03)

        loader = threading.Thread(target=charge_loop, daemon=True)
        loader.start()
        wait_for(lambda: _query(prom, 'sum(rate(shop_authorizations_total[5s])) > 5'), 60, "charges to flow")
        assert _pages(pager) == []  # a healthy shop pages nobody

        httpx.post(f"http://127.0.0.1:{ports['knet']}/fault", params={"error_rate": 1}, timeout=5).raise_for_status()
        failed_at = time.time()
        fired = wait_for(lambda: [p for p in _pages(pager, alertname="ShopProviderPartialOutage", event="firing")
                                  if p["labels"].get("provider") == "knet"], 90, "the KNET outage to page")
        print(f"\nKNET fails → page in {min(p['received_at'] for p in fired) - failed_at:.1f} s")
        assert {p["receiver"] for p in fired} == {"shop-oncall"}
        firing = json.loads(sh(tmp_path, curl_line).stdout)
        assert {(p["alertname"], p["labels"].get("provider")) for p in firing} >= {("ShopProviderPartialOutage", "knet")}
        assert fired[0]["annotations"]["runbook_url"].endswith("/shopproviderpartialoutage.md")
        assert (project / "runbooks/shopproviderpartialoutage.md").is_file()
        others = {p["alertname"] for p in _pages(pager, event="firing")} - {"ShopProviderPartialOutage"}
        assert others <= {"ShopAuthorizationAvailabilityBudgetBurn"}, others  # failed charges burn the budget

        # Nothing of a disabled feature in Prometheus either: no rule, no series.
        groups = httpx.get(f"{prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
        rules_text = yaml.safe_dump(groups).lower()
        assert "shopkonbiniapprovalslow" in rules_text
        for feature in OFF:
            for name in (*FEATURES[feature].signals, *(a.lower() for a in FEATURES[feature].alerts)):
                assert name not in rules_text, f"{feature}: {name}"
        names = httpx.get(f"{prom}/api/v1/label/__name__/values", timeout=5).json()["data"]
        assert any(n.startswith("shop_authorizations") for n in names)
        disabled = {f"shop_{key}" for feature in OFF for key in FEATURES[feature].signals}
        assert not [n for n in names if any(n.startswith(d) for d in disabled)]

        sh(tmp_path, snapshot_line)
        assert (tmp_path / "snapshot" / "index.html").is_file() and list((tmp_path / "snapshot").glob("*.png"))
    finally:
        stop.set()
        sh(tmp_path, down_line, check=False)
        for proc in procs:
            stop_process(proc)


def _query(prom: str, expr: str) -> list:
    return httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5).json()["data"]["result"]


def _pages(pager: str, **filters) -> list[dict]:
    return httpx.get(f"{pager}/pages", params=filters, timeout=5).json()
