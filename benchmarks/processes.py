"""Loopback ports, waiting and stopping processes: shared by the benchmarks and the tests (tests/conftest.py
imports them from here; a benchmark never imports tests)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import httpx

from moneypath.stack.processes import free_port  # noqa: F401 - below the ephemeral range; tests import it from here


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.2):
    """Poll until predicate() is truthy (returned), or fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def stop_process(proc: subprocess.Popen, timeout_s: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within timeout_s: a test never leaves a process behind."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


def unwind_on_sigterm() -> None:
    """Make SIGTERM (a `timeout`, a `kill`, CI giving up) unwind like Ctrl-C, so the `finally` that stops a
    benchmark's service and simulator runs: by default it killed the benchmark alone, and its idle service,
    simulator and audit walker ran on beside the next measurement. Leaves a handler someone else set alone."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
