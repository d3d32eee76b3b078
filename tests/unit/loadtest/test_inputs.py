"""What `moneypath loadtest` refuses before anything runs: one line and exit 2 (moneypath.loadtest.command.inputs and
the command's checks), a team's --locustfile, --no-auth and --faultproxy among them."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from moneypath import cli
from moneypath.loadtest.command import locust_processes, locust_run, targets
from tests.conftest import CATALOG_PATH, SHIPPED_SCENARIOS
from tests.unit.loadtest.helpers import FOREIGN_DIR, catalog_without, run_cli


@pytest.mark.parametrize("argv, message", [
    (["loadtest", "nope"], "moneypath: unknown scenario 'nope': choose one of checkout, peak, spike, soak, "
                           "overload, retry_storm, slow_provider, healthz (defined in "
                           f"{SHIPPED_SCENARIOS})"),
    (["loadtest", "checkout", "--baseline", "/nonexistent/result.json"],
     "moneypath: /nonexistent/result.json: baseline file not found"),
    (["loadtest", "overload", "--duration", "90"],
     "moneypath: scenario overload: a 90 s run leaves under 5 s to judge the recovery 30 s after the overload "
     "ends at 60 s; run it longer (--duration)"),
    (["loadtest", "checkout", "--locustfile", "/nonexistent/locustfile.py"],
     "moneypath: /nonexistent/locustfile.py: locustfile not found"),
    (["capacity", "--start", "50", "--max", "10"], "moneypath: --start 50 is above --max 10"),
    (["capacity", "--start", "1", "--step", "1", "--max", "100"], "moneypath: 100 steps: at most 50 (raise --step or "
                                                                   "lower --max)"),
    (["capacity", "--postgres", "mysql://app@127.0.0.1/ledger"],
     "moneypath: --postgres mysql://app@127.0.0.1/ledger: expected a postgresql+psycopg://... URL"),
    (["capacity", "--postgres", "postgresql+nodriver://app@127.0.0.1:1/ledger"],
     "moneypath: --postgres postgresql+nodriver://app@127.0.0.1:1/ledger: Can't load plugin: "
     "sqlalchemy.dialects:postgresql.nodriver"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert cli.main([*argv, "--catalog", str(CATALOG_PATH)]) == 2
    out, err = capsys.readouterr()
    assert err.strip() == message and out == ""


def test_an_unreachable_postgres_is_refused_before_any_load(tmp_path, capsys):
    argv = ["capacity", "--postgres", "postgresql+psycopg://app@127.0.0.1:1/ledger", "--state-dir", str(tmp_path),
            "--catalog", str(CATALOG_PATH)]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith("moneypath: --postgres: cannot connect: ") and len(err.splitlines()) == 1 and out == ""
    assert list(tmp_path.iterdir()) == []  # no stack was started


def test_a_baseline_that_is_not_a_result_is_one_line(tmp_path, capsys):
    (tmp_path / "b.json").write_text('{"hello": 1}')
    assert cli.main(["loadtest", "checkout", "--baseline", str(tmp_path / "b.json"), "--catalog",
                     str(CATALOG_PATH)]) == 2
    assert capsys.readouterr().err.strip().endswith("b.json: not a load-test result (result.json of a previous run)")


@pytest.mark.parametrize("flag, value", [("--rate", "0"), ("--users", "0"), ("--duration", "soon"),
                                         ("--workers", "-1"), ("--host", "localhost:8000")])
def test_argument_errors_exit_2_with_usage_and_one_error_line(flag, value):
    r = run_cli("loadtest", "checkout", flag, value)
    assert (r.returncode, r.stdout) == (2, "")
    lines = r.stderr.splitlines()
    assert lines[0].startswith("usage: moneypath loadtest")
    errors = [line for line in lines if not line.startswith(("usage:", " "))]
    assert len(errors) == 1 and errors[0].startswith(f"moneypath loadtest: error: argument {flag}: {value!r} ")


@pytest.mark.parametrize("argv", [
    ["loadtest", "checkout", "--duration", "inf"], ["loadtest", "checkout", "--duration", "nan"],
    ["loadtest", "checkout", "--duration", "-5"], ["loadtest", "checkout", "--reconcile-within", "inf"],
    ["loadtest", "checkout", "--reconcile-within", "NaN"], ["capacity", "--step-duration", "inf"],
    ["capacity", "--step-duration", "0"],
])
def test_non_finite_or_non_positive_seconds_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[-2]}: {argv[-1]!r} must be a finite number of seconds more than 0" in err


@pytest.mark.parametrize("kind", ["file", "read-only"])
def test_an_unusable_out_is_one_line_and_exit_2_before_anything_runs(kind, tmp_path, no_run, monkeypatch, capsys):
    from moneypath.loadtest.command import locust_run

    monkeypatch.setattr(locust_run, "run", lambda *_: pytest.fail("the run started"))
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("not a directory")
    else:
        out.mkdir()
        out.chmod(0o500)
        if os.geteuid() == 0:  # root writes into a read-only directory anyway: refuse as the kernel refuses others
            mkdir = Path.mkdir

            def refused(path, *args, **kwargs):
                if path.is_relative_to(out) and path != out:
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
                return mkdir(path, *args, **kwargs)

            monkeypatch.setattr(Path, "mkdir", refused)
    try:
        code = cli.main(["loadtest", "checkout", "--out", str(out / "reports"), "--catalog", str(CATALOG_PATH)])
    finally:
        out.chmod(0o700)
    err = capsys.readouterr().err
    assert code == 2 and no_run == []
    assert err.startswith(f"moneypath: --out {out / 'reports'}: cannot create a report directory there (")
    assert err.count("\n") == 1


def test_a_failed_run_keeps_the_logs_its_message_points_at(tmp_path, no_run, monkeypatch, capsys):
    from moneypath.loadtest.command import locust_run

    def run(c, spec, target, work, port, progress):
        work.mkdir(parents=True)
        (work / "locust.log").write_text("gevent exploded\n")
        raise locust_run.LoadTestError(f"Locust did not finish within 96 s; see {work}")

    monkeypatch.setattr(locust_run, "run", run)
    code = cli.main(["loadtest", "checkout", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    where = Path(err.strip().rsplit("see ", 1)[1])
    assert where.parent.name.startswith("loadtest-checkout-") and where.parent.name.endswith("-failed")
    assert (where / "locust.log").read_text() == "gevent exploded\n"
    assert [p.name for p in tmp_path.iterdir()] == [where.parent.name]  # no hidden staging directory left


def test_a_run_that_fails_before_locust_leaves_nothing(tmp_path, no_run, monkeypatch, capsys):
    from moneypath.loadtest.command import locust_run

    def run(*_args):
        raise locust_run.LoadTestError("no API token for http://127.0.0.1:9")

    monkeypatch.setattr(locust_run, "run", run)
    assert cli.main(["loadtest", "checkout", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH)]) == 1
    assert capsys.readouterr().err == "moneypath: no API token for http://127.0.0.1:9\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("locust, top, message", [
    ({"rps": "fast", "authorize_p99_ms": 200}, {}, 'locust.rps: expected a number, got "fast"'),
    ({"rps": None}, {}, "locust.rps: expected a number, got null"),
    ({"rps": 10, "authorize_p99_ms": [200]}, {}, "locust.authorize_p99_ms: expected a number, got [200]"),
    ({"rps": 10, "authorize_p99_ms": True}, {}, "locust.authorize_p99_ms: expected a number, got true"),
    ({"rps": 10}, {"rate": "ten"}, 'rate: expected a number, got "ten"'),
    ({"rps": 10}, {"users": {}}, "users: expected a number, got {}"),
])
def test_a_baseline_with_a_bad_field_is_refused_before_the_run(tmp_path, no_run, monkeypatch, capsys, locust, top,
                                                               message):
    from moneypath.loadtest.command import locust_run

    monkeypatch.setattr(locust_run, "run", lambda *_: pytest.fail("the run started"))
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"scenario": "checkout", "locust": locust, **top}))
    code = cli.main(["loadtest", "checkout", "--baseline", str(path), "--out", str(tmp_path / "out"), "--catalog",
                     str(CATALOG_PATH)])
    assert code == 2 and no_run == []
    assert capsys.readouterr().err == f"moneypath: {path}: {message}\n"
    assert not (tmp_path / "out").exists()


def test_a_good_baseline_loads(tmp_path):
    from moneypath.loadtest.command import locust_run

    path = tmp_path / "result.json"
    path.write_text(json.dumps({"scenario": "checkout", "rate": 12, "users": 12, "duration_s": 6, "workers": 0,
                                "locust": {"rps": 11.5, "authorize_p99_ms": None}}))
    assert locust_run.load_result(path)["locust"]["rps"] == 11.5


@pytest.mark.parametrize("command", [["loadtest", "checkout"], ["capacity"]])
def test_a_catalog_without_a_signal_the_gates_read_is_one_line(tmp_path, command):
    path = catalog_without(tmp_path, "duplicate_charges_total")
    r = run_cli(*command, "--catalog", str(path), "--out", str(tmp_path / "out"))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (f"moneypath: {path}: signals.duplicate_charges_total: missing; the load test reads it "
                        "(duplicate charges)\n")


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "none.py", "{path}: locustfile not found"),
    (lambda d: d, "{path}: locustfile not found"),
    (lambda d: (d / "load.txt").write_text("x") and d / "load.txt", "{path}: a locustfile is a Python file (.py)"),
    (lambda d: (d / "load.py").write_text("x") and d / "load.py",
     "{dir}/scenarios.yaml: scenario file not found"),
])
def test_a_bad_locustfile_is_one_line_and_exit_2(tmp_path, capsys, make, message):
    path = make(tmp_path)
    code = cli.main(["loadtest", "checkout", "--locustfile", str(path), "--catalog", str(CATALOG_PATH),
                     "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"moneypath: {message.format(path=path, dir=tmp_path)}\n"


@pytest.mark.parametrize("flag", [["--no-auth"], ["--faultproxy", "http://127.0.0.1:9"]])
def test_no_auth_and_faultproxy_go_with_host(tmp_path, capsys, monkeypatch, flag):
    monkeypatch.setattr(targets, "start_stack", lambda *_a, **_k: pytest.fail("a stack started"))
    code = cli.main(["loadtest", "checkout", "--catalog", str(CATALOG_PATH), "--state-dir", str(tmp_path / "none"),
                     "--out", str(tmp_path / "out"), *flag])
    assert code == 2
    assert capsys.readouterr().err == ("moneypath: --prometheus, --providersim, --faultproxy, --no-auth and --token "
                                       "go with --host\n")


def test_no_auth_needs_no_token_and_sends_none(monkeypatch, tmp_path):
    target = targets.existing_target(None, "http://127.0.0.1:9/", None, None, env={}, auth=False)
    assert (target.host, target.token, target.admin_token) == ("http://127.0.0.1:9", None, None)
    target = targets.existing_target(None, "http://127.0.0.1:9", None, None, env={"MONEYPATH_TOKEN": "t",
                                                                               "MONEYPATH_TOKEN_SECRET": "s"},
                                    faultproxy="http://127.0.0.1:8", auth=False)
    assert target.token is None and target.admin_token and target.faultproxy == "http://127.0.0.1:8"
    with pytest.raises(locust_run.LoadTestError, match="or --no-auth when the service takes none"):
        targets.existing_target(None, "http://127.0.0.1:9", None, None, env={})
    started = []
    monkeypatch.setattr(locust_processes, "_spawn", lambda argv, log, env: started.append((argv, env)) or SimpleNamespace())
    monkeypatch.setenv("MONEYPATH_TOKEN", "leftover")
    spec = locust_run.LoadTestSpec("checkout")
    locust_processes.start_locust(spec, target, tmp_path, 9,
                                  locust_processes.LocustLoad(10, 10, 5, SHIPPED_SCENARIOS, Path("x.py")))
    argv, env = started[0]
    assert not [a for a in argv if a in ("--no-auth", "--faultproxy", "--scenario")]  # never Locust's argv
    assert env["MONEYPATH_NO_AUTH"] == "true" and env["MONEYPATH_FAULTPROXY"] == "http://127.0.0.1:8"
    assert "MONEYPATH_TOKEN" not in env and env["MONEYPATH_ADMIN_TOKEN"] == target.admin_token


def test_a_faultproxy_scenario_without_faultproxy_is_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "s")
    monkeypatch.setattr(targets, "close_target", lambda target: None)
    monkeypatch.setattr(locust_run, "run", lambda *_: pytest.fail("the run started"))
    code = cli.main(["loadtest", "komoju_slow", "--catalog", str(FOREIGN_DIR / "moneypath.yaml"), "--locustfile",
                     str(FOREIGN_DIR / "locustfile.py"), "--host", "http://127.0.0.1:9", "--no-auth", "--no-prometheus",
                     "--state-dir", str(tmp_path / "none"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err == "moneypath: scenario komoju_slow sets a faultproxy fault: pass --faultproxy URL\n"
    assert not (tmp_path / "out").exists() or not [p for p in (tmp_path / "out").iterdir()]


def test_the_help_documents_the_locustfile_contract(capsys):
    with pytest.raises(SystemExit):
        cli.main(["loadtest", "--help"])
    out = capsys.readouterr().out
    for needle in ("your own locustfile (--locustfile FILE):", "moneypath.loadtest.in_locust.user import PaymentUser",
                   '"<action> [<provider>]"', "$MONEYPATH_TOKEN", "--no-auth", "--faultproxy URL", "RETRIED", "CHECK"):
        assert needle in out, needle
