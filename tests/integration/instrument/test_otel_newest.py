"""`moneypath[otel]` next to the newest OpenTelemetry SDK a team already has: a clean venv installs the newest
opentelemetry-sdk and OTLP/HTTP exporter first, then moneypath[otel] from a copy of this working tree; pip
must leave every OpenTelemetry version as it was, and `backend="otel"` must deliver its in-process histograms
(buckets, count, trace exemplar) over OTLP/HTTP to a receiver on 127.0.0.1 in this test; then the unit tier's
OTLP-vs-Prometheus comparison runs in that venv, against the installed copy and the newest SDK.

Needs PyPI (or the machine's configured index): skipped with the reason when it cannot be reached.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import CATALOG_PATH, ROOT
from tests.docs_examples import code_block
from tests.otlp_receiver import Receiver
from tests.support.clean_venv import INVENTORY, clean_env, normalize, run, source_copy

pytestmark = pytest.mark.integration

INDEX_TIMEOUT_S = 120
SCRIPT_TIMEOUT_S = 120
PYTEST_TIMEOUT_S = 300

# Runs inside the new venv: the library as a team's service would use it, exporting to the test's receiver
# (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) as docs/instrumenting.md's example, read from the page, sets it up.
EXAMPLE = code_block("docs/instrumenting.md", "OpenTelemetry instead of /metrics")
SERVICE = textwrap.dedent("""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
    from moneypath.instrument import MoneyPath
""") + EXAMPLE + textwrap.dedent("""
    span = NonRecordingSpan(SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=False,
                                        trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    with trace.use_span(span):
        mp.record_authorization("acme", "card", "approved", 0.12)
    mp.record_authorization("acme", "card", "approved", 0.04)
    mp.backend.shutdown()
    print(mp.backend.histograms, mp.backend.histograms_reason)
""")


def otel_versions(python) -> dict[str, str]:
    dists = json.loads(run(python, "-I", "-c", INVENTORY))
    return {normalize(name): info["version"] for name, info in dists.items() if normalize(name).startswith("opentelemetry")}


def test_otel_extra_keeps_the_newest_sdk_and_exports_through_it(tmp_path, capsys, catalog):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    index = subprocess.run([str(python), "-m", "pip", "index", "versions", "opentelemetry-sdk"], env=clean_env(),
                           capture_output=True, text=True, timeout=INDEX_TIMEOUT_S)
    newest = re.match(r"opentelemetry-sdk \(([^)]+)\)", index.stdout)
    if index.returncode != 0 or newest is None:
        pytest.skip(f"the package index is unreachable (pip index versions opentelemetry-sdk exited "
                    f"{index.returncode}: {(index.stderr or index.stdout).strip()[-200:]})")
    newest = newest.group(1)

    # ---- what the team has: the newest SDK and exporter, installed first -----------------------------------
    run(python, "-m", "pip", "install", "--no-input", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http")
    before = otel_versions(python)
    assert before["opentelemetry-sdk"] == newest, f"pip installed {before['opentelemetry-sdk']}, newest is {newest}"

    # ---- then moneypath[otel]: nothing of theirs moves ------------------------------------------------------
    source = source_copy(tmp_path / "moneypath-src")
    run(python, "-m", "pip", "install", "--no-input", f"{source}[otel]")
    run(python, "-m", "pip", "check")
    after = otel_versions(python)
    changed = {name: (before[name], after.get(name)) for name in before if after.get(name) != before[name]}
    assert not changed, f"installing moneypath[otel] changed the team's OpenTelemetry versions: {changed}"

    # ---- and it works there: OTLP/HTTP to a receiver on loopback -------------------------------------------
    catalog_path = tmp_path / "moneypath.yaml"
    shutil.copy2(CATALOG_PATH, catalog_path)
    with Receiver() as receiver:
        out = run(python, "-c", SERVICE, cwd=tmp_path, timeout=SCRIPT_TIMEOUT_S,  # catalog_path: moneypath.yaml there
                  env={"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": receiver.endpoint})
    assert out.split()[0] == "aggregated", out
    assert len(receiver.requests) == 1
    metrics = {m.name: m for rm in receiver.requests[0][2].resource_metrics for sm in rm.scope_metrics
               for m in sm.metrics}
    signal = catalog.signals["authorization_duration_seconds"]
    histogram = metrics["moneypath_authorization_duration"]
    assert histogram.unit == "s"
    (point,) = histogram.histogram.data_points
    assert list(point.explicit_bounds) == signal.buckets and point.count == 2 and point.sum == pytest.approx(0.16)
    assert point.bucket_counts[signal.buckets.index(0.05)] == 1 and point.bucket_counts[signal.buckets.index(0.2)] == 1
    assert [(e.trace_id.hex(), e.as_double) for e in point.exemplars] == [("0af7651916cd43dd8448eb211c80319c", 0.12)]
    assert metrics["moneypath_authorizations"].sum.is_monotonic

    # ---- the full OTLP-vs-Prometheus comparison (tests/unit/instrument/test_otel_otlp.py) against the installed copy ----
    run(python, "-m", "pip", "install", "--no-input", "pytest", "httpx")
    compared = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/unit/instrument/test_otel_otlp.py"],
                              cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=PYTEST_TIMEOUT_S)
    assert compared.returncode == 0, compared.stdout[-3000:] + compared.stderr[-2000:]
    assert re.search(r"\b2 passed\b", compared.stdout), compared.stdout[-500:]
    with capsys.disabled():
        print(f"\nmoneypath[otel] next to the newest SDK: {', '.join(f'{k} {v}' for k, v in sorted(after.items()))};"
              f" histograms {out.strip()}")
