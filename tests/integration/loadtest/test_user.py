"""`moneypath loadtest --locustfile` on a team's own service: the ticket shop of tests/foreign, unchanged
(POST /charges, Komoju and KNET, JPY and KWD, no API token, no reconciliation), loaded with the team's
locustfile (tests/foreign/locustfile.py: a PaymentUser subclass declaring one endpoint) and its
scenario file, judged with Prometheus from a stack scraping the shop. Healthy, every gate passes and
the verdict names the gate its catalog switches off; with Komoju slowed by the fault proxy between the
shop and its providers (`moneypath faultproxy`, scenario komoju_slow), the p99 gate breaches.

The catalog is tests/foreign/moneypath.yaml plus a latency SLO (charges within 500 ms): the shop's
own has none, and a latency gate needs one. Each run is 8 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from moneypath import cli
from moneypath.catalog import load_catalog
from moneypath.protocol.tokens import issue
from moneypath.stack import local as stack
from tests.conftest import ROOT, free_port, http_ok, stop_process, wait_for
from tests.docs_examples import args_of, code_block, fill, shell
from tests.foreign.harness import LATENCY_SLO

pytestmark = pytest.mark.integration
FOREIGN = ROOT / "tests" / "foreign"
SECRET = "foreign-faults"
# docs/load-tests.md, "Load-testing your own service": the team's locustfile and the two commands that run it
PAGE, HEADING = "docs/load-tests.md", "Load-testing your own service"
CHECKOUT, KOMOJU_SLOW = (args_of(argv) for argv in shell(code_block(PAGE, HEADING, "sh")))


def _start(argv: list[str], log: Path, env: dict) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT), os.environ.get(
                                    "PYTHONPATH", ""))), **env})


def _up(url: str, proc: subprocess.Popen, log: Path) -> bool:
    """Whether `url` answers; a process that exited fails at once with its log's last line."""
    if proc.poll() is not None:
        raise AssertionError(f"{log.name}: exited {proc.returncode}: {log.read_text().strip()[-500:]}")
    return http_ok(url)


def _uvicorn(app: str, port: int, log: Path, env: dict | None = None) -> subprocess.Popen:
    return _start(["uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], log,
                  env or {})


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """Provider stubs ← fault proxy ← ticket shop, and a stack (Prometheus) scraping the shop."""
    tmp = tmp_path_factory.mktemp("shop")
    catalog = tmp / "moneypath.yaml"
    text = (FOREIGN / "moneypath.yaml").read_text()
    assert "\nalerts:\n" in text, "the foreign catalog changed: update this test"
    catalog.write_text(text.replace("\nalerts:\n", LATENCY_SLO + "\nalerts:\n", 1))
    ports = {name: free_port() for name in ("komoju", "knet", "proxy", "shop")}
    proxy = f"http://127.0.0.1:{ports['proxy']}"
    procs = [_uvicorn("tests.foreign.provider_stub:app", ports[p], tmp / f"{p}.log") for p in ("komoju", "knet")]
    state_dir = tmp / "stack"
    try:
        for p, proc in zip(("komoju", "knet"), procs):
            wait_for(lambda p=p, proc=proc: _up(f"http://127.0.0.1:{ports[p]}/docs", proc, tmp / f"{p}.log"), 30,
                     f"the {p} stub")
        procs.append(_start(["moneypath", "faultproxy", "--catalog", str(catalog), "--port", str(ports["proxy"]),
                             "--upstream", f"komoju=http://127.0.0.1:{ports['komoju']}",
                             "--upstream", f"knet=http://127.0.0.1:{ports['knet']}", "--enable-faults"],
                            tmp / "proxy.log", {"MONEYPATH_TOKEN_SECRET": SECRET}))
        wait_for(lambda: _up(f"{proxy}/healthz", procs[-1], tmp / "proxy.log"), 30, "the fault proxy")
        procs.append(_uvicorn("tests.foreign.ticketshop:app", ports["shop"], tmp / "shop.log", {
            "SHOP_CATALOG": str(catalog), "SHOP_PROVIDERS": f"komoju={proxy}/komoju,knet={proxy}/knet"}))
        host = f"http://127.0.0.1:{ports['shop']}"
        wait_for(lambda: _up(f"{host}/healthz", procs[-1], tmp / "shop.log"), 30, "the ticket shop")
        with httpx.Client(base_url=host, timeout=5) as client:  # the first charges pay for imports and pools
            for provider in ("komoju", "knet") * 3:
                client.post("/charges", json={"provider": provider, "currency": "JPY", "amount_minor": 500})
        stack.up(load_catalog(catalog), state_dir, stack.StackSpec([f"127.0.0.1:{ports['shop']}"], fast=True),
                 progress=lambda *_: None)
        yield {"catalog": catalog, "host": host, "proxy": proxy, "state_dir": state_dir, "tmp": tmp,
               "shop_pid": procs[-1].pid}
    finally:
        stack.down(state_dir, progress=lambda *_: None)
        for proc in procs:
            stop_process(proc)


def loadtest(shop: dict, out: Path, line: list[str], **values: str) -> int:
    """A command of the page on the shop: the page's locustfile (written to `out`), the shop's catalog, URL and
    stack; the shop's scenario file, and 8 s at 8 requests/s."""
    locustfile = out / "locustfile.py"
    locustfile.write_text(code_block(PAGE, HEADING))
    argv = fill(line, locustfile=str(locustfile), catalog=str(shop["catalog"]), host=shop["host"],
                state_dir=str(shop["state_dir"]), **values)
    return cli.main([*argv, "--scenario-file", str(FOREIGN / "scenarios.yaml"), "--out", str(out / "out"),
                     "--rate", "8", "--duration", "8"])


def result_of(out: Path) -> dict:
    (report,) = [p for p in (out / "out").iterdir() if not p.name.startswith(".")]
    return json.loads((report / "result.json").read_text())


@pytest.fixture
def no_credentials(monkeypatch):
    for name in ("MONEYPATH_TOKEN", "MONEYPATH_ADMIN_TOKEN", "MONEYPATH_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)


def test_the_team_locustfile_loads_the_shop_and_every_gate_passes(shop, no_credentials, tmp_path, capsys):
    code = loadtest(shop, tmp_path, CHECKOUT)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert out.splitlines()[-1] == ("checkout: every gate passed; skipped: reconciliation caught up "
                                    "(feature reconciliation is off)")
    result = result_of(tmp_path)
    assert {g["name"]: g["status"] for g in result["gates"]} == {
        "p99_latency_locust": "pass", "p99_latency_prometheus": "pass", "failure_ratio_locust": "pass",
        "failure_ratio_prometheus": "pass", "duplicate_charges": "pass", "ledger_balanced": "pass",
        "reconciliation": "skip", "flow_p99_locust": "skip", "idempotent_replays": "skip", "circuit_opened": "skip"}
    rows = {r["name"]: r for r in result["locust"]["by_name"]}
    assert set(rows) == {"authorize [komoju]", "authorize [knet]"}  # the names the gates read, the shop's providers
    assert result["locust"]["requests"] > 40 and result["locust"]["failures"] == 0
    assert result["prometheus_observations"]["locust_series"] > 0  # the stack's Prometheus scraped Locust too


def test_komoju_slowed_through_the_fault_proxy_breaches_the_p99_gate(shop, no_credentials, monkeypatch, tmp_path,
                                                                     capsys):
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", SECRET)  # for the proxy's admin:faults token, nothing else
    code = loadtest(shop, tmp_path, KOMOJU_SLOW, faultproxy=shop["proxy"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    breaches = [line for line in err.splitlines() if line.startswith("BREACH: ")]
    assert any(b.startswith("BREACH: p99 authorization latency") and
               "(Locust) is over the charge-latency SLO threshold 500 ms" in b for b in breaches), err
    assert "Traceback" not in err
    gates = {g["name"]: g["status"] for g in result_of(tmp_path)["gates"]}
    assert gates["p99_latency_locust"] == "fail" and gates["ledger_balanced"] == "pass"
    admin = issue(SECRET.encode(), "test_ops", ["admin:faults"], ttl_s=600)
    active = httpx.get(f"{shop['proxy']}/admin/faults", headers={"authorization": f"Bearer {admin}"}, timeout=5)
    assert active.json()["faults"] == [], "the scenario's fault was not cleared"


@pytest.mark.exclusive  # a saturation probe: never beside a drill
def test_capacity_of_the_shop_names_its_limit_and_assumes_nothing_of_its_database(shop, no_credentials, tmp_path,
                                                                                   capsys):
    """`moneypath capacity` on the team's service: its locustfile and scenarios, the shop's CPU through
    the run config's capacity.service_pids, JPY/KWD costs from its catalog; the shop's database is not ours to know."""
    config = tmp_path / "run" / "moneypath.run.yaml"
    config.parent.mkdir()
    config.write_text(f"capacity:\n  service_pids: [{shop['shop_pid']}]\n")
    code = cli.main(["capacity", "--config", str(config), "--locustfile", str(FOREIGN / "locustfile.py"), "--scenario-file",
                     str(FOREIGN / "scenarios.yaml"), "--catalog", str(shop["catalog"]), "--host", shop["host"],
                     "--no-auth", "--state-dir", str(shop["state_dir"]), "--out", str(tmp_path), "--start", "4",
                     "--step", "8", "--max", "12", "--step-duration", "5", "--current-rps", "2",
                     "--saturation-users", "8"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    (report,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".") and p.name != "run"]
    result = json.loads((report / "capacity.json").read_text())
    sat = result["saturation"]
    assert sat["closed_loop"] and sat["authorize_rps"] > 0
    assert sat["usage"]["cores"]["service"] > 0 and sat["usage"]["cores"]["locust"] > 0, sat["usage"]
    assert result["database"] == "unknown" and "assumed to scale" in result["database_assumption"]
    assert result["knee"]["rate"] == 12 and all(p["feasible"] for p in result["projections"])
    assert "database: unknown" in out and "Traceback" not in err
