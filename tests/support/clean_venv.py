"""A clean virtual environment in tests: this process's environment without the project venv's traces, commands
run in it, the source tree copied to build a wheel from, and what the venv holds (INVENTORY, run by its python)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

from tests.conftest import ROOT

PIP_TIMEOUT_S = 600
INVENTORY = textwrap.dedent("""
    import importlib.metadata, json, os, sys
    dists = {}
    for dist in importlib.metadata.distributions():
        size = 0
        for file in dist.files or ():
            try:
                size += os.stat(dist.locate_file(file)).st_blocks * 512
            except OSError:
                pass
        dists[dist.metadata["Name"]] = {"version": dist.version, "bytes": size}
    json.dump(dists, sys.stdout)
""")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def clean_env() -> dict[str, str]:
    """This process's environment without the project venv's traces (the new venv must see only itself)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # only pip's own compile step writes .pyc: the figures stay stable
    return env


def run(*args, cwd: Path | None = None, timeout: float = PIP_TIMEOUT_S, env: dict | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env={**clean_env(), **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def source_copy(dest: Path) -> Path:
    """What a wheel is built from, copied so that building leaves the shared working tree alone."""
    dest.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", dest)
    shutil.copy2(ROOT / "README.md", dest)  # pyproject.toml: readme = "README.md"
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest
