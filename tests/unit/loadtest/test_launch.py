"""How Locust is started on any locustfile (moneypath.loadtest.command.launch): Locust's argv carries Locust's own
options only, moneypath's go in MONEYPATH_* variables, and a plain locustfile (an HttpUser importing nothing
of moneypath) is accepted with every option, each either applied or refused in one line before Locust
starts. On the ticket shop's catalog and scenarios (tests/foreign). Locust itself is never imported here."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from moneypath import cli
from moneypath.loadtest.command import launch, locust_processes, locust_run, targets
from tests.conftest import ROOT
from tests.foreign.harness import LATENCY_SLO

FOREIGN = ROOT / "tests" / "foreign"
SHIPPED = ROOT / "loadtests"
PLAIN = '''from locust import HttpUser, task


class Buyer(HttpUser):
    @task
    def charge(self):
        self.client.post("/charges", json={"amount_minor": 500})
'''
# every option of Locust's own that the runner may put on the command line (locust --help)
LOCUST_OPTIONS = {"-f", "--headless", "--host", "--only-summary", "--csv", "--csv-full-history", "--json-file",
                  "--exit-code-on-error", "--stop-timeout", "--master", "--master-bind-host", "--master-bind-port",
                  "--expect-workers", "--expect-workers-max-wait", "--worker", "--master-host", "--master-port",
                  "--enable-rebalancing"}




@pytest.fixture
def plain(tmp_path) -> Path:
    path = tmp_path / "their_locustfile.py"
    path.write_text(PLAIN)
    return path


def test_a_locustfile_knows_moneypath_only_when_it_imports_it(tmp_path, plain):
    assert launch.knows_moneypath(FOREIGN / "locustfile.py") and launch.knows_moneypath(SHIPPED / "locustfile.py")
    assert not launch.knows_moneypath(plain)
    for text, knows in (("import moneypath.loadtest.in_locust.user\n", True), ("from moneypath import loadtest\n", True),
                        ("from moneypath.loadtest.in_locust.user import PaymentUser as P\n", True),
                        ("import moneypath.instrument\n", False), ("import moneypathology\n", False),
                        ("from .moneypath.loadtest import x\n", False), ("def (:\n", False)):
        (tmp_path / "f.py").write_text(text)
        assert launch.knows_moneypath(tmp_path / "f.py") is knows, text


def test_every_harness_option_has_its_environment_variable():
    """The harness registers each option through ENV (a missing key would stop Locust at start)."""
    tree = ast.parse((ROOT / "src" / "moneypath" / "loadtest" / "in_locust" / "harness.py").read_text())
    flags = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "add"}
    assert {f[2:].replace("-", "_") for f in flags} == set(launch.ENV)
    assert len(set(launch.ENV.values())) == len(launch.ENV)


def test_locusts_argv_has_its_own_options_only_and_moneypaths_go_in_the_environment(plain, tmp_path, monkeypatch):
    monkeypatch.setenv("MONEYPATH_RATE", "999")  # left over in the shell: the run decides, not the shell
    monkeypatch.setenv("MONEYPATH_STATE_DIR", "/elsewhere")
    monkeypatch.delenv("MONEYPATH_HISTORY", raising=False)  # the suite's throwaway drill history (tests/conftest.py)
    target = locust_run.LoadTarget("http://127.0.0.1:9", None, None, "tok", "adm", faultproxy="http://127.0.0.1:8")
    spec = locust_run.LoadTestSpec("komoju_slow", workers=1)
    argv, env = locust_processes.locust_invocation(spec, target, tmp_path, 9100, locust_processes.LocustLoad(
        8.0, 8, 12.5, FOREIGN / "scenarios.yaml", plain, 3.0, (4.0, 8.5)))
    assert argv[argv.index("-f") + 1] == f"{plain},{launch.PLUGIN}"
    assert {a for a in argv[3:] if a.startswith("-")} <= LOCUST_OPTIONS
    assert {k: v for k, v in env.items() if k.startswith("MONEYPATH_")} == {
        "MONEYPATH_SCENARIO": "komoju_slow", "MONEYPATH_SCENARIO_FILE": str(FOREIGN / "scenarios.yaml"),
        "MONEYPATH_RATE": "8", "MONEYPATH_USERS": "8", "MONEYPATH_DURATION_S": "12.5",
        "MONEYPATH_EXPORTER_PORT": "9100", "MONEYPATH_WARMUP_S": "3", "MONEYPATH_SNAPSHOT_AT": "4,8.5",
        "MONEYPATH_TOKEN": "tok", "MONEYPATH_ADMIN_TOKEN": "adm", "MONEYPATH_FAULTPROXY": "http://127.0.0.1:8"}
    started = []
    monkeypatch.setattr(locust_processes, "_spawn", lambda argv, log, env: started.append(argv) or object())
    monkeypatch.setattr(locust_processes, "free_port", lambda: 5557)
    locust_processes.start_locust(spec, target, tmp_path, 9100,
                                  locust_processes.LocustLoad(8, 8, 12, FOREIGN / "scenarios.yaml", plain))
    worker = started[1]
    assert worker[worker.index("-f") + 1] == f"{plain},{launch.PLUGIN}"  # workers load the harness too
    assert {a for a in started[0][3:] + worker[3:] if a.startswith("-")} <= LOCUST_OPTIONS


def test_the_harness_plugin_defines_no_user_and_imports_the_harness():
    tree = ast.parse(launch.PLUGIN.read_text())
    assert not [n for n in tree.body if isinstance(n, ast.ClassDef)]
    imported = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]
    assert imported == ["moneypath.loadtest.in_locust.harness"]


# ---------------------------------------------------------------- the CLI with a plain locustfile


@pytest.fixture
def opened(monkeypatch):
    """The real open_target up to the target; `locust_run.run` records what it was given instead of starting Locust."""

    runs = []
    monkeypatch.setattr(targets, "close_target", lambda target: None)
    monkeypatch.setattr(locust_run, "run", lambda c, spec, target, *a, **k: runs.append((spec, target)) or
                        pytest.fail("stop here"))
    for name in ("MONEYPATH_TOKEN", "MONEYPATH_ADMIN_TOKEN", "MONEYPATH_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return runs


def _plain_run(plain, tmp_path, *args, scenario="checkout", catalog=FOREIGN / "moneypath.yaml",
               scenario_file=FOREIGN / "scenarios.yaml"):
    return cli.main(["loadtest", scenario, "--locustfile", str(plain), "--scenario-file", str(scenario_file),
                     "--catalog", str(catalog), "--host", "http://127.0.0.1:9", "--no-prometheus",
                     "--state-dir", str(tmp_path / "state"), "--out", str(tmp_path / "out"), *args])


@pytest.mark.parametrize("args", [[], ["--no-auth"], ["--users", "3", "--duration", "5", "--workers", "1"]])
def test_a_plain_locustfile_needs_no_token_and_takes_the_options(plain, tmp_path, opened, args):
    with pytest.raises(pytest.fail.Exception):
        _plain_run(plain, tmp_path, *args)
    ((spec, target),) = opened
    assert target.token is None and target.host == "http://127.0.0.1:9"
    if args[:1] == ["--users"]:
        assert (spec.users, spec.duration_s, spec.workers) == (3, 5.0, 1)


@pytest.mark.parametrize("team_locustfile", [False, True])
def test_token_is_the_bearer_sent(plain, tmp_path, opened, team_locustfile):
    """--token: what a PaymentUser sends (the shop's own locustfile), and what a plain one finds in $MONEYPATH_TOKEN."""
    locustfile = FOREIGN / "locustfile.py" if team_locustfile else plain
    with pytest.raises(pytest.fail.Exception):
        _plain_run(locustfile, tmp_path, "--token", "tok-1")
    assert opened[0][1].token == "tok-1"
    argv, env = locust_processes.locust_invocation(opened[0][0], opened[0][1], tmp_path, 9, locust_processes.LocustLoad(
        8.0, 8, 5.0, FOREIGN / "scenarios.yaml", locustfile))
    assert env["MONEYPATH_TOKEN"] == "tok-1" and "tok-1" not in argv


def test_token_and_no_auth_is_one_line(plain, tmp_path, opened, capsys):
    assert _plain_run(plain, tmp_path, "--token", "t", "--no-auth") == 2
    assert (capsys.readouterr().err, opened) == ("moneypath: --token and --no-auth: choose one\n", [])


def test_a_plain_locustfile_gets_the_token_there_is(plain, tmp_path, opened, monkeypatch):
    monkeypatch.setenv("MONEYPATH_TOKEN", "static")
    with pytest.raises(pytest.fail.Exception):
        _plain_run(plain, tmp_path)
    assert opened[0][1].token == "static"


@pytest.mark.parametrize("args, scenario, shipped, message", [
    (["--rate", "5"], "checkout", False, "--rate: their_locustfile.py does not use "
     "moneypath.loadtest.in_locust.user.PaymentUser, so its users pace themselves (their wait_time); set how many "
     "there are with --users (the scenario's shape multiplies them)"),
    ([], "retry_storm", True, "scenario retry_storm: their_locustfile.py does not use moneypath.loadtest.in_locust.user."
     "PaymentUser, so it does not retry with the same idempotency key, which the scenario judges: run it with a "
     "PaymentUser locustfile"),
    ([], "healthz", True, "scenario healthz: their_locustfile.py does not use "
     "moneypath.loadtest.in_locust.user.PaymentUser, so it does not send the healthz user's requests: run it with a "
     "PaymentUser locustfile"),
    ([], "overload", True, "scenario overload: their_locustfile.py does not use "
     "moneypath.loadtest.in_locust.user.PaymentUser, so its refusals are not recorded as REFUSED, which the overload "
     "gates judge: run it with a PaymentUser locustfile"),
])
def test_what_a_plain_locustfile_cannot_honour_is_one_line_before_locust_starts(plain, tmp_path, opened, capsys,
                                                                               args, scenario, shipped, message):
    kw = {"catalog": ROOT / "moneypath.yaml", "scenario_file": SHIPPED / "scenarios.yaml"} if shipped else {}
    code = _plain_run(plain, tmp_path, *args, scenario=scenario, **kw)
    assert (code, capsys.readouterr().err, opened) == (2, f"moneypath: {message}\n", [])


def test_capacity_refuses_a_plain_locustfile_in_one_line(plain, tmp_path, capsys):
    code = cli.main(["capacity", "--locustfile", str(plain), "--catalog", str(FOREIGN / "moneypath.yaml"),
                     "--host", "http://127.0.0.1:9", "--no-auth", "--out", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err == ("moneypath: their_locustfile.py does not use moneypath.loadtest.in_locust.user."
                                       "PaymentUser, so its users pace themselves: the closed-loop and paced steps "
                                       "of capacity need PaymentUser\n")


def test_a_payment_user_without_a_token_names_the_stack_that_has_none(tmp_path, monkeypatch):
    """--state-dir of a stack that only scrapes the service (`moneypath up --target`): it holds no token for it."""
    monkeypatch.setattr(targets.stack, "load_state", lambda d: type("S", (), {"parts": [], "state_dir": str(d)})())
    monkeypatch.setattr(targets.stack, "status", lambda d: [("prometheus", "", True, "")])
    with pytest.raises(locust_run.LoadTestError, match=r"^no API token for http://127.0.0.1:9 \(the stack in .*state "
                                                  r"does not run http://127.0.0.1:9, so it has no token for it\)"):
        targets.existing_target(tmp_path / "state", "http://127.0.0.1:9", None, None, env={})
    target = targets.existing_target(tmp_path / "state", "http://127.0.0.1:9", None, None, env={}, need_token=False)
    assert target.token is None


def test_a_plain_run_skips_the_locust_latency_gate_it_cannot_judge(plain, tmp_path, monkeypatch):
    """Its requests are named by their path: the Locust p99 gate says why it is skipped; the failure gate judges."""
    from moneypath.catalog import load_catalog

    def start_locust(spec, target, work, *rest):
        work.mkdir(parents=True, exist_ok=True)
        (work / "locust.json").write_text(json.dumps([{
            "name": "/charges", "method": "POST", "num_requests": 40, "num_failures": 0, "response_times": {"20": 40},
            "total_response_time": 800, "max_response_time": 20, "start_time": 1000.0,
            "last_request_timestamp": 1005.0}]))
        return []

    monkeypatch.setattr(locust_run, "start_locust", start_locust)
    monkeypatch.setattr(locust_run, "wait_locust", lambda *a, **k: None)
    text = (FOREIGN / "moneypath.yaml").read_text()  # plus a latency SLO: the shop's own has none
    (tmp_path / "moneypath.yaml").write_text(text.replace("\nalerts:\n", LATENCY_SLO + "\nalerts:\n", 1))
    c = load_catalog(tmp_path / "moneypath.yaml")
    said = []
    target = locust_run.LoadTarget("http://127.0.0.1:9", None, None, None, None)
    outcome = locust_run.run(c, locust_run.LoadTestSpec("checkout", duration_s=5, locustfile=plain, require_prometheus=False,
                                           scenario_file=FOREIGN / "scenarios.yaml"), target, tmp_path / "w", 9,
                         said.append)
    gates = {g.name: g for g in outcome.gates}
    assert gates["failure_ratio_locust"].status == "pass"
    assert (gates["p99_latency_locust"].status, gates["p99_latency_locust"].reason) == (
        "skip", 'their_locustfile.py names no request "authorize [<provider>]" (see --help): the service\'s '
        "histogram judges the latency")
    assert said[1] == launch.plain_note(plain)
    assert said[2] == "target http://127.0.0.1:9: 8 users at 1x (at their own pace), up to 8 users, 5 s"


def test_a_broken_scenario_file_names_the_line_to_fix(tmp_path, capsys):
    text = (FOREIGN / "scenarios.yaml").read_text()
    lineno = text[:text.index("refund_full_share: 1.0\n")].count("\n") + 1
    (tmp_path / "scenarios.yaml").write_text(text.replace("refund_full_share: 1.0\n", "refund_full_share 1.0\n", 1))
    code = cli.main(["loadtest", "checkout", "--locustfile", str(FOREIGN / "locustfile.py"), "--scenario-file",
                     str(tmp_path / "scenarios.yaml"), "--catalog", str(FOREIGN / "moneypath.yaml"), "--out",
                     str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err == (f"moneypath: {tmp_path / 'scenarios.yaml'}:{lineno}: YAML syntax error: could "
                                       "not find expected ':'\n")


def test_a_locustfile_path_with_a_comma_is_one_line(tmp_path, capsys):
    odd = tmp_path / "a,b"
    odd.mkdir()
    (odd / "load.py").write_text(PLAIN)
    code = cli.main(["loadtest", "checkout", "--locustfile", str(odd / "load.py"), "--catalog",
                     str(FOREIGN / "moneypath.yaml"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err == (f"moneypath: {odd / 'load.py'}: Locust cannot load a locustfile whose path has "
                                       "a comma; rename or move it\n")
