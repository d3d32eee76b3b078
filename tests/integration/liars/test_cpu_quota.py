"""The liar: a load-test worker held by a real CPU quota. A cgroup is made under /sys/fs/cgroup (v2 cpu.max, or v1
cpu.cfs_quota_us where the cpu controller is v1's) allowing 4 % of a core; the `moneypath loadtest-worker` and its
Locust child are moved into it once their users have spawned. Its CPU then reads a few % of a core, which looked
idle; the run must name the generator as short of CPU, with the quota line, never pass on the rate it could send
(moneypath.loadtest.command.generator_bound, cpu_quota). The cgroup is removed after."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from moneypath.protocol.tokens import issue
from tests.conftest import SHIPPED_LOCUSTFILE, free_port
from tests.integration.loadtest.conftest import gate_catalog, money_path  # noqa: F401 - the module's service
from tests.integration.loadtest.helpers import SECRET, only_report
from tests.integration.loadtest.test_worker_kill import alive, descendants, moneypath, wait_until

pytestmark = pytest.mark.integration
ROOT = Path("/sys/fs/cgroup")
QUOTA_US, PERIOD_US = 4000, 100000  # 4 % of a core, once the users have spawned


def make_cgroup(name: str) -> tuple[Path, str]:
    """(the new cgroup's directory, the quota's words as cpu_quota writes them); skip where none can be made."""
    if "cpu" in (ROOT / "cgroup.controllers").read_text(errors="replace").split() if (
            ROOT / "cgroup.controllers").exists() else False:
        d = ROOT / name
        d.mkdir()
        (d / "cpu.max").write_text(f"{QUOTA_US} {PERIOD_US}")
        return d, f"cgroup v2 cpu.max {QUOTA_US} {PERIOD_US} ({d})"
    for v1 in ("cpu,cpuacct", "cpu"):
        if (ROOT / v1 / "cpu.cfs_quota_us").exists():
            d = ROOT / v1 / name
            try:
                d.mkdir()
            except OSError as exc:
                pytest.skip(f"no cgroup can be made here ({exc})")
            (d / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (d / "cpu.cfs_quota_us").write_text(str(QUOTA_US))
            return d, f"cgroup v1 cpu.cfs_quota_us {QUOTA_US} / cpu.cfs_period_us {PERIOD_US} ({d})"
    pytest.skip("no cgroup cpu controller here")


@pytest.fixture
def cgroup():
    d, text = make_cgroup(f"moneypath-test-{os.getpid()}-{time.monotonic_ns()}")
    try:
        yield d, text
    finally:
        parent = d.parent / "cgroup.procs"
        for pid in (d / "cgroup.procs").read_text().split():  # what is left goes back to the parent
            try:
                parent.write_text(pid)
            except OSError:
                pass
        wait_until(lambda: not (d / "cgroup.procs").read_text().split(), 10, "empty cgroup")
        d.rmdir()


def test_a_worker_under_a_cpu_quota_is_named_short_of_cpu_with_its_quota(cgroup, tmp_path, request):
    mp = request.getfixturevalue("money_path")  # the load-test modules' service (imported above)
    d, quota_text = cgroup
    token = issue(SECRET.encode(), "loadtest", ["payments:write", "payments:read"], ttl_s=600)
    address = f"127.0.0.1:{free_port()}"
    out = tmp_path / "out"
    master = moneypath(["loadtest", "checkout", "--rate", "30", "--duration", "15", "--workers", "1", "--bind", address,
                        "--catalog", str(mp["catalog"]), "--locustfile", str(SHIPPED_LOCUSTFILE),
                        "--host", mp["host"], "--no-prometheus", "--out", str(out)],
                       tmp_path / "master.log", {"MONEYPATH_TOKEN": token})
    worker = moneypath(["loadtest-worker", "--master", address, "--locustfile", str(SHIPPED_LOCUSTFILE), "--catalog",
                        str(mp["catalog"])], tmp_path / "worker.log", {})
    started: dict[int, str] = {}
    try:
        wait_until(lambda: "users   30" in (tmp_path / "master.log").read_text(), 60, "the users spawned")
        started = {worker.pid: "", **descendants(worker.pid)}
        for pid in started:  # the worker command and its Locust child
            (d / "cgroup.procs").write_text(str(pid))
        code = master.wait(timeout=120)
        worker.wait(timeout=30)
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        for pid in alive({k: v for k, v in descendants(master.pid).items()}):
            os.kill(pid, signal.SIGKILL)
    log = (tmp_path / "master.log").read_text()
    result = json.loads((only_report(out) / "result.json").read_text())
    lg = result["load_generator"]
    print(f"load generator: {json.dumps(lg['causes'])}; achieved share {lg['achieved_share']}")
    [cause] = [c for c in lg["causes"] if c["kind"] == "cpu"]
    assert cause["figures"]["quota"] == quota_text and cause["figures"]["quota_cores"] == QUOTA_US / PERIOD_US
    line = next(x for x in log.splitlines() if x.startswith("load generator: the load generator was the bottleneck"))
    print(line)
    assert f"of its CPU quota of 4 % of a core ({quota_text})" in line and "short of CPU" in line, line
    assert result["verdict"] != "pass" and code != 0, log
