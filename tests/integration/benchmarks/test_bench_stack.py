"""A benchmark killed with SIGTERM stops the service and simulator it started (and the service's audit walker):
before, they ran on idle beside the next measurement."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_service import ROOT

BENCHMARK = """
import secrets, sys, time
from pathlib import Path
from benchmarks.bench_service import Stack, process_tree
stack = Stack(Path(sys.argv[1]), "on", secrets.token_hex(32))
try:
    print(*process_tree(stack.service.proc.pid), *process_tree(stack.sim.proc.pid), flush=True)
    time.sleep(120)
finally:
    stack.stop()
"""


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def test_a_benchmark_stopped_by_sigterm_leaves_no_process_behind(tmp_path):
    bench = subprocess.Popen([sys.executable, "-c", BENCHMARK, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    started: list[int] = []
    try:
        started = [int(pid) for pid in bench.stdout.readline().split()]
        assert len(started) >= 2, bench.stderr.read()
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=40) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in started if alive(pid)] == []
    finally:
        for pid in [bench.pid, *started]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        bench.wait(timeout=10)
