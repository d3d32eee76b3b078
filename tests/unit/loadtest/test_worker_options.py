"""The options of a run spread over machines, refused before anything starts: `--bind` and `--wait-workers` on
`moneypath loadtest` and `moneypath capacity`, and `moneypath loadtest-worker`'s own."""

from __future__ import annotations

import socket

import pytest

from moneypath import cli
from moneypath.loadtest.command import locust_run
from moneypath.loadtest.command.capacity import plan_session
from tests.conftest import CATALOG_PATH, SHIPPED_LOCUSTFILE


@pytest.fixture
def no_run(monkeypatch):
    monkeypatch.setattr(locust_run, "run", lambda *_: pytest.fail("the run started"))
    monkeypatch.setattr(plan_session, "execute", lambda *_: pytest.fail("the plan started"))


@pytest.mark.parametrize("command", [["loadtest", "checkout"], ["capacity"]])
@pytest.mark.parametrize(("options", "says"), [
    (["--bind", "127.0.0.1:5557"], "moneypath: --bind 127.0.0.1:5557: give --workers N, the workers started "
                                   "elsewhere that the master waits for"),
    (["--workers", "2", "--wait-workers", "30"], "moneypath: --wait-workers: only with --bind HOST:PORT (the master "
                                                 "waits there for its workers)"),
])
def test_bind_and_wait_workers_are_refused_where_they_cannot_apply(command, options, says, tmp_path, no_run, capsys):
    code = cli.main([*command, *options, "--no-prometheus", "--host", "http://127.0.0.1:9", "--out",
                     str(tmp_path), "--catalog", str(CATALOG_PATH)])
    assert (code, capsys.readouterr().err) == (2, says + "\n")
    assert list(tmp_path.iterdir()) == []


def test_an_address_the_master_cannot_listen_on_is_one_line(tmp_path, no_run, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli.main(["loadtest", "checkout", "--workers", "2", "--bind", f"127.0.0.1:{port}", "--no-prometheus",
                         "--host", "http://127.0.0.1:9", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH)])
    assert code == 2
    assert capsys.readouterr().err.startswith(f"moneypath: --bind 127.0.0.1:{port}: cannot listen there (")


@pytest.mark.parametrize("command", [["loadtest", "checkout", "--workers", "2"], ["loadtest-worker"]])
def test_an_address_without_a_port_is_a_usage_error(command, capsys):
    option = "--master" if command == ["loadtest-worker"] else "--bind"
    with pytest.raises(SystemExit) as exit_:
        cli.main([*command, option, "10.0.0.10"])
    assert exit_.value.code == 2
    assert "'10.0.0.10' is not HOST:PORT (a port from 1 to 65535)" in capsys.readouterr().err


def test_a_worker_with_a_broken_scenario_file_says_so_before_it_connects(tmp_path, capsys):
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text("baseline: [\n")
    code = cli.main(["loadtest-worker", "--master", "127.0.0.1:9", "--locustfile", str(SHIPPED_LOCUSTFILE),
                     "--scenario-file", str(scenarios), "--catalog", str(CATALOG_PATH)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith(f"moneypath: {scenarios}:") and err.count("\n") == 1, err


def test_a_worker_without_a_locustfile_names_the_one_it_looked_for(tmp_path, capsys):
    (tmp_path / "moneypath.yaml").write_text(CATALOG_PATH.read_text())
    code = cli.main(["loadtest-worker", "--master", "127.0.0.1:9", "--catalog", str(tmp_path / "moneypath.yaml")])
    assert code == 2
    assert capsys.readouterr().err == (f"moneypath: {tmp_path}/loadtests/locustfile.py: no locustfile beside the "
                                       f"catalog {tmp_path}/moneypath.yaml: pass --locustfile FILE (`moneypath init "
                                       "DIR` writes one)\n")


def test_the_worker_commands_help_shows_another_machine_reaching_the_master(capsys):
    with pytest.raises(SystemExit):
        cli.main(["loadtest-worker", "--help"])
    out = capsys.readouterr().out
    assert "moneypath loadtest peak --rate 500 --workers 2 --bind 10.0.0.10:5557" in out
    assert "moneypath loadtest-worker --master 10.0.0.10:5557" in out
