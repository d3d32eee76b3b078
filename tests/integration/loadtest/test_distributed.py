"""A load test spread over machines, on loopback: a master (`moneypath loadtest ... --bind`) and workers started by
`moneypath loadtest-worker` as processes of their own (not the master's children), over TCP on 127.0.0.1, against
the module's reference service (conftest.py's money_path), judged with its Prometheus.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import moneypath
from moneypath import cli
from moneypath.loadtest.in_locust import worker_identity as wi
from moneypath.protocol.tokens import issue
from tests.conftest import ROOT, SHIPPED_LOCUSTFILE, SHIPPED_SCENARIOS, free_port
from tests.docs_examples import code_block, script_lines
from tests.integration.loadtest.helpers import SECRET, bash, only_report, replaced, stop_session

# a minute at 100 payments/s runs alone: in the drills' lane its turn waits for a short test, not a drill
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]
DISTRIBUTED = "Distributed: master and workers"
ASKED_RPS, TOLERANCE = 100.0, 0.02
EXIT = {"pass": 0, "fail": 1, "not measured": 3}


def master_cpu(session: subprocess.Popen) -> tuple[float, float] | None:
    """(CPU seconds, seconds alive) of the Locust master in a bash session, read while it runs; None if not found."""
    try:
        procs = psutil.Process(session.pid).children(recursive=True)
    except psutil.Error:
        return None
    for p in procs:
        try:
            if "locust" in " ".join(p.cmdline()) and "--master" in p.cmdline():
                t = p.cpu_times()
                return t.user + t.system, time.time() - p.create_time()
        except psutil.Error:
            continue
    return None


@pytest.mark.alone  # 100 payments/s: a neighbour's admission control would refuse on its lag
def test_two_workers_started_elsewhere_carry_the_asked_rate(money_path, tmp_path):
    """The page's master and worker lines in bash, each worker in a session of its own started before the master:
    the master's address 127.0.0.1:<free port>, its target the module's service and Prometheus, the token minted
    here for the page's `...`, the module's catalog, the run's report under tmp_path. Both workers are admitted, the
    run starts once they have joined (the run's clock is the master's), and the aggregate rate is within 2 % of
    the asked 100 requests/s over 30 s (the page's minute halved: the test runs alone, the machine waits on it)."""
    master_line, worker_line = script_lines(code_block("docs/load-tests.md", DISTRIBUTED, "sh"))
    address = f"127.0.0.1:{free_port()}"
    token = issue(SECRET.encode(), "loadtest", ["payments:write", "payments:read"], ttl_s=600)
    master_line = replaced(master_line, {
        "MONEYPATH_TOKEN=...": f"MONEYPATH_TOKEN={token}", "10.0.0.10:5557": address, "--duration 60": "--duration 30",
        "https://payments.staging.example": money_path["host"], "http://prometheus.example:9090":
        money_path["prometheus"]})
    master_line += (f" --catalog {money_path['catalog']} --locustfile {SHIPPED_LOCUSTFILE} --out {tmp_path / 'out'}"
                    " --reconcile-within 30")
    worker_line = replaced(worker_line, {"10.0.0.10:5557": address})
    started = time.monotonic()
    workers = [bash(worker_line, ROOT, {}, tmp_path / f"worker-{i}.log") for i in (1, 2)]
    master = bash(master_line, ROOT, {}, tmp_path / "master.log")
    cpu = None
    try:
        while master.poll() is None and time.monotonic() - started < 240:
            cpu = master_cpu(master) or cpu
            time.sleep(0.5)
        code = master.wait(timeout=5)
        worker_codes = [w.wait(timeout=30) for w in workers]
    finally:
        for proc in (master, *workers):
            stop_session(proc)
    out = (tmp_path / "master.log").read_text()
    logs = [(tmp_path / f"worker-{i}.log").read_text() for i in (1, 2)]
    assert worker_codes == [0, 0], logs
    for log in logs:
        assert "admitted" in log and "the run started" in log and "the run ended" in log, log
    assert "joined (2 of 2)" in out, out
    report = only_report(tmp_path / "out")
    assert not list((report / "locust").glob("locust-worker-*.log")), "the master started workers of its own"
    result = json.loads((report / "result.json").read_text())
    roll = json.loads((report / "locust" / "locust_admission.json").read_text())
    assert result["workers"] == 2 and len(roll["admitted"]) == 2 and not roll["refused"], roll
    # the run's clock is the master's: it starts when the master starts the test, after both workers joined
    assert result["started_at"] == roll["test_started_at"] >= max(a["at"] for a in roll["admitted"])
    assert code == EXIT[result["verdict"]], out
    measured = {g["name"]: g["status"] for g in result["gates"]}
    assert measured["failure_ratio_prometheus"] != "not measured", measured  # judged by Prometheus as well
    rps = result["locust"]["rps"]
    error = abs(rps - ASKED_RPS) / ASKED_RPS
    cpu_s, alive_s = cpu or (float("nan"), float("nan"))
    print(f"\ndistributed: {rps:.2f} requests/s asked {ASKED_RPS:g} (error {error:.2%}), {result['locust']['requests']}"
          f" requests, {result['locust']['failures']} failed, verdict {result['verdict']}; Locust master CPU "
          f"{cpu_s:.1f} s over {alive_s:.0f} s ({cpu_s / alive_s:.1%} of a core); {time.monotonic() - started:.0f} s")
    assert error <= TOLERANCE, (rps, out)


def test_a_worker_with_another_scenario_file_is_refused_and_never_carries_load(money_path, tmp_path, capsys,
                                                                              monkeypatch):
    """A worker whose scenario file differs by one comment line: refused in one line on both sides (it exits 2),
    and the master, which counted no admitted worker, gives up after --wait-workers with one line and no report."""
    other = tmp_path / "loadtests"
    other.mkdir()
    shutil.copy(SHIPPED_LOCUSTFILE, other / "locustfile.py")
    (other / "scenarios.yaml").write_text(SHIPPED_SCENARIOS.read_text() + "# another copy\n")
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", SECRET)
    started = time.monotonic()
    worker = subprocess.Popen([str(Path(sys.executable).parent / "moneypath"), "loadtest-worker", "--master", address,
                               "--locustfile", str(other / "locustfile.py"), "--wait-master", "60"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli.main(["loadtest", "checkout", "--rate", "10", "--duration", "5", "--workers", "1", "--bind",
                             address, "--wait-workers", "8", "--catalog", str(money_path["catalog"]),
                             "--locustfile", str(SHIPPED_LOCUSTFILE), "--host", money_path["host"],
                             "--no-prometheus", "--out", str(tmp_path / "out")])
        worker_out, worker_err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    out, err = stdout.getvalue(), stderr.getvalue()
    print(f"\nrefused worker: {time.monotonic() - started:.1f} s")
    why = "its scenario file differs from the master's (scenario file: sha256 "
    assert worker.returncode == 2, worker_out + worker_err
    [refused] = [line for line in worker_err.splitlines() if line.strip()]
    assert refused.startswith(f"moneypath: refused by the master {address}: {why}"), worker_err
    assert "the run started" not in worker_out, worker_out
    [master_says] = [line for line in out.splitlines() if "refused" in line]
    assert master_says.startswith("worker ") and f"refused: {why}" in master_says, out
    assert master_says.split("refused: ")[1] == refused.split(f"{address}: ")[1]  # the same reason on both sides
    assert code == 1, out + err
    assert f"0 of 1 workers joined within 8 s (1 refused); the master listens on {address}" in err, err
    reports = [p for p in (tmp_path / "out").iterdir()]
    assert all(p.name.endswith("-failed") for p in reports) and not list((tmp_path / "out").rglob("result.json"))
    assert not Path(reports[0] / "locust" / "locust.json").exists()  # no load was carried


def test_the_harness_digest_covers_every_moneypath_module_a_worker_imports():
    """A Locust process imports the reference locustfile and the harness (in a process of its own: Locust patches
    what it imports); each moneypath module it loaded is one of the files the harness digest reads."""
    script = ("import importlib.util, json, sys\n"
              f"spec = importlib.util.spec_from_file_location('lf', {str(SHIPPED_LOCUSTFILE)!r})\n"
              "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
              "import moneypath.loadtest.in_locust.harness\n"
              "print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() if n.split('.')[0] == 'moneypath' "
              "and getattr(m, '__file__', None))))\n")
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                       timeout=60).stdout)
    covered = {p.resolve() for p in wi.harness_files()}
    assert any(p.endswith("/moneypath/loadtest/in_locust/worker_admission.py") for p in loaded), loaded
    assert [p for p in loaded if Path(p).resolve() not in covered] == []
    root = Path(moneypath.__file__).resolve().parent
    assert not [p for p in covered if p.relative_to(root).parts[:3] in (("loadtest", "command", "capacity"),
                                                                        ("loadtest", "command", "soak"))]


def test_a_worker_whose_master_does_not_answer_says_so_within_its_wait(tmp_path):
    """No master on the port: one line after --wait-master (well within the run's 60 s timeout), exit 2."""
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    worker = subprocess.run([str(Path(sys.executable).parent / "moneypath"), "loadtest-worker", "--master", address,
                             "--wait-master", "3"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    print(f"\nno master: {took:.1f} s")
    assert worker.returncode == 2, worker.stdout + worker.stderr
    assert worker.stderr == (f"moneypath: the master {address} could not be reached within 3 s (is `moneypath loadtest "
                             "... --bind` running there, and its port open from here?)\n")
