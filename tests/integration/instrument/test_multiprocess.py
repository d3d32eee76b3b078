"""Several worker processes: values add up across workers, stale files are wiped, dead
workers' gauges disappear, and a real uvicorn with 2 workers serves the sum."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from moneypath.instrument.exposition import prepare_multiprocess_dir
from tests.conftest import CATALOG_PATH, ROOT, free_port

HERE = "tests.integration.instrument"


def samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def env_for(tmp_path):
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "mp"),
            "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}  # these sources, not an installed copy


def collect(env, *dead_pids) -> dict:
    out = subprocess.run([sys.executable, "-m", f"{HERE}.mp_collect", *map(str, dead_pids)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return samples(out)


AUTH = ("moneypath_authorizations_total", (("method", "card"), ("outcome", "approved"), ("provider", "acme")))
AUTH_COUNT = ("moneypath_authorization_duration_seconds_count",
              (("method", "card"), ("outcome", "approved"), ("provider", "acme")))


def test_counts_from_several_workers_add_up_and_stale_files_are_wiped(tmp_path):
    env = env_for(tmp_path)
    prepare_multiprocess_dir(env["PROMETHEUS_MULTIPROC_DIR"])
    for count in (30, 12):
        subprocess.run([sys.executable, "-m", f"{HERE}.mp_worker", str(CATALOG_PATH), "acme", str(count), "closed"],
                       env=env, cwd=ROOT, check=True, timeout=60, capture_output=True)
    got = collect(env)
    assert got[AUTH] == 42 and got[AUTH_COUNT] == 42

    prepare_multiprocess_dir(env["PROMETHEUS_MULTIPROC_DIR"])  # a restart: nothing left behind
    assert not [n for n in os.listdir(env["PROMETHEUS_MULTIPROC_DIR"]) if n.endswith(".db")]
    assert AUTH not in collect(env)


def test_circuit_state_is_the_worst_live_worker_and_dead_workers_drop_out(tmp_path):
    env = env_for(tmp_path)
    prepare_multiprocess_dir(env["PROMETHEUS_MULTIPROC_DIR"])
    workers = []
    try:
        for state in ("closed", "open"):
            p = subprocess.Popen([sys.executable, "-m", f"{HERE}.mp_worker", str(CATALOG_PATH), "acme", "1", state,
                                  "wait"], env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            workers.append(p)
            assert p.stdout.readline().strip() == "recorded"
        circuit = ("moneypath_provider_circuit_state", (("provider", "acme"),))
        assert collect(env)[circuit] == 2  # one worker sees the provider's circuit open
        opened = workers[1]
        opened.communicate("\n", timeout=30)
        assert collect(env, opened.pid)[circuit] == 0  # only the live, closed worker counts now
    finally:
        for p in workers:
            if p.poll() is None:
                p.communicate("\n", timeout=30)


def test_uvicorn_with_two_workers_serves_the_sum_of_both(tmp_path):
    env = {**env_for(tmp_path), "MONEYPATH_CATALOG": str(CATALOG_PATH)}
    prepare_multiprocess_dir(env["PROMETHEUS_MULTIPROC_DIR"])
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", f"{HERE}.mp_app:app", "--workers", "2", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/metrics", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.2)
        pids, sent = set(), 0
        while len(pids) < 2 and sent < 2000:
            with httpx.Client(base_url=base, timeout=5) as client:  # a fresh connection each round
                pids.add(client.post("/v1/payments/authorize").text)
            sent += 1
        assert len(pids) == 2, "one worker served every request"
        metrics = samples(httpx.get(f"{base}/metrics", timeout=10).text)
        assert metrics[AUTH] == sent
        route = ("moneypath_http_requests_total",
                 (("method", "POST"), ("route", "/v1/payments/authorize"), ("status_class", "2xx")))
        assert metrics[route] == sent
    finally:
        server.terminate()
        server.wait(timeout=30)
