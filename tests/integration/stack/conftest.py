"""The stack room's fixtures: `service`, a small instrumented service (paging_app.py) under uvicorn on loopback,
scraped by the stacks the paging and remote-write tests start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import CATALOG_PATH, ROOT, free_port, http_ok, wait_for


@pytest.fixture
def service():
    port = free_port()
    env = {**os.environ, "MONEYPATH_CATALOG": str(CATALOG_PATH),
           "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "tests.integration.stack.paging_app:app", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(f"{url}/metrics"), 30, "the service to start")
        yield f"127.0.0.1:{port}", url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
