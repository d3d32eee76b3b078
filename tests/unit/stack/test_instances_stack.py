"""Several instances of the reference service on one database, without starting any: `moneypath up --instances N`
writes N service commands (own ports, one database, the once-per-database jobs on instance 0 only) and N scrape
targets; drills and load tests spread their traffic over the instances. tests/integration/drills/test_instances_drill.py
runs a drill on two for real."""

from __future__ import annotations

import itertools
import time

import httpx
import pytest
import yaml

from moneypath import cli
from moneypath.drills.baseline_load import Load, Mix
from moneypath.formats import scenarios
from moneypath.loadtest.command import locust_processes, locust_run, targets
from moneypath.loadtest.in_locust import client
from moneypath.reference.refservice.config import ServiceConfig
from moneypath.stack import local as stack
from moneypath.stack import processes, status
from moneypath.stack.state import LEDGER_DB
from tests.conftest import CATALOG_PATH, SHIPPED_LOCUSTFILE, SHIPPED_SCENARIOS


class FakeProcess:
    pids = itertools.count(10**7)  # no such process: nothing here can signal a real one

    def __init__(self, argv, env, **_kwargs):
        self.argv, self.env, self.pid = argv, env, next(self.pids)


@pytest.fixture
def started(monkeypatch):
    procs: list[FakeProcess] = []
    monkeypatch.setattr(stack.subprocess, "Popen", lambda argv, env, **kw: procs.append(FakeProcess(argv, env, **kw))
                        or procs[-1])
    monkeypatch.setattr(processes, "healthy", lambda part: True)
    return procs


def test_up_runs_n_instances_on_one_database_each_its_own_target(catalog, tmp_path, started, monkeypatch):
    spec = stack.StackSpec(fast=True, services=True, instances=3, db_url="postgresql+psycopg://ledger@127.0.0.1:5/ledger")
    state = stack.up(catalog, tmp_path, spec, progress=lambda *_: None)
    services = {p.argv[p.argv.index("--port") + 1]: p.env for p in started if "moneypath.reference.refservice" in p.argv}
    metrics = [p.argv[p.argv.index("--metrics-port") + 1] for p in started if "moneypath.reference.refservice" in p.argv]
    assert len(services) == 3 and len(set(metrics) | set(services)) == 6
    assert {env["MONEYPATH_DB_URL"] for env in services.values()} == {"postgresql+psycopg://ledger@127.0.0.1:5/ledger"}
    assert [env.get("MONEYPATH_SINGLETON_JOBS", "on") for env in services.values()] == ["on", "off", "off"]
    urls = state.service_urls()
    assert [p.name for p in state.parts if p.url in urls] == ["refservice", "refservice-1", "refservice-2"]
    assert urls == [f"http://127.0.0.1:{port}" for port in services]
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    scraped = {t for job in config["scrape_configs"] for g in job.get("static_configs", []) for t in g["targets"]}
    # each scraped on its metrics port (served off its event loop), not its API port
    assert {f"127.0.0.1:{port}" for port in metrics} == scraped
    # status names each instance and the one that runs the once-per-database jobs
    monkeypatch.setattr(processes, "alive", lambda pid: True)
    monkeypatch.setattr(status, "_targets_summary", lambda url: "")
    monkeypatch.setattr(status, "_watchdog_summary", lambda url: "")
    details = {name: detail for name, _, _, detail in stack.status(tmp_path)}
    assert (", instance 0 of 3 on one postgresql+psycopg database (runs the once-per-database jobs)"
            in details["refservice"])
    assert details["refservice-2"].endswith(", instance 2 of 3 on one postgresql+psycopg database")


def test_one_instance_is_the_stack_as_before(catalog, tmp_path, started):
    state = stack.up(catalog, tmp_path, stack.StackSpec(fast=True, services=True), progress=lambda *_: None)
    assert [p.name for p in state.parts if p.name.startswith("refservice")] == ["refservice"]
    assert state.db_url == f"sqlite:///{tmp_path.resolve() / LEDGER_DB}"
    assert "MONEYPATH_SINGLETON_JOBS" not in next(p.env for p in started if "moneypath.reference.refservice" in p.argv)


@pytest.mark.parametrize("n", [0, 17])
def test_a_count_out_of_range_is_one_line(catalog, tmp_path, started, capsys, n):
    assert cli.main(["up", "--instances", str(n), "--catalog", str(CATALOG_PATH), "--state-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"moneypath: --instances {n} must be between 1 and 16\n"
    assert started == []


def test_the_once_per_database_jobs_are_switched_by_the_environment():
    env = {"MONEYPATH_TOKEN_SECRET": "s"}
    assert ServiceConfig.from_env(env).singleton_jobs is True
    assert ServiceConfig.from_env({**env, "MONEYPATH_SINGLETON_JOBS": "off"}).singleton_jobs is False
    with pytest.raises(SystemExit, match="MONEYPATH_SINGLETON_JOBS='no' must be on or off"):
        ServiceConfig.from_env({**env, "MONEYPATH_SINGLETON_JOBS": "no"})


# ---------------------------------------------------------------- traffic spread over the instances


def test_a_drills_payments_go_to_the_instances_in_turn(monkeypatch):
    sent: list[str] = []

    async def payment(self, http: httpx.AsyncClient, i: int) -> None:
        sent.append(str(http.base_url).rstrip("/"))

    monkeypatch.setattr(Load, "_payment", payment)
    mix = Mix({"a": 1}, {"EUR": 1}, {"card": 1}, 100, 200, 0.5)
    load = Load(["http://127.0.0.1:1", "http://127.0.0.1:2/"], {}, None, mix, rate=200, major=str)  # no request sent
    load.start()
    deadline = time.monotonic() + 5
    while len(sent) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    load.stop()
    assert sent[:6] == ["http://127.0.0.1:1", "http://127.0.0.1:2"] * 3


def test_loadtest_instances_reach_the_stack_and_each_user_gets_a_host_of_its_own(tmp_path, monkeypatch):
    asked, runs = [], []
    monkeypatch.setenv("MONEYPATH_INSTANCES", "3")  # the stack's shape: the environment or moneypath.run.yaml

    def start_stack(c, state_dir, exporter_port, progress, instances=1):
        asked.append(instances)
        return locust_run.LoadTarget("http://127.0.0.1:1", None, None, "tok", "adm", owned=True,
                             instances=tuple(f"http://127.0.0.1:{p}" for p in range(2, instances + 1)))

    monkeypatch.setattr(targets, "start_stack", start_stack)
    monkeypatch.setattr(targets, "running_stack", lambda state_dir: None)
    monkeypatch.setattr("moneypath.loadtest.command.targets.close_target", lambda target: None)
    monkeypatch.setattr(locust_run, "run", lambda c, spec, target, *a, **k: runs.append((spec, target)) or
                        pytest.fail("stop here"))
    with pytest.raises(pytest.fail.Exception):
        cli.main(["loadtest", "checkout", "--no-prometheus", "--catalog", str(CATALOG_PATH),
                  "--state-dir", str(tmp_path / "state"), "--out", str(tmp_path / "out")])
    assert asked == [3]
    ((spec, target),) = runs
    _, env = locust_processes.locust_invocation(spec, target, tmp_path, 9, locust_processes.LocustLoad(
        8.0, 8, 5.0, SHIPPED_SCENARIOS, SHIPPED_LOCUSTFILE))
    assert env["MONEYPATH_HOSTS"] == "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3"
    sfile = scenarios.load(SHIPPED_SCENARIOS)
    settings = client.LoadSettings(sfile, sfile.get("checkout"), 10, 10, 60, "tok",
                                   hosts=tuple(env["MONEYPATH_HOSTS"].split(",")))
    assert [settings.host_of(i) for i in range(4)] == ["http://127.0.0.1:1", "http://127.0.0.1:2",
                                                       "http://127.0.0.1:3", "http://127.0.0.1:1"]
    assert client.LoadSettings(sfile, sfile.get("checkout"), 10, 10, 60, "tok").host_of(0) is None


def test_loadtest_instances_with_a_given_host_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MONEYPATH_INSTANCES", "2")  # the stack's shape: the environment or moneypath.run.yaml
    assert cli.main(["loadtest", "checkout", "--host", "http://127.0.0.1:9", "--no-prometheus",
                     "--catalog", str(CATALOG_PATH), "--state-dir", str(tmp_path / "state")]) == 2
    assert capsys.readouterr().err.startswith("moneypath: stack.instances ($MONEYPATH_INSTANCES) starts a stack of "
                                              "that many instances")


@pytest.mark.parametrize(("args", "why"), [
    (["--postgres", "--db-url", "sqlite:///x.db"], "not with --db-url, --target or --no-services"),
    (["--postgres", "--no-services"], "not with --db-url, --target or --no-services"),
])
def test_postgres_goes_with_the_reference_service_alone(tmp_path, started, capsys, args, why):
    assert cli.main(["up", *args, "--catalog", str(CATALOG_PATH), "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("moneypath: --postgres starts the reference service's database") and why in err
    assert len(err.splitlines()) == 1 and started == []


def test_a_service_fault_is_set_and_cleared_on_every_instance(catalog):
    """Each instance takes its share of the drill's payments, so a fault inside the service goes to all of them."""
    from types import SimpleNamespace

    from moneypath.drills.endpoints import Target
    from moneypath.drills.fault_switch import FaultSwitch

    calls = []

    class Http:
        def put(self, url, json, headers):
            calls.append(("PUT", url))
            return SimpleNamespace(status_code=200)

        def delete(self, url, params, headers):
            calls.append(("DELETE", url))
            return SimpleNamespace(status_code=200)

    fault = SimpleNamespace(where="service", name="ledger_write_failure", params={"rate": 0.5}, duration="2m",
                            target=None, halt_when=[], cap=None)
    ctx = SimpleNamespace(drill=SimpleNamespace(fault=fault, load=SimpleNamespace(peak=None)), catalog=catalog,
                          s=lambda d: 120.0, http=Http(), admin_headers=dict, clock=time.monotonic,
                          event=lambda *a, **k: None, load=None,
                          target=Target("http://127.0.0.1:1", "http://127.0.0.1:9", instances=("http://127.0.0.1:2",)))
    switch = FaultSwitch.__new__(FaultSwitch)  # the record is the journal's business
    switch.ctx, switch.active, switch.end, switch.record = ctx, False, None, SimpleNamespace()
    switch.inject()
    assert switch.clear("mitigation")
    url = "http://127.0.0.1:{}/admin/faults/ledger_write_failure"
    assert calls == [("PUT", url.format(1)), ("PUT", url.format(2)), ("DELETE", url.format(1)),
                     ("DELETE", url.format(2))]


def test_a_part_that_exits_at_start_is_reported_with_its_last_line(tmp_path):
    log = tmp_path / "refservice.log"
    log.write_text("Traceback...\n\nmoneypath refservice: cannot open the ledger database sqlite:///x: unable to open\n\n")
    assert processes.last_line(str(log)) == ("moneypath refservice: cannot open the ledger database sqlite:///x: "
                                             "unable to open")
    assert processes.last_line(str(tmp_path / "none.log")) == "no log"


def test_a_load_tests_stack_scrapes_every_second_and_evaluates_the_rules_as_production_does(catalog, tmp_path,
                                                                                              started, monkeypatch):
    monkeypatch.setattr(targets, "_mint", lambda secret, lifetime: ("token", "admin"))
    targets.start_stack(catalog, tmp_path / "stack", exporter_port=9)
    config = yaml.safe_load((tmp_path / "stack" / "prometheus.yml").read_text())
    # every second the 1d/3d/30d SLO windows would re-read all the run's samples: a cost growing with the run
    assert config["global"] == {**config["global"], "scrape_interval": "1s", "evaluation_interval": targets.RULES_EVERY}
    assert targets.RULES_EVERY == "15s"
    assert stack.load_state((tmp_path / "stack").resolve()).evaluation_interval == "15s"


def test_a_drills_stack_evaluates_the_rules_as_often_as_it_scrapes(catalog, tmp_path, started):
    stack.up(catalog, tmp_path, stack.StackSpec(fast=True, services=True), progress=lambda *_: None)
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == config["global"]["evaluation_interval"] == "1s"


def test_a_foreign_services_load_test_stack_evaluates_its_rules_every_15_s_too(foreign, tmp_path, started, monkeypatch):
    monkeypatch.setattr(targets, "_mint", lambda secret, lifetime: ("token", "admin"))
    targets.start_stack(foreign, tmp_path / "stack", exporter_port=9)
    config = yaml.safe_load((tmp_path / "stack" / "prometheus.yml").read_text())
    assert (config["global"]["scrape_interval"], config["global"]["evaluation_interval"]) == ("1s", "15s")
    assert config["global"]["external_labels"]["service"] == foreign.service != "payments"
