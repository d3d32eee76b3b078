"""`moneypath loadtest` end to end: Locust (subprocesses) against the reference service and the
provider simulator as real processes, judged with a real Prometheus.

The module's service runs its simulator at a tenth of the providers' latency, and the runs are
judged with a copy of the catalog whose latency SLO threshold is 1 s instead of 300 ms: on a
shared two-core machine (Prometheus evaluating every rule each second, other test processes)
the service's p99 at a dozen requests per second swings around 300 ms, and a gate test must
not depend on its neighbours. Faults add 1.2 s, well past it. Every run is seconds long.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from moneypath import cli
from moneypath.catalog import load_catalog
from moneypath.formats import scenarios
from moneypath.generate import dashboards as d
from moneypath.loadtest import request_names, stats
from moneypath.protocol.tokens import issue
from moneypath.stack import local as stack
from tests.conftest import CATALOG_PATH, ROOT, SHIPPED_LOCUSTFILE, SHIPPED_SCENARIOS, free_port, http_ok, wait_for
from tests.docs_examples import args_of, code_block, script_lines, shell, substitute
from tests.integration.loadtest.helpers import THRESHOLD_MS, only_report

pytestmark = pytest.mark.integration
SECRET = "loadtest-secret"
# docs/load-tests.md's first example, line by line: each test runs its line on the module's stack, seconds long
# (the --rate and --duration it appends win over the page's)
(CHECKOUT, PEAK, SPIKE, RETRY_STORM, SLOW_PROVIDER, SOAK, OVERLOAD, WORKERS,
 CAPACITY) = (args_of(argv) for argv in shell(code_block("docs/load-tests.md", "Load tests", "sh")))
SHAPES = {"peak": PEAK, "spike": SPIKE, "soak": SOAK}


def _start(module: str, port: int, env: dict, log: Path, *args: str) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", module, "--port", str(port), *args], cwd=ROOT,
                                env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def money_path(tmp_path_factory, catalog, gate_catalog):
    """Simulator (latency x0.1, faults on, settlements every 2 s) + service (reconciling every
    second) + a stack without services whose Prometheus scrapes the service."""
    tmp = tmp_path_factory.mktemp("loadtest")
    sim_port, svc_port = free_port(), free_port()
    env = {"MONEYPATH_TOKEN_SECRET": SECRET, "MONEYPATH_WEBHOOK_SECRET": "hooks", "MONEYPATH_CATALOG": str(CATALOG_PATH),
           "MONEYPATH_DB_URL": f"sqlite:///{tmp / 'ledger.db'}", "MONEYPATH_PROVIDER_URL": f"http://127.0.0.1:{sim_port}",
           "MONEYPATH_SETTLEMENT_DIR": str(tmp / "settlements"), "MONEYPATH_RECONCILE_INTERVAL_S": "1",
           "MONEYPATH_RECONCILE_GRACE_S": "5", "MONEYPATH_MISSING_AFTER_S": "30", "MONEYPATH_ENABLE_FAULTS": "1"}
    procs = [_start("moneypath.reference.providersim", sim_port, env, tmp / "sim.log", "--enable-faults",
                    "--latency-scale", "0.1",
                    "--settlement-dir", str(tmp / "settlements"), "--settlement-interval", "2",
                    "--webhook-url", f"http://127.0.0.1:{svc_port}/v1/webhooks"),
             _start("moneypath.reference.refservice", svc_port, env, tmp / "service.log")]
    state_dir = tmp / "stack"
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{sim_port}/healthz"), 30, "the provider simulator")
        wait_for(lambda: http_ok(f"http://127.0.0.1:{svc_port}/healthz"), 30, "the reference service")
        state = stack.up(catalog, state_dir, stack.StackSpec([f"127.0.0.1:{svc_port}"], fast=True),
                         progress=lambda *_: None)
        warm_up(f"http://127.0.0.1:{svc_port}")
        yield {"catalog": gate_catalog, "host": f"http://127.0.0.1:{svc_port}", "sim": f"http://127.0.0.1:{sim_port}",
               "prometheus": state.url("prometheus"), "state_dir": state_dir, "db": tmp / "ledger.db", "tmp": tmp}
    finally:
        stack.down(state_dir, progress=lambda *_: None)
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def warm_up(service: str) -> None:
    """A few payments first: the first requests of a fresh service pay for imports and caches."""
    token = issue(SECRET.encode(), "warm_up", ["payments:write"], ttl_s=600)
    with httpx.Client(base_url=service, timeout=10) as client:
        for i in range(10):
            client.post("/v1/payments/authorize", json={"amount_minor": 1000, "currency": "EUR",
                                                        "provider": ("acme", "globex")[i % 2], "reference": f"w{i}"},
                        headers={"authorization": f"Bearer {token}", "idempotency-key": f"warm-up-{i}"})


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", SECRET)
    for name in ("MONEYPATH_TOKEN", "MONEYPATH_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def loadtest(mp: dict, out: Path, line: list[str], *args: str) -> int:
    """`line` (loadtest SCENARIO [options], a line of the page) on the module's stack, then `args`."""
    assert line[0] == "loadtest"
    return cli.main([*line, "--catalog", str(mp["catalog"]), "--locustfile", str(SHIPPED_LOCUSTFILE),
                     "--host", mp["host"], "--providersim", mp["sim"], "--state-dir", str(mp["state_dir"]), "--out",
                     str(out), "--reconcile-within", "30", *args])


def admin_headers() -> dict:
    return {"authorization": f"Bearer {issue(SECRET.encode(), 'test_ops', ['admin:faults'], ttl_s=600)}"}


@pytest.fixture(scope="module")
def healthy_run(money_path, tmp_path_factory):
    """The healthy checkout run, made once: its own test judges it, and the latency-fault test uses
    its result.json as baseline whatever the order or selection of tests."""
    out = tmp_path_factory.mktemp("healthy")
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MONEYPATH_TOKEN_SECRET", SECRET)
        for name in ("MONEYPATH_TOKEN", "MONEYPATH_ADMIN_TOKEN"):
            mp.delenv(name, raising=False)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = loadtest(money_path, out, CHECKOUT, "--rate", "12", "--duration", "6")
    return {"code": code, "out": stdout.getvalue(), "err": stderr.getvalue(), "dir": out}


def test_healthy_run_passes_every_gate_and_prometheus_scrapes_locust(money_path, healthy_run):
    code, out, err = healthy_run["code"], healthy_run["out"], healthy_run["err"]
    assert code == 0, out + err
    assert "every gate passed" in out and "[" in out and "requests/s" in out  # progress lines and the verdict
    report = only_report(healthy_run["dir"])
    for name in ("result.json", "report.md", "report.html", "throughput.png", "latency.png", "users.png",
                 "locust/locust.json", "locust/locust_stats_history.csv"):
        assert (report / name).stat().st_size > 0, name
    result = json.loads((report / "result.json").read_text())
    assert result["passed"] and result["breaches"] == []
    statuses = {g["name"]: g["status"] for g in result["gates"]}
    assert statuses == {"p99_latency_locust": "pass", "p99_latency_prometheus": "pass", "failure_ratio_locust": "pass",
                        "failure_ratio_prometheus": "pass", "duplicate_charges": "pass", "ledger_balanced": "pass",
                        "reconciliation": "pass", "flow_p99_locust": "skip", "idempotent_replays": "skip",
                        "circuit_opened": "skip"}
    assert result["locust"]["requests"] > 40 and result["locust"]["authorize_p99_ms"] is not None
    names = {row["name"] for row in result["locust"]["by_name"]}
    assert {"authorize [acme]", "capture [acme]"} <= names
    # Locust's statistics were scraped by the stack's Prometheus under the locust_exporter names
    assert result["prometheus_observations"]["locust_series"] > 0
    r = httpx.get(f"{money_path['prometheus']}/api/v1/query", timeout=5,
                  params={"query": f'max_over_time({d.LOCUST_METRICS["requests"]}{{name="authorize [acme]",'
                                   'method="POST"}[5m])'}).json()["data"]["result"]
    assert r and float(r[0]["value"][1]) > 0
    # every Locust panel of the load-test dashboard shows the run, queried the way Grafana would
    catalog = load_catalog(money_path["catalog"])
    board = d.dashboards(catalog)[d.dashboard_uid(catalog, "loadtest")]
    locust = [t["expr"] for _, t in d.panel_queries(board) if any(m in t["expr"] for m in d.LOCUST_METRICS.values())]
    assert len(locust) == 4, locust
    window = {"start": result["started_at"], "end": result["ended_at"], "step": 1}
    for expr in locust:
        rows = httpx.get(f"{money_path['prometheus']}/api/v1/query_range", timeout=5,
                         params={"query": d.expand(expr), **window}).json()["data"]["result"]
        assert any(math.isfinite(float(v)) for row in rows for _, v in row["values"]), expr
    # ... and the exporter's scrape job was removed again afterwards
    wait_for(lambda: all(t["labels"]["job"] != "locust" for t in httpx.get(
        f"{money_path['prometheus']}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]), 10,
        "the locust scrape job to be removed")


def test_latency_fault_fails_the_p99_gate_and_the_baseline(money_path, healthy_run, secret_env, tmp_path, capsys):
    baseline = only_report(healthy_run["dir"]) / "result.json"
    for provider in ("acme", "globex"):
        httpx.put(f"{money_path['sim']}/admin/faults/latency", json={"provider": provider, "extra_ms": 1200},
                  headers=admin_headers(), timeout=5).raise_for_status()
    try:
        code = loadtest(money_path, tmp_path, CHECKOUT, "--rate", "12", "--duration", "6", "--baseline",
                        str(baseline))
    finally:
        httpx.delete(f"{money_path['sim']}/admin/faults/latency", headers=admin_headers(), timeout=5)
    out, err = capsys.readouterr()
    assert code == 1, out + err
    breaches = [line for line in err.splitlines() if line.startswith("BREACH: ")]
    over = f"is over the authorization-latency SLO threshold {THRESHOLD_MS} ms"
    assert any(b.startswith("BREACH: p99 authorization latency") and f"(Locust) {over}" in b for b in breaches), err
    assert any(f"(service histogram in Prometheus) {over}" in b for b in breaches), err
    assert any(b.startswith("BREACH: p99 authorization latency regressed") for b in breaches), err
    assert "Traceback" not in err
    result = json.loads((only_report(tmp_path) / "result.json").read_text())
    assert not result["passed"]
    assert {g["name"] for g in result["gates"] if g["status"] == "fail"} >= {"p99_latency_locust",
                                                                               "p99_latency_prometheus",
                                                                               "regression_p99"}
    assert next(g for g in result["gates"] if g["name"] == "ledger_balanced")["status"] == "pass"
    assert next(g for g in result["gates"] if g["name"] == "baseline_load")["status"] == "pass"  # same rate


def test_retry_storm_leaves_exactly_one_charge_per_key(money_path, secret_env, tmp_path, capsys):
    code = loadtest(money_path, tmp_path, RETRY_STORM, "--rate", "10", "--duration", "6")
    out, err = capsys.readouterr()
    result = json.loads((only_report(tmp_path) / "result.json").read_text())
    gates = {g["name"]: g for g in result["gates"]}
    assert gates["duplicate_charges"]["status"] == "pass", gates["duplicate_charges"]
    assert gates["idempotent_replays"]["status"] == "pass", gates["idempotent_replays"]
    assert code == 0, out + err
    rows = {(r["method"], r["name"]): r for r in result["locust"]["by_name"]}
    attempts = [r for (m, n), r in rows.items() if n.endswith(request_names.ATTEMPT)]
    assert sum(r["failures"] for r in attempts) > 5, "the storm never timed out and resent"
    assert result["locust"]["duplicate_checks"] > 10 and result["locust"]["duplicates_seen"] == 0
    # the ledger: every completed authorize key has exactly one payment, and no payment lacks its key
    with sqlite3.connect(money_path["db"]) as db:
        keys = db.execute("SELECT response_body FROM idempotency_keys WHERE principal = 'loadtest' "
                          "AND operation = 'authorize' AND state = 'completed'").fetchall()
        key_ids = [json.loads(body)["id"] for (body,) in keys]
        storm = set(pid for (pid,) in db.execute("SELECT id FROM payments WHERE reference LIKE 'storm%'"))
        captures = db.execute("SELECT payment_id, COUNT(*) FROM ledger_transactions WHERE kind = 'capture' "
                              "GROUP BY payment_id HAVING COUNT(*) > 1").fetchall()
    storm_keys = [pid for pid in key_ids if pid in storm]
    assert len(storm) > 10
    assert len(storm_keys) == len(set(storm_keys)) == len(storm), "a key with two payments or a payment without key"
    assert captures == [], f"payments captured twice: {captures}"


@pytest.mark.parametrize("scenario, rate", [("peak", 2), ("spike", 1), ("soak", 4)])
def test_every_load_shape_runs_short(money_path, secret_env, tmp_path, capsys, scenario, rate):
    code = loadtest(money_path, tmp_path, SHAPES[scenario], "--rate", str(rate), "--duration", "6")
    out, err = capsys.readouterr()
    report = only_report(tmp_path)
    result = json.loads((report / "result.json").read_text())
    assert [line for line in out.splitlines() if line.startswith("[")], "no progress lines"
    assert result["duration_s"] == 6
    users = [t.users for t in stats.history(report / "locust" / "locust_stats_history.csv")]
    gates = {g["name"]: g["status"] for g in result["gates"]}
    assert all(gates[name] == "pass" for name in ("duplicate_charges", "ledger_balanced", "reconciliation")), gates
    if scenario == "spike":
        # 1 user, 20 for two seconds, 1 again: twenty requests at once may well breach the p99 on
        # this machine, which is what a spike test is for; the verdict and the exit code must agree
        assert max(users) == 20 and users[-1] == 1, users
        assert code == (0 if result["passed"] else 1), out + err
    else:
        assert code == 0, out + err
        assert max(users) == (20 if scenario == "peak" else 4), users
    if scenario == "peak":
        assert result["locust"]["rps"] > 10  # 10x the 2/s baseline (minus ramp-up)


def test_two_workers(money_path, healthy_run, secret_env, tmp_path, capsys):
    """The page's `--workers 2 --baseline ...`, the baseline the healthy run (at the same rate)."""
    baseline = only_report(healthy_run["dir"]) / "result.json"
    line = substitute(WORKERS, {"reports/loadtest-checkout-.../result.json": str(baseline)})
    code = loadtest(money_path, tmp_path, line, "--rate", "12", "--duration", "5")
    out, err = capsys.readouterr()
    report = only_report(tmp_path)
    result = json.loads((report / "result.json").read_text())
    gates = {g["name"]: g["status"] for g in result["gates"]}
    # compared with the baseline at the same load; a p99 or throughput regression is the machine's, not judged here
    assert gates["baseline_load"] == "pass" and gates["regression_p99"] in ("pass", "fail"), gates
    assert all(status != "fail" for name, status in gates.items() if not name.startswith("regression_")), gates
    assert code == (0 if result["passed"] else 1), out + err
    assert (report / "locust" / "locust-worker-2.log").exists()
    assert "2 workers" in out
    assert result["locust"]["requests"] > 30


# docs/load-tests.md's plain-Locust block (its LOCUSTFILE= line and the web UI line) and the master and worker block
PLAIN_LOCUST, DISTRIBUTED = "With plain Locust", "Distributed: master and workers"


def bash(script: str, cwd: Path, env: dict, log: Path) -> subprocess.Popen:
    """Lines of the page in bash, this venv's locust first on the PATH, in a session of their own (what
    `stop_session` ends), its output in `log`."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MONEYPATH_")}, **env}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    with log.open("ab") as out:
        return subprocess.Popen(["bash", "-ec", script], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def stop_session(proc: subprocess.Popen, timeout_s: float = 20) -> None:
    """SIGTERM to bash and whatever it started (its session; Locust shuts down on it), SIGKILL to what is left
    after timeout_s: nothing is left running."""
    deadline = time.monotonic() + timeout_s
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        while True:
            proc.poll()  # reaps bash: a zombie would keep its group alive
            os.killpg(proc.pid, signal.SIGKILL if time.monotonic() > deadline else 0)
            time.sleep(0.2)
    except ProcessLookupError:  # every process of the group is gone
        pass
    proc.wait(timeout=timeout_s)


def replaced(line: str, values: dict[str, str]) -> str:
    """A line of the page with some of its text replaced (a port, a URL the test cannot use); every part named must
    be there."""
    for old, new in values.items():
        assert old in line, f"{old!r} is not in {line!r}"
        line = line.replace(old, new)
    return line


def test_the_web_ui_line_swarms_the_service_through_the_ui_and_stops(money_path, tmp_path):
    """The page's web UI line as written, in bash after the block's LOCUSTFILE= line: --host the module's service,
    the UI on a free port of 127.0.0.1 (appended, instead of :8089 on every address), the token minted from
    $MONEYPATH_TOKEN_SECRET. Its Start button's request (POST /swarm, no form: the scenario's shape decides the
    users) starts the spike scenario's baseline, the UI's statistics show the payments, its Stop button's stops
    them."""
    _, assignment, _, web = script_lines(code_block("docs/load-tests.md", PLAIN_LOCUST, "sh"))
    assert assignment.startswith("LOCUSTFILE=")
    command, _, comment = web.partition("#")
    assert comment.strip() == "web UI on :8089"
    port = free_port()
    line = f"{replaced(command.strip(), {'http://127.0.0.1:8000': money_path['host']})} " \
           f"--web-host 127.0.0.1 --web-port {port}"
    ui = f"http://127.0.0.1:{port}"
    log = tmp_path / "locust.log"
    started = time.monotonic()
    proc = bash(f"{assignment}\n{line}", ROOT, {"MONEYPATH_TOKEN_SECRET": SECRET}, log)
    try:
        wait_for(lambda: proc.poll() is not None or http_ok(f"{ui}/stats/requests"), 60, "Locust's web UI")
        assert proc.poll() is None, log.read_text()[-3000:]
        assert httpx.get(f"{ui}/stats/requests", timeout=5).json()["state"] == "ready"
        swarm = httpx.post(f"{ui}/swarm", data={}, timeout=10).json()
        assert swarm["success"] and "ScenarioShape" in swarm["message"], swarm

        def paying() -> dict | None:
            stats = httpx.get(f"{ui}/stats/requests", timeout=5).json()
            authorized = sum(r["num_requests"] for r in stats["stats"] if r["name"].startswith("authorize ["))
            return stats if authorized >= 5 and stats["user_count"] == 10 else None

        stats = wait_for(paying, 60, "the baseline's 10 users to authorize payments", interval_s=0.5)
        assert stats["state"] == "running"  # the spike's baseline: 10 users (scenarios.yaml), 20x after two minutes
        assert httpx.post(f"{ui}/stop", timeout=10).json()["success"]
        wait_for(lambda: httpx.get(f"{ui}/stats/requests", timeout=5).json()["state"] == "stopped", 30,
                 "the run to stop")
        stats = httpx.get(f"{ui}/stats/requests", timeout=5).json()
        names = {r["name"] for r in stats["stats"]}
        assert {"authorize [acme]", "authorize [globex]"} & names, names
        total = next(r for r in stats["stats"] if r["name"] == "Aggregated")
        assert total["num_failures"] == 0, stats["errors"]  # a token was minted: no 401
    finally:
        stop_session(proc)
    print(f"\nweb UI: {total['num_requests']} requests in {time.monotonic() - started:.1f} s")


def test_a_master_and_a_worker_run_the_scenario_as_the_page_starts_them(money_path, tmp_path):
    """The page's master and worker lines as written, each in bash after the block's MASTER= and TARGET= lines, with
    MASTER 127.0.0.1 and TARGET the module's service (the page's addresses are another network's), in a directory
    with loadtests/ for the plain-Locust block's LOCUSTFILE=; free ports for 5557 and 9646, one worker instead of
    four, --rate 2 instead of 50 (the peak's 10x is 20 requests/s) and --duration 8 appended, the token minted
    here for the page's `...`: the master's, which the worker sends (its own environment has none). The master
    serves its exporter while it runs and writes the CSV and JSON."""
    _, assignment, *_ = script_lines(code_block("docs/load-tests.md", PLAIN_LOCUST, "sh"))
    *addresses, master, worker = script_lines(code_block("docs/load-tests.md", DISTRIBUTED, "sh"))
    assert [a.split("=")[0] for a in addresses] == ["MASTER", "TARGET"]
    variables = f"MASTER=127.0.0.1\nTARGET={money_path['host']}\n{assignment}\n"
    (tmp_path / "loadtests").symlink_to(ROOT / "loadtests")
    bind, exporter = free_port(), free_port()
    token = issue(SECRET.encode(), "loadtest", ["payments:write", "payments:read"], ttl_s=600)
    master = replaced(master, {"MONEYPATH_TOKEN=...": f"MONEYPATH_TOKEN={token}", "--master-bind-port 5557":
                               f"--master-bind-port {bind}", "--expect-workers 4": "--expect-workers 1",
                               "--rate 50": "--rate 2", "--exporter-port 9646": f"--exporter-port {exporter}"})
    master += " --duration 8"
    worker = replaced(worker, {"--master-port 5557": f"--master-port {bind}"})
    started = time.monotonic()
    procs = [bash(variables + master, tmp_path, {}, tmp_path / "master.log")]
    try:
        procs.append(bash(variables + worker, tmp_path, {}, tmp_path / "worker.log"))

        def exported() -> float | None:
            assert procs[0].poll() is None, (tmp_path / "master.log").read_text()[-3000:]
            try:
                text = httpx.get(f"http://127.0.0.1:{exporter}/metrics", timeout=2).text
            except httpx.TransportError:
                return None
            counts = [float(v) for v in re.findall(r'^locust_requests_num_requests\{[^}]*name="authorize \[\w+\]"'
                                                    r'[^}]*\} (\S+)$', text, re.M)]
            return sum(counts) or None

        exported_count = wait_for(exported, 60, "the master's exporter to count authorizations", interval_s=0.5)
        assert procs[0].wait(timeout=60) == 0, (tmp_path / "master.log").read_text()[-3000:]
        assert procs[1].wait(timeout=30) == 0, (tmp_path / "worker.log").read_text()[-3000:]  # the master's quit
    finally:
        for proc in procs:
            stop_session(proc)
    print(f"\nmaster and worker: {time.monotonic() - started:.1f} s")
    run = tmp_path / "run"
    entries = json.loads((run / "locust.json").read_text())
    authorized = sum(e["num_requests"] for e in entries if e["name"].startswith("authorize ["))
    assert authorized >= exported_count and sum(e["num_failures"] for e in entries) == 0, entries
    with (run / "locust_stats.csv").open() as f:
        total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
    assert int(total["Request Count"]) > 50 and int(total["Failure Count"]) == 0, total
    assert (run / "locust_stats_history.csv").stat().st_size > 0


def test_slow_provider_opens_its_circuit_while_the_other_meets_the_slos(money_path, secret_env, tmp_path, capsys):
    # last in the module: globex's circuit stays open a while after the fault clears
    code = loadtest(money_path, tmp_path, SLOW_PROVIDER, "--rate", "10", "--duration", "8")
    out, err = capsys.readouterr()
    result = json.loads((only_report(tmp_path) / "result.json").read_text())
    gates = {g["name"]: g for g in result["gates"]}
    assert gates["circuit_opened"]["status"] == "pass", gates["circuit_opened"]
    assert "(acme)" in gates["p99_latency_locust"]["title"]
    assert code == 0, out + err
    active = httpx.get(f"{money_path['sim']}/admin/faults", headers=admin_headers(), timeout=5).json()["faults"]
    assert active == [], "the scenario's fault was not cleared"


def test_overload_is_judged_phase_by_phase(money_path, secret_env, tmp_path, capsys):
    """Each request holds the service's event loop 15 ms (the request_cost fault: ~60 requests/s at most) and
    waits 800 ms on its provider, then 3x 30/s for 5 s: the limit on requests in flight binds, the loop lags,
    admission control refuses some (with Retry-After) — real Locust, real service, stats snapshotted at the
    phase boundaries and subtracted."""
    spec = yaml.safe_load(SHIPPED_SCENARIOS.read_text())
    spec["baseline"]["warmup_s"] = 3
    costly = [{"at": "service", "name": "request_cost", "params": {"extra_ms": 15}},
              *({"at": "providersim", "name": "latency", "params": {"provider": p, "extra_ms": 800}}
                for p in ("acme", "globex"))]
    spec["scenarios"] = {"overload": {**spec["scenarios"]["overload"], "spike": {"multiplier": 3, "duration_s": 5},
                                      "duration_s": 21, "overload": {"goodput_share": 0.9, "recover_within_s": 3},
                                      "faults": costly}}
    scenario_file = tmp_path / "scenarios.yaml"
    scenario_file.write_text(yaml.safe_dump(spec))
    code = loadtest(money_path, tmp_path / "out", OVERLOAD, "--rate", "30", "--scenario-file", str(scenario_file))
    out, err = capsys.readouterr()
    assert code in (0, 1), out + err
    report = only_report(tmp_path / "out")
    result = json.loads((report / "result.json").read_text())
    assert code == (0 if result["passed"] else 1), out + err
    o = result["overload"]
    assert (o["overload_s"], o["recovery_s"]) == ([7, 12], [15, 21])
    assert o["overload"]["refused"] > 0 and o["overload"]["requests"] > o["overload"]["refused"], o
    assert o["recovery"]["requests"] > 0
    gates = {g["name"]: g for g in result["gates"]}
    assert set(scenarios.OVERLOAD_GATES) <= set(gates)  # judged; how well a loop blocked 15 ms a request does varies
    assert gates["duplicate_charges"]["status"] == gates["ledger_balanced"]["status"] == "pass"
    # the snapshots must not reset Locust's stats: the final figures hold every phase
    final = sum(e["num_requests"] for e in json.loads((report / "locust" / "locust.json").read_text()))
    snapshots = json.loads((report / "locust" / "locust_snapshots.json").read_text())
    assert sorted(snapshots, key=float) == ["7", "12", "15"]
    assert final >= sum(e["num_requests"] for e in snapshots["15"]) > sum(e["num_requests"] for e in snapshots["7"])
    assert o["overload"]["refused_p99_ms"] is not None and o["recovery"]["authorize_p99_ms"] is not None
    # each snapshot is the histogram of its moment, not the live one: counts match, phase by phase
    for entries in snapshots.values():
        assert all(sum(e["response_times"].values()) == e["num_requests"] for e in entries)
    assert result["locust"]["latency_judged"].startswith("after the first 3 s")
    assert "Overload" in (report / "report.md").read_text()
