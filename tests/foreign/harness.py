"""Start the ticket shop as its team would: `moneypath init` writes its project, its providers (small stubs)
and the shop run under uvicorn, optionally behind `moneypath faultproxy`. For the integration tests that
show a moneypath capability on a service it has never seen."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT, SHOP_INIT_ARGS, free_port, http_ok, stop_process, wait_for

MONEYPATH = [str(Path(sys.executable).parent / "moneypath")]
PROVIDERS = ("komoju", "knet")
# A latency SLO the shop adds to its init-made catalog (under alerts:), so the load test has a p99 gate.
LATENCY_SLO = """
  charge-latency:
    description: Charges answered within 500 ms.
    objective: 99.0
    window: 28d
    sli:
      latency: {signal: authorization_duration_seconds, under: 0.5}
"""


def moneypath(*args: str, check: bool = True, env: dict | None = None, timeout: float = 120,
              ) -> subprocess.CompletedProcess:
    result = subprocess.run([*MONEYPATH, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                            env={**os.environ, **(env or {})})
    if check:
        assert result.returncode == 0, f"moneypath {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def uvicorn(app: str, port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env={**os.environ, "PYTHONPATH": _pythonpath(), **env})


def _pythonpath() -> str:
    """The repository first, then what the caller had (a worktree's src/ when testing one)."""
    return os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))


def init_project(root: Path) -> Path:
    """The shop's project as `moneypath init` writes it; its catalog path."""
    moneypath("init", str(root), *SHOP_INIT_ARGS)
    return root / "moneypath.yaml"


@contextmanager
def shop(catalog: Path, proxy_secret: str | None = None, serve=None):
    """The providers, the shop and (with a secret) the fault proxy between them, all on loopback; yields
    {"shop", "faultproxy", "komoju", "knet"} → URL. `serve(port, env)` starts another shop with the ticket shop's API
    (the Flask one) instead of it. Everything started is stopped on the way out."""
    ports = {name: free_port() for name in (*PROVIDERS, "shop", "faultproxy")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    procs = [uvicorn("tests.foreign.provider_stub:app", ports[p], {}) for p in PROVIDERS]
    try:
        for p in PROVIDERS:
            wait_for(lambda p=p: http_ok(f"{url[p]}/docs"), 30, f"{p} to start")
        upstream = dict(url)
        if proxy_secret is not None:
            procs.append(subprocess.Popen(
                [*MONEYPATH, "faultproxy", "--catalog", str(catalog), "--port", str(ports["faultproxy"]),
                 "--enable-faults", *(a for p in PROVIDERS for a in ("--upstream", f"{p}={url[p]}"))],
                cwd=ROOT, env={**os.environ, "MONEYPATH_TOKEN_SECRET": proxy_secret}))
            wait_for(lambda: http_ok(f"{url['faultproxy']}/healthz"), 30, "the fault proxy to start")
            upstream = {p: f"{url['faultproxy']}/{p}" for p in PROVIDERS}
        env = {"SHOP_CATALOG": str(catalog), "SHOP_PROVIDERS": ",".join(f"{p}={upstream[p]}" for p in PROVIDERS)}
        procs.append(serve(ports["shop"], env) if serve else uvicorn("tests.foreign.ticketshop:app", ports["shop"], env))
        wait_for(lambda: http_ok(f"{url['shop']}/healthz"), 30, "the shop to start")
        yield url
    finally:
        for proc in procs:
            stop_process(proc)
