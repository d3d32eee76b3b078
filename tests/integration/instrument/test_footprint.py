"""What `pip install moneypath` (no extras) puts into a service's environment, and that the docs' instrumentation
example (docs/instrumenting.md) runs there next to the newest OpenTelemetry SDK, FastAPI and uvicorn — in a team's
own service, not the reference one: its catalog names Stripe and Adyen, USD, JPY and KWD, and its route is
POST /charges.

A fresh virtual environment under tmp_path gets the project from a copy of the source tree (pyproject.toml,
README.md, src/ — so the build leaves no build/ or *.egg-info in the working tree). pip uses the machine's
own configuration (index mirrors). Takes a minute or two; run with -s to see the figures.

What is counted:
- packages: every distribution importlib.metadata finds in the new venv after the install, except
  moneypath itself and the venv's own seed packages (pip, setuptools, wheel) — i.e. what the core
  dependencies pull in. Goal: at most MAX_PACKAGES.
- size: growth of the venv's site-packages on disk (allocated blocks, as `du` counts them; 1 MB = 10**6
  bytes) from the empty venv to after the install, moneypath itself included. Goal: at most MAX_MB.
  The per-package figures printed alongside are the files each distribution's RECORD lists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, free_port, stop_process, wait_for
from tests.docs_examples import code_block
from tests.support.clean_venv import INVENTORY, clean_env, normalize, run, source_copy

pytestmark = pytest.mark.integration

MAX_PACKAGES = 10  # besides moneypath, pip, setuptools, wheel
MAX_MB = 60.0
SEED_PACKAGES = {"pip", "setuptools", "wheel"}
# Tools, extras and test dependencies that the core (`moneypath.catalog`, `moneypath.instrument`) must not pull in.
NOT_IN_CORE = {
    "locust", "gevent", "matplotlib", "numpy", "sqlalchemy", "psycopg", "psycopg-binary", "flask", "pyzmq",
    "grafana-client", "grafana-foundation-sdk", "pytest", "fastapi", "starlette", "uvicorn", "httpx", "aiohttp",
    "rich", "opentelemetry-sdk",
}
SERVER_START_S = 60
EXAMPLE_PAGE = "docs/instrumenting.md"  # its first python example, under the page's title


# The team adopting moneypath is not the reference service: its own providers and currencies in its catalog
# (all built-in signals are still required until features can be switched off), its own API shape.
def team_catalog() -> str:
    """The shipped catalog with the team's providers (stripe, adyen) and currencies (USD, JPY, KWD)."""
    text = (ROOT / "moneypath.yaml").read_text()
    text = text.replace("  acme:\n    display_name: Acme Payments", "  stripe:\n    display_name: Stripe")
    text = text.replace("  globex:\n    display_name: Globex Pay", "  adyen:\n    display_name: Adyen")
    text = text.replace("currencies: [USD, EUR, GBP]", "currencies: [USD, JPY, KWD]")
    text = text.replace("    acme: {fixed_usd", "    stripe: {fixed_usd")
    text = text.replace("    globex: {fixed_usd", "    adyen: {fixed_usd")
    text = text.replace("value_held_up: {EUR: 50000, USD: 50000, GBP: 40000}", "value_held_up: {USD: 50000, JPY: 5000000}")
    text = text.replace("acme", "stripe").replace("globex", "adyen")  # the money path's provider nodes and edges
    assert "acme" not in text and "globex" not in text and "EUR" not in text, "the shipped catalog changed shape"
    return text


# What the example leaves to the reader: an adapter, a ledger, a fee, and a route that authorizes a payment.
# Appended after the docs' block, unchanged (the names are looked up when authorize() runs).
SERVICE_TAIL = textwrap.dedent("""

    # ---- added by tests/integration/instrument/test_footprint.py: the service around the docs' example ----
    from types import SimpleNamespace


    class _Adapter:
        async def authorize(self, payment):
            return SimpleNamespace(ok=True)


    adapter = _Adapter()
    ledger = SimpleNamespace(post=lambda result: None)
    fee_usd = 0.13


    @app.post("/charges")
    async def _charge_endpoint(provider: str, method: str = "card"):
        await authorize(SimpleNamespace(provider=provider, method=method))
        return {"authorized": True}
""")








def disk_bytes(directory: Path) -> int:
    total = 0
    for dirpath, _dirnames, filenames in os.walk(directory):
        for name in filenames:
            total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total




def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def test_core_footprint_and_instrumentation_example_next_to_newest_otel(tmp_path, capsys):
    started = time.monotonic()
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    site_packages = Path(run(python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    empty_bytes = disk_bytes(site_packages)

    # ---- the core: pip install moneypath, no extras --------------------------------------------------------
    run(python, "-m", "pip", "install", "--no-input", source_copy(tmp_path / "moneypath-src"))
    dists = json.loads(run(python, "-I", "-c", INVENTORY))
    installed = {normalize(name): info for name, info in dists.items()}
    assert "moneypath" in installed, f"moneypath is not installed in the new venv: {sorted(installed)}"
    pulled_in = {name: info for name, info in dists.items() if normalize(name) not in SEED_PACKAGES | {"moneypath"}}
    added_bytes = disk_bytes(site_packages) - empty_bytes

    with capsys.disabled():
        print(f"\ncore footprint: {len(pulled_in)} packages besides moneypath, {mb(added_bytes)} "
              f"(site-packages growth on disk; goals ≤ {MAX_PACKAGES} packages, ≤ {MAX_MB:.0f} MB)")
        for name, info in sorted(pulled_in.items(), key=lambda kv: -kv[1]["bytes"]) + [
                ("moneypath", dists[next(n for n in dists if normalize(n) == "moneypath")])]:
            print(f"  {name:<24} {info['version']:<12} {mb(info['bytes']):>9}")

    unwanted = sorted(NOT_IN_CORE & set(installed))
    assert not unwanted, f"the core install pulled in {unwanted}: they belong in an extra"
    assert len(pulled_in) <= MAX_PACKAGES, f"{len(pulled_in)} packages besides moneypath: {sorted(pulled_in)}"
    assert added_bytes <= MAX_MB * 1e6, f"the core install adds {mb(added_bytes)} (goal ≤ {MAX_MB:.0f} MB)"

    # ---- the core's own commands run; the others name their extra in one line -------------------------------
    moneypath = venv / "bin" / "moneypath"
    catalog = tmp_path / "moneypath.yaml"
    catalog.write_text(team_catalog())
    assert run(moneypath, "catalog", "check", "--catalog", catalog).startswith(f"{catalog}: OK")
    assert "moneypath_authorization_duration_seconds_bucket" in run(
        moneypath, "metrics", "sample", "--format", "text", "--payments", "5", "--catalog", catalog)
    refused = subprocess.run([str(moneypath), "build", "--check", "--catalog", str(catalog)], cwd=tmp_path,
                             env=clean_env(), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stdout == "", refused
    assert refused.stderr.startswith("moneypath build needs moneypath[tools]: pip install 'moneypath[tools]' ("), refused

    # ---- what a team's service already has: the newest OpenTelemetry SDK, FastAPI, uvicorn ---------------
    run(python, "-m", "pip", "install", "--no-input", "opentelemetry-sdk", "fastapi", "uvicorn")
    run(python, "-m", "pip", "check")
    versions = json.loads(run(python, "-I", "-c", INVENTORY))
    with capsys.disabled():
        print("  next to: " + ", ".join(
            f"{name} {versions[name]['version']}" for name in sorted(versions, key=normalize)
            if normalize(name) in {"opentelemetry-api", "opentelemetry-sdk", "fastapi", "starlette", "uvicorn"}))

    # ---- the docs' example, served by uvicorn -------------------------------------------------------------
    service = tmp_path / "service"
    service.mkdir()
    shutil.copy2(catalog, service)  # the example loads "moneypath.yaml" from the working dir
    (service / "app.py").write_text(code_block(EXAMPLE_PAGE, "Instrumenting a service") + SERVICE_TAIL)
    port = free_port()
    log_path = tmp_path / "service.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(python), "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            cwd=service, env=clean_env(), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            if server.poll() is not None:
                raise AssertionError(f"the service exited {server.returncode}:\n{log_path.read_text()}")
            try:
                return httpx.get(f"{base}/metrics", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, SERVER_START_S, "the docs' instrumentation example to serve /metrics")
        response = httpx.post(f"{base}/charges", params={"provider": "adyen", "method": "card"},
                              timeout=10)
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{log_path.read_text()}"
        scrape = httpx.get(f"{base}/metrics", timeout=10)
        assert scrape.status_code == 200
    finally:
        stop_process(server)

    counts = {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(scrape.text)
        if family.name == "moneypath_authorization_duration_seconds"
        for sample in family.samples if sample.name == "moneypath_authorization_duration_seconds_count"
    }
    assert counts, f"no moneypath_authorization_duration_seconds series in /metrics:\n{scrape.text[:2000]}"
    approved = (("method", "card"), ("outcome", "approved"), ("provider", "adyen"))
    assert counts.get(approved) == 1.0, f"authorization durations recorded: {counts}"
    with capsys.disabled():
        print(f"  docs example in a team service (stripe, adyen; USD, JPY, KWD; POST /charges): 1 authorization scraped "
              f"({time.monotonic() - started:.0f} s in all)")


# ---- each extra, and [all]: what a team's environment gets, and no distribution shadowing another ------------

EXTRAS = ("otel", "tools", "reference", "loadtest", "all")


def test_footprint_of_each_extra_and_no_shadowed_import_name_in_all(tmp_path, capsys):
    """`pip install moneypath[all]` (ranges, no constraints: the newest versions a team gets) in a clean venv;
    then, read from its site-packages with importlib.metadata: the distributions the core and each extra pull
    in (their requirement closure), their size (allocated bytes of the files each RECORD lists), and every
    installed distribution's import names, of which no two distributions may share one."""
    from tests.distributions import clashes, closure, disk_bytes, installed, project_requirements

    started = time.monotonic()
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    site_packages = run(python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    source = source_copy(tmp_path / "moneypath-src")
    run(python, "-m", "pip", "install", "--no-input", f"{source}[all]")
    run(python, "-m", "pip", "check")
    dists = installed([site_packages])
    assert "moneypath" in dists

    rows = []
    for label, extras in [("core", ()), *((f"[{e}]", (e,)) for e in EXTRAS)]:
        names, missing = closure(project_requirements(extras, source / "pyproject.toml"), dists)
        assert not missing, f"{label}: required but not installed: {missing}"
        rows.append((label, len(names), sum(disk_bytes(dists[n]) for n in names)))
    own = disk_bytes(dists["moneypath"])
    versions = {n: dists[n].version for n in ("opentelemetry-sdk", "prometheus-client", "fastapi", "locust")}

    found = clashes(dists.values())
    with capsys.disabled():
        print(f"\nfootprint per extra (clean venv, Python {sys.version.split()[0]}, newest versions within the ranges:"
              f" {', '.join(f'{k} {v}' for k, v in versions.items())}); moneypath itself {mb(own)}")
        print("| install | packages besides moneypath | MB on disk |")
        print("|---|---|---|")
        for label, count, size in rows:
            print(f"| `moneypath{'' if label == 'core' else label}` | {count} | {size / 1e6:.0f} |")
        print(f"  {len(dists)} distributions installed in all; shared import names: {found or 'none'} "
              f"({time.monotonic() - started:.0f} s)")
    assert not found, "distributions that install the same import name: " + "; ".join(
        f"{name} from {', '.join(owners)}" for name, owners in found.items())
    core, *_, everything = rows
    assert core[1] <= MAX_PACKAGES and everything[1] > core[1]
