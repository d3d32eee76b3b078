"""Worker admission without Locust: what a worker must share with its master (moneypath.loadtest.in_locust.worker_identity),
the files through which the master and a worker say who joined (moneypath.loadtest.in_locust.worker_roll), and what
`--bind` gives the master's command line. The gate itself runs in tests/integration/loadtest/test_distributed.py."""

from __future__ import annotations

import pytest

from moneypath.loadtest.command import locust_processes
from moneypath.loadtest.command.run_types import LoadTarget, LoadTestSpec
from moneypath.loadtest.in_locust import worker_identity as wi
from moneypath.loadtest.in_locust import worker_roll
from tests.conftest import SHIPPED_LOCUSTFILE, SHIPPED_SCENARIOS

MASTER = wi.Identity("2.47.0", "a" * 64, "b" * 64, "c" * 64)


def test_a_worker_with_the_masters_identity_is_admitted():
    assert wi.refusal(MASTER, wi.Identity(**MASTER.to_dict())) is None


@pytest.mark.parametrize(("field", "line"), [
    ("scenario_file", "its scenario file differs from the master's (scenario file: sha256 cccccccccccc on the master, "
                      "sha256 dddddddddddd on the worker)"),
    ("locustfile", "its locustfile differs from the master's (locustfile: sha256 bbbbbbbbbbbb on the master, "
                   "sha256 dddddddddddd on the worker)"),
    ("harness", "its moneypath harness differs from the master's (moneypath harness: sha256 aaaaaaaaaaaa on the "
                "master, sha256 dddddddddddd on the worker)"),
])
def test_each_file_that_differs_is_named_with_both_digests(field, line):
    worker = wi.Identity(**{**MASTER.to_dict(), field: "d" * 64})
    assert wi.refusal(MASTER, worker) == line


def test_another_locust_version_is_named_with_both_versions_and_several_differences_in_one_line():
    worker = wi.Identity("2.31.8", MASTER.harness, MASTER.locustfile, "e" * 64)
    assert wi.refusal(MASTER, worker) == (
        "its Locust version and scenario file differ from the master's (Locust version: 2.47.0 on the master, 2.31.8 "
        "on the worker; scenario file: sha256 cccccccccccc on the master, sha256 eeeeeeeeeeee on the worker)")


@pytest.mark.parametrize("sent", [None, "2.47.0", {"locust": "2.47.0"}, {**MASTER.to_dict(), "harness": 1}])
def test_a_worker_that_sends_no_identity_is_refused(sent):
    assert wi.Identity.read(sent) is None
    assert wi.refusal(MASTER, wi.Identity.read(sent)).startswith("it sent no moneypath identity")


def test_a_file_digest_follows_its_bytes_not_its_path(tmp_path):
    one, two = tmp_path / "a" / "scenarios.yaml", tmp_path / "b" / "scenarios.yaml"
    for path in (one, two):
        path.parent.mkdir()
        path.write_bytes(SHIPPED_SCENARIOS.read_bytes())
    ours = wi.identity("2.47.0", [SHIPPED_LOCUSTFILE], one)
    assert ours == wi.identity("2.47.0", [SHIPPED_LOCUSTFILE], two)
    two.write_bytes(two.read_bytes() + b"\n")
    assert wi.differences(ours, wi.identity("2.47.0", [SHIPPED_LOCUSTFILE], two)) == [
        ("scenario file", f"sha256 {ours.scenario_file[:12]}",
         f"sha256 {wi.digest([two])[:12]}")]


def test_a_master_that_gave_up_says_how_many_joined_and_where_it_listens():
    roll = {"listens": "10.0.0.10:5557", "expected": 2, "admitted": [{"worker": "w1", "at": 1.0}],
            "refused": [], "test_started_at": None}
    assert worker_roll.timeout_line(roll, 120, "10.0.0.10:5557") == (
        "1 of 2 workers joined within 120 s; the master listens on 10.0.0.10:5557")
    roll["refused"] = [{"worker": "w2", "why": "its scenario file differs", "at": 2.0}]
    assert worker_roll.timeout_line(roll, 8, "x:1") == (
        "1 of 2 workers joined within 8 s (1 refused); the master listens on 10.0.0.10:5557")
    roll["unchecked"] = ["w3"]
    assert worker_roll.timeout_line(roll, 8, "x:1") == (
        "1 of 2 workers joined within 8 s (1 refused); the master listens on 10.0.0.10:5557; 1 connected and sent no "
        "moneypath identity (started without moneypath's harness?)")


def test_the_masters_news_are_said_once_before_the_progress_line(tmp_path):
    prefix, said = tmp_path / "locust", []
    news = worker_roll.RollNews(prefix, said.append)
    news("[ 0 s] starting Locust ...")
    roll = {"listens": "127.0.0.1:5557", "expected": 2, "admitted": [{"worker": "w1", "at": 1.0}],
            "refused": [{"worker": "w2", "why": "its locustfile differs from the master's", "at": 2.0}],
            "test_started_at": None}
    worker_roll.write_json(worker_roll.roll_path(prefix), roll)
    news("[    3 s] users 0")
    news("[    6 s] users 0")
    waiting = "waiting for workers: 1 of 2 joined; the master listens on 127.0.0.1:5557"
    assert said == ["[ 0 s] starting Locust ...", "worker w1 joined (1 of 2)",
                    "worker w2 refused: its locustfile differs from the master's", f"[    3 s] {waiting}",
                    f"[    6 s] {waiting}"]
    assert worker_roll.test_started_at(prefix) is None
    worker_roll.write_json(worker_roll.roll_path(prefix), {**roll, "test_started_at": 1234.5})
    assert worker_roll.test_started_at(prefix) == 1234.5
    news("[    9 s] users 20")
    assert said[-1] == "[    9 s] users 20"


def test_a_workers_events_are_read_back_in_order(tmp_path, monkeypatch):
    path = tmp_path / "status.jsonl"
    worker_roll.status_event("connected")  # no file named: nothing written anywhere
    monkeypatch.setenv(worker_roll.STATUS_ENV, str(path))
    worker_roll.status_event("connected", master="h:1")
    worker_roll.status_event("ended", more=True)
    with path.open("a") as f:
        f.write('{"event": "sta')  # a line being written
    assert worker_roll.status_events(path) == [{"event": "connected", "master": "h:1"}, {"event": "ended", "more": True}]
    assert worker_roll.status_events(tmp_path / "none") == []


@pytest.mark.parametrize(("text", "parsed"), [("10.0.0.10:5557", ("10.0.0.10", 5557)), ("[::1]:80", ("::1", 80)),
                                              ("*:5557", ("*", 5557))])
def test_an_address_is_host_and_port(text, parsed):
    assert locust_processes.split_address(text) == parsed


@pytest.mark.parametrize("text", ["5557", ":5557", "host:", "host:0", "host:65536", "host:port"])
def test_an_address_without_host_or_port_is_refused(text):
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        locust_processes.split_address(text)


def test_a_bound_master_listens_where_told_waits_as_long_and_starts_no_worker(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(locust_processes, "_spawn", lambda argv, log, env: started.append((argv, env)) or object())
    load = locust_processes.LocustLoad(10, 10, 5, SHIPPED_SCENARIOS, SHIPPED_LOCUSTFILE)
    target = LoadTarget("http://127.0.0.1:8080", None, None, None, None)
    spec = LoadTestSpec("checkout", workers=3, bind="10.0.0.10:5557", wait_workers_s=90.5, runs_follow=True)
    locust_processes.start_locust(spec, target, tmp_path, 9100, load)
    [(argv, env)] = started
    at = argv.index("--master")
    assert argv[at:at + 9] == ["--master", "--master-bind-host", "10.0.0.10", "--master-bind-port", "5557",
                               "--expect-workers", "3", "--expect-workers-max-wait", "91"]
    assert env[worker_roll.RUNS_FOLLOW_ENV] == "1"  # capacity's next step follows on the same workers
    started.clear()
    locust_processes.start_locust(LoadTestSpec("checkout", workers=2), target, tmp_path, 9100, load)
    assert [a[a.index("--worker")] for a, _ in started[1:]] == ["--worker", "--worker"]
    assert worker_roll.RUNS_FOLLOW_ENV not in started[0][1]
