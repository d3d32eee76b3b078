"""What the load-test integration tests share: the gates' latency threshold, the module service's token secret, the
one report a run leaves, and how a test runs the docs' shell lines (`bash`, `stop_session`, `replaced`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

LATENCY_SLO = "latency: {signal: authorization_duration_seconds, under: 0.3}"
THRESHOLD_MS = 1000
SECRET = "loadtest-secret"  # the module service's token secret (conftest.py's money_path)


def only_report(out: Path) -> Path:
    reports = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert len(reports) == 1, reports
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "a staging directory was left behind"
    return reports[0]


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
