"""Workers on hosts of their own: each `moneypath loadtest-worker` runs in a network namespace the test made (a veth
pair on a bridge of the test's own, tests/support/netns.py), where 127.0.0.1 is the namespace's own loopback. The
master binds the bridge's address and the reference service listens there too, so the workers reach both over an
address that is not loopback, as on other machines. The namespaces and the bridge are removed afterwards."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from moneypath import cli
from tests.conftest import CATALOG_PATH, ROOT, SHIPPED_LOCUSTFILE, free_port, http_ok, stop_process, wait_for
from tests.integration.loadtest.helpers import SECRET, only_report
from tests.support import netns

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(netns.unavailable() is not None, reason=str(netns.unavailable()))]
MONEYPATH = str(Path(sys.executable).parent / "moneypath")
RATE, SECONDS = 20, 10


@contextlib.contextmanager
def service_on(address: str, sim: str, tmp: Path):
    """A reference service of its own on `address` (the module's simulator behind it), stopped afterwards."""
    port = free_port()
    env = {**os.environ, "MONEYPATH_TOKEN_SECRET": SECRET, "MONEYPATH_WEBHOOK_SECRET": "hooks",
           "MONEYPATH_CATALOG": str(CATALOG_PATH), "MONEYPATH_DB_URL": f"sqlite:///{tmp / 'ledger.db'}",
           "MONEYPATH_PROVIDER_URL": sim, "MONEYPATH_SETTLEMENT_DIR": str(tmp / "settlements")}
    with (tmp / "service.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "moneypath.reference.refservice", "--host", address, "--port",
                                 str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: http_ok(f"http://{address}:{port}/healthz"), 30, "the service on the bridge")
        yield f"http://{address}:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_workers_in_namespaces_of_their_own_reach_the_master_over_the_bridge(money_path, secret_env, tmp_path):
    started = time.monotonic()
    with netns.hosts(2) as hosts, service_on(hosts.address, money_path["sim"], tmp_path) as service:
        master = f"{hosts.address}:{free_port()}"
        workers = [subprocess.Popen(hosts.run(i, [MONEYPATH, "loadtest-worker", "--master", master,
                                                  "--locustfile", str(SHIPPED_LOCUSTFILE), "--wait-master", "60"]),
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                   for i in range(2)]
        try:
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout):
                code = cli.main(["loadtest", "checkout", "--rate", str(RATE), "--duration", str(SECONDS),
                                 "--workers", "2", "--bind", master, "--wait-workers", "60", "--catalog",
                                 str(money_path["catalog"]), "--locustfile", str(SHIPPED_LOCUSTFILE), "--host",
                                 service, "--no-prometheus", "--out", str(tmp_path / "out")])
            said = [w.communicate(timeout=60)[0] for w in workers]
        finally:
            for w in workers:
                stop_process(w)
    assert netns.leftovers() == [], "a namespace was left behind"
    out = stdout.getvalue()
    print(f"\nworkers in namespaces: {time.monotonic() - started:.1f} s")
    assert [w.returncode for w in workers] == [0, 0], said
    for text in said:
        assert f"connected to the master {master}" in text and "the run ended" in text, text
    report = only_report(tmp_path / "out")
    result = json.loads((report / "result.json").read_text())
    roll = json.loads((report / "locust" / "locust_admission.json").read_text())
    assert result["workers"] == 2 and len(roll["admitted"]) == 2 and not roll["refused"], roll
    assert result["locust"]["requests"] >= 0.8 * RATE * SECONDS, out  # both carried the run, nothing on loopback
    assert code in (0, 1, 3) and result["verdict"] in ("pass", "fail", "not measured"), out
