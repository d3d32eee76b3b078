"""kill -9 leaves no load behind (moneypath.loadtest.in_locust.parent_watch): a `moneypath loadtest-worker` killed
with SIGKILL mid-run, and a `moneypath loadtest --workers 1` killed so, take every process they started with them
within 5 s.
Their descendants are read from /proc before the kill and polled after it (a zombie is dead: it sends nothing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from moneypath.protocol.tokens import issue
from tests.conftest import ROOT, SHIPPED_LOCUSTFILE, free_port
from tests.integration.loadtest.helpers import SECRET

pytestmark = pytest.mark.integration
GONE_WITHIN_S = 5.0


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (from /proc/<pid>/task/*/children, recursively) -> its start time (field 22 of
    /proc/<pid>/stat: a pid reused later is another process)."""
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            for kid in kids:
                if kid not in out and (start := _stat(kid)) is not None:
                    out[kid] = start[1]
                    todo.append(kid)
    return out


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], fields[19]


def alive(procs: dict[int, str]) -> list[int]:
    return [pid for pid, start in procs.items() if (s := _stat(pid)) is not None and s[1] == start and s[0] != "Z"]


def wait_until(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout_s:g} s"
        time.sleep(0.2)


def moneypath(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "moneypath", *args], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**{k: v for k, v in os.environ.items() if not k.startswith("MONEYPATH_")}, **env})


def kill_and_watch(proc: subprocess.Popen) -> tuple[dict[int, str], float, list[int]]:
    """SIGKILL `proc`; (its descendants before, seconds until none was alive, those still alive after 5 s)."""
    before = descendants(proc.pid)
    assert before, "the process started nothing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)
    killed = time.monotonic()
    while alive(before) and time.monotonic() - killed < GONE_WITHIN_S:
        time.sleep(0.1)
    return before, time.monotonic() - killed, alive(before)


def cleanup(*groups: dict[int, str]) -> None:
    """SIGKILL what the test started and is still alive (by pid and start time): never another's process."""
    for procs in groups:
        for pid in alive(procs):
            os.kill(pid, signal.SIGKILL)


def run_args(mp: dict, out: Path, *extra: str) -> list[str]:
    return ["loadtest", "checkout", "--rate", "4", "--duration", "60", "--catalog", str(mp["catalog"]),
            "--locustfile", str(SHIPPED_LOCUSTFILE), "--host", mp["host"], "--no-prometheus", "--out", str(out),
            *extra]


def test_a_worker_killed_with_sigkill_takes_its_locust_with_it(money_path, tmp_path):
    token = issue(SECRET.encode(), "loadtest", ["payments:write", "payments:read"], ttl_s=600)
    address = f"127.0.0.1:{free_port()}"
    master = moneypath(run_args(money_path, tmp_path / "out", "--workers", "1", "--bind", address),
                       tmp_path / "master.log", {"MONEYPATH_TOKEN": token})
    worker = moneypath(["loadtest-worker", "--master", address, "--locustfile", str(SHIPPED_LOCUSTFILE), "--catalog",
                        str(money_path["catalog"])], tmp_path / "worker.log", {})
    master_procs: dict[int, str] = {}
    before: dict[int, str] = {}
    try:
        wait_until(lambda: "the run started" in (tmp_path / "worker.log").read_text(), 60, "run started")
        master_procs = descendants(master.pid)
        before, took, left = kill_and_watch(worker)
        print(f"worker killed: its {len(before)} processes gone in {took:.1f} s")
        assert not left, f"still alive {GONE_WITHIN_S:g} s after the worker's kill -9: {left}"
    finally:
        cleanup(before)
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(timeout=20)
        except subprocess.TimeoutExpired:
            master.kill()
        cleanup(master_procs)


def test_a_loadtest_killed_with_sigkill_takes_its_master_and_local_workers_with_it(money_path, tmp_path):
    token = issue(SECRET.encode(), "loadtest", ["payments:write", "payments:read"], ttl_s=600)
    run = moneypath(run_args(money_path, tmp_path / "out", "--workers", "1"), tmp_path / "run.log",
                    {"MONEYPATH_TOKEN": token})
    before: dict[int, str] = {}
    try:
        wait_until(lambda: "] users " in (tmp_path / "run.log").read_text() and len(descendants(run.pid)) >= 2, 90,
                   "Locust master and worker running")
        before, took, left = kill_and_watch(run)
        print(f"loadtest killed: its {len(before)} processes gone in {took:.1f} s")
        assert len(before) >= 2  # the Locust master and its worker
        assert not left, f"still alive {GONE_WITHIN_S:g} s after the run's kill -9: {left}"
    finally:
        cleanup(before)
