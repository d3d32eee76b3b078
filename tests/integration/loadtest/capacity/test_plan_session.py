"""`moneypath capacity` end to end on a stack it starts itself: SQLite, and PostgreSQL with one and two processes."""

from __future__ import annotations

import json

import pytest

from moneypath import cli
from moneypath.stack import local as stack
from tests.conftest import SHIPPED_LOCUSTFILE
from tests.docs_examples import args_of, code_block, shell
from tests.integration.loadtest.helpers import only_report

pytestmark = pytest.mark.integration
# the last line of docs/load-tests.md's first example
*_, CAPACITY = (args_of(argv) for argv in shell(code_block("docs/load-tests.md", "Load tests", "sh")))


@pytest.mark.exclusive  # a saturation probe: never beside a drill
def test_capacity_on_a_stack_it_starts_itself(gate_catalog, tmp_path, capsys, monkeypatch):
    """No --host: `capacity` starts a stack (its Prometheus scrapes the Locust exporter from the
    start), steps the checkout mix up with two Locust workers, finds the knee, projects 1x/10x/100x and stops the
    stack; every step has its load generator's timeline (the workers' CPU per request)."""
    for name in ("MONEYPATH_TOKEN", "MONEYPATH_ADMIN_TOKEN", "MONEYPATH_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    state_dir = tmp_path / "state"
    assert CAPACITY[0] == "capacity"  # the page's line, its --current-rps 2 here
    code = cli.main([*CAPACITY, "--catalog", str(gate_catalog), "--locustfile", str(SHIPPED_LOCUSTFILE),
                     "--state-dir", str(state_dir), "--out",
                     str(tmp_path / "out"), "--start", "4", "--step", "8", "--max", "12", "--step-duration", "5",
                     "--current-rps", "2", "--workers", "2"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    report = only_report(tmp_path / "out")
    result = json.loads((report / "capacity.json").read_text())
    for step in result["steps"]:  # two workers, each one's CPU from its heartbeats
        assert step["generator"]["mode"] == "master" and len(step["generator"]["worker_cpu"]) == 2, step["generator"]
        assert not step["generator_bound"]
    assert result["generator"]["cores_per_rate"] > 0 and result["generator"]["bound"] == []
    assert [s["rate"] for s in result["steps"]] == [4, 12]
    assert all(s["locust_series"] for s in result["steps"]), "Prometheus did not scrape the Locust exporter"
    assert result["knee"]["rate"] == 12
    scales = [(p["scale"], p["instances"]) for p in result["projections"]]
    assert [s for s, _ in scales] == [1, 10, 100] and scales[0][1] <= scales[1][1] <= scales[2][1]
    assert (report / "capacity.png").stat().st_size > 0
    assert "knee: 12 requests/s" in out
    sat = result["saturation"]  # the closed-loop probe ran first, on the same stack, with CPU measured
    assert sat["closed_loop"] and sat["users"] >= 32 and sat["achieved_rps"] > result["steps"][-1]["achieved_rps"]
    assert sat["usage"]["cores"]["service"] > 0 and sat["usage"]["cores"]["locust"] > 0, sat["usage"]
    assert sat["usage"]["db_write_busy"] is not None and sat["limit_reason"]
    assert result["database"] == "sqlite" and len(result["usl"]["points"]) == 3
    assert "saturation (closed loop," in out and " left)" in out
    assert stack.load_state(state_dir / "loadtest") is None, "the stack it started is still recorded as running"


@pytest.mark.exclusive  # a saturation probe: never beside a drill
def test_capacity_measures_postgres_with_one_and_two_processes_beside_sqlite(gate_catalog, pg_url, tmp_path, capsys,
                                                                             monkeypatch):
    """--postgres: after the stack's SQLite run, the same service on a real PostgreSQL with 1 process (a
    saturation probe) and 2 processes (probe and steps); the plan shows both, each with its database."""
    for name in ("MONEYPATH_TOKEN", "MONEYPATH_ADMIN_TOKEN", "MONEYPATH_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    state_dir = tmp_path / "state"
    code = cli.main(["capacity", "--catalog", str(gate_catalog), "--locustfile", str(SHIPPED_LOCUSTFILE),
                     "--state-dir", str(state_dir), "--out",
                     str(tmp_path / "out"), "--start", "4", "--step", "8", "--max", "12", "--step-duration", "4",
                     "--current-rps", "2", "--saturation-users", "8", "--postgres", pg_url])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    result = json.loads((only_report(tmp_path / "out") / "capacity.json").read_text())
    assert result["database"] == "sqlite"
    cmp_ = result["compare"]
    assert cmp_["database"] == "postgresql" and cmp_["workers"] == 2
    assert cmp_["one"]["authorize_rps"] > 0 and cmp_["many"]["authorize_rps"] > 0
    assert cmp_["many"]["usage"]["cores"]["service"] > 0  # both worker processes counted under the service
    assert [s["rate"] for s in cmp_["steps"]] == [4, 12] and cmp_["knee"]["rate"] == 12
    assert cmp_["contention"] is not None and cmp_["contention"] >= 0
    assert [p["database"] for p in cmp_["projections"]] == ["postgresql"] * 3
    assert "beside it: postgresql, 2 service processes" in out
    for sub in ("loadtest", "loadtest-postgres"):
        assert stack.load_state(state_dir / sub) is None, f"the {sub} stack is still recorded as running"
