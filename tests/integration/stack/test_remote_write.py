"""Scale-out for real: the stack's Prometheus remote-writes into a VictoriaMetrics server,
and the recorded SLI series read back from it."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

from moneypath.stack import local as stack
from tests.conftest import free_port, http_ok, wait_for


@pytest.fixture
def victoria(tmp_path):
    exe = shutil.which("victoria-metrics")
    assert exe, "victoria-metrics missing: `make test` installs the Debian package victoria-metrics"
    port = free_port()
    log = (tmp_path / "vm.log").open("wb")
    proc = subprocess.Popen([exe, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={tmp_path / 'vm-data'}",
                             "-retentionPeriod=1d", "-search.latencyOffset=0s"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(f"{url}/health"), 30, "VictoriaMetrics to start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_recorded_sli_series_arrive_in_victoriametrics(catalog, service, victoria, tmp_path):  # noqa: F811
    state_dir = tmp_path / "stack"
    stack.up(catalog, state_dir, stack.StackSpec([service[0]], fast=True, remote_write=[f"{victoria}/api/v1/write"]),
             progress=lambda *_: None)
    try:
        # The service authorizes but writes no ledger entries: ledger-durability's ratio is 0/0 (NaN),
        # which VictoriaMetrics treats as no data. The authorization SLOs must arrive.
        expected = {"authorization-availability", "authorization-latency"}

        def slos_in_victoria():
            r = httpx.get(f"{victoria}/api/v1/query", params={"query": "slo:sli_error:ratio_rate5m"}, timeout=5)
            return {s["metric"].get("slo") for s in r.json()["data"]["result"]} >= expected and r.json()

        found = wait_for(slos_in_victoria, 60, "SLI series in VictoriaMetrics", interval_s=1)
        series = {s["metric"]["slo"]: float(s["value"][1]) for s in found["data"]["result"]}
        assert series["authorization-availability"] == 0  # every authorization in the service is approved
        raw = httpx.get(f"{victoria}/api/v1/query", params={"query": f"sum({catalog.metric('authorizations_total')})"},
                        timeout=5).json()["data"]["result"]
        assert raw and float(raw[0]["value"][1]) > 0
        assert {s["metric"]["service"] for s in found["data"]["result"]} == {catalog.service}  # external label
    finally:
        stack.down(state_dir, progress=lambda *_: None)
