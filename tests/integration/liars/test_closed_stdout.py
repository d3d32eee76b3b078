"""The liar: a stdout closed early. A CI step runs `set -o pipefail; moneypath readiness | head -1` and branches
on the pipeline's status; `head` exits after one line and the command's next write meets a closed pipe. That
must not turn the failed verdict (an alert whose last passing drill is older than the policy: exit 1) into a 0.
Real processes, real pipes: a shell pipeline, and a reader that closes after one line."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.support.drill_history import DAY, history

pytestmark = pytest.mark.integration
LAPSED = ("LAPSED        MoneyPathDuplicateChargeDetected: lapsed: last pass 400 days ago (duplicate-charge), "
          "policy 90 days")


@pytest.fixture
def lapsed(tmp_path):
    """A drill history whose only pass is 400 days old: readiness fails (1) on that alert."""
    folder = tmp_path / "history"
    history(folder, [time.time() - 400 * DAY])
    return [sys.executable, "-m", "moneypath", "--history", str(folder), "readiness"]


def env():
    path = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def test_the_verdict_read_in_full_fails_with_the_line_that_says_why(lapsed):
    run = subprocess.run(lapsed, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    assert LAPSED in run.stdout.splitlines()


def test_head_one_under_pipefail_keeps_the_failed_verdicts_exit_code(lapsed):
    script = f"set -o pipefail; {shlex.join(lapsed)} | head -1; echo \"pipeline status $?\""
    run = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env(), capture_output=True, text=True, timeout=60)
    lines = run.stdout.splitlines()
    assert lines[0].startswith("readiness of ") and lines[0].endswith("(1 record(s))")
    assert lines[-1] == "pipeline status 1", run.stdout  # never 0: the readiness failed
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr, run.stderr


def test_a_reader_that_closes_after_one_line_sees_the_command_exit_1(lapsed):
    proc = subprocess.Popen(lapsed, cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline().decode()
        proc.stdout.close()  # the reader is gone: everything after the first line meets a closed pipe
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert first.startswith("readiness of ")
    assert code == 1
    assert proc.stderr.read() == b""  # no broken-pipe traceback, no line: the output was the reader's to drop


def test_a_reader_gone_before_the_first_line_changes_nothing_either(lapsed):
    read, write = os.pipe()
    os.close(read)
    try:
        run = subprocess.run(lapsed, cwd=ROOT, env=env(), stdout=write, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write)
    assert run.returncode == 1 and run.stderr == b""
