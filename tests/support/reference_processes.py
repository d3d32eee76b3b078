"""The reference system as real processes in tests: `python -m MODULE --port N` on the repository's code."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def start(module: str, port: int, env: dict, *args: str) -> subprocess.Popen:
    path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))  # this tree's code, in a worktree too
    return subprocess.Popen([sys.executable, "-m", module, "--port", str(port), *args], cwd=ROOT,
                            env={**os.environ, **env, "PYTHONPATH": path})
