"""The load generator watched, with local `--workers 2` children against the module's stack (conftest.py's
money_path): a worker killed at half time is reported (which, when, the rate it carried) and its stretch is not
measured; a worker made generator-bound by the test-only CPU-burn hook marks the run "the load generator was the
bottleneck". Each run is seconds long and prints its duration."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from moneypath.loadtest.command import locust_processes
from moneypath.loadtest.in_locust import run_settings
from tests.docs_examples import args_of, code_block, env_of, shell
from tests.integration.loadtest.helpers import only_report
from tests.integration.loadtest.test_session import CHECKOUT, loadtest

# a core burnt on purpose runs alone: in the drills' lane its turn waits for a short test, not a drill
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]


@pytest.fixture
def spawned(monkeypatch):
    """The Locust processes the run starts: the master, then its workers."""
    procs = []
    real = locust_processes._spawn

    def spawn(argv, log, env):
        procs.append(real(argv, log, env))
        return procs[-1]

    monkeypatch.setattr(locust_processes, "_spawn", spawn)
    return procs


def kill_at(procs: list, which: int, after_s: float) -> threading.Thread:
    """SIGKILL the `which`-th process `after_s` seconds after the test started (Locust's first stats line)."""
    def run():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(procs) > which and (procs[0].log_path.parent / "locust_stats_history.csv").exists():
                time.sleep(after_s)
                os.kill(procs[which].pid, signal.SIGKILL)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_worker_killed_at_half_time_is_reported_and_its_stretch_not_measured(money_path, secret_env, spawned,
                                                                               tmp_path, capsys):
    began = time.monotonic()
    killer = kill_at(spawned, 2, 9)
    code = loadtest(money_path, tmp_path, CHECKOUT, "--rate", "16", "--duration", "22", "--workers", "2")
    killer.join(timeout=5)
    out, err = capsys.readouterr()
    print(f"killed-worker run: {time.monotonic() - began:.0f} s")
    report = only_report(tmp_path)
    result = json.loads((report / "result.json").read_text())
    lg = result["load_generator"]
    [loss] = lg["losses"]
    assert loss["name"].startswith("worker ") and 5 <= loss["at_s"] <= 14, loss  # killed about 9 s in
    assert 5 <= loss["carried"] <= 11, loss  # about half of 16 requests/s
    assert "Locust worker 2 exited (-9); the run goes on" in out
    assert any(line.startswith(f"load generator: {loss['name']} lost at") for line in out.splitlines()), out
    [(a, b)] = lg["not_measured_s"]
    assert a == loss["at_s"]
    gates = {g["name"]: g for g in result["gates"]}
    if b is not None:  # the other worker took its users: the rate gates judged without the stretch, and say so
        assert lg["recovered"] and code == (0 if result["passed"] else 1), out + err
        assert "a load-generator worker was lost: the rate gates judged without" in out.splitlines()[-1], out
        assert "a load-generator worker was lost" in gates["p99_latency_locust"]["observed"], gates
        assert "to the end" in gates["p99_latency_prometheus"]["observed"] or \
            gates["p99_latency_prometheus"]["status"] == "not measured", gates
    else:  # never a lower rate and a pass
        assert code in (1, 3) and gates["p99_latency_locust"]["status"] != "pass", gates
    assert gates["duplicate_charges"]["status"] == "pass"  # money is judged on the whole run
    page = (report / "report.md").read_text()
    assert "## Load generator" in page and f"{loss['name']} lost at" in page
    timeline = json.loads((report / "locust" / "locust_workers.json").read_text())
    states = {w["state"] for s in timeline["samples"] for w in s["workers"].values()}
    assert "missing" in states and len(timeline["workers"]) == 2


@pytest.mark.alone  # it burns a core on purpose: a neighbour's service would be judged on what is left
def test_a_worker_burning_its_cpu_marks_the_load_generator_as_the_bottleneck(money_path, secret_env, tmp_path,
                                                                             capsys, monkeypatch):
    """docs/load-tests.md's line: the worker of index 1 holds its event loop (the test-only hook)."""
    [line] = shell(code_block("docs/load-tests.md", "The load generator: a lost worker, a bottleneck", "sh"))
    assert env_of(line) == {run_settings.BURN_ENV: "1@1"}
    monkeypatch.setenv(run_settings.BURN_ENV, "1@1")
    began = time.monotonic()
    code = loadtest(money_path, tmp_path, args_of(line))
    out, err = capsys.readouterr()
    print(f"burning-worker run: {time.monotonic() - began:.0f} s")
    result = json.loads((only_report(tmp_path) / "result.json").read_text())
    lg = result["load_generator"]
    assert lg["generator_bound"] and lg["losses"] == [], lg
    assert code == 3 and result["verdict"] == "not measured", out + err
    assert "load generator: the load generator was the bottleneck: " in out
    gates = {g["name"]: g for g in result["gates"]}
    assert gates["p99_latency_locust"]["status"] == "not measured"
    assert "the load generator was the bottleneck" in gates["p99_latency_locust"]["reason"]
    assert "NOT MEASURED: not measured: p99 authorization latency, Locust: the load generator was" in err
