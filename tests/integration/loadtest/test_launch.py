"""`moneypath loadtest --locustfile` with a locustfile that knows nothing of moneypath (an HttpUser with one
task) against a tiny HTTP app on loopback: Locust starts (its argv has no moneypath option), and the options
reach the harness through the environment: the scenario's shape runs --users users for --duration seconds.
On the ticket shop's catalog and scenarios; one run of 5 s. And Locust's own parser, given the runner's argv
and environment, reads every one of moneypath's options from it. And SIGTERM (what CI, systemd, `timeout` and
kubectl send) ends `moneypath loadtest` as Ctrl-C does: Locust stopped, its logs kept, one line, exit 143."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from moneypath import cli
from tests.conftest import ROOT, wait_for
from tests.docs_examples import args_of, code_block, env_of, fill, sessions, shell, substitute
from tests.loopback_http import LoopbackServer, QuietHandler

pytestmark = pytest.mark.integration
FOREIGN = ROOT / "tests" / "foreign"
PLAIN = '''from locust import HttpUser, constant, task


class Buyer(HttpUser):
    wait_time = constant(0.2)

    @task
    def charge(self):
        self.client.post("/charges", json={"amount_minor": 500})
'''


class Charges(QuietHandler):
    posts = 0  # the charges any instance answered: the load is on

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        Charges.posts += 1
        body = b'{"id": "ch_1"}'
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def app():
    with LoopbackServer(Charges) as server:
        yield server.url


def shown(line: str) -> re.Pattern:
    """A line the page shows, as a pattern: a request count (0/50) may differ."""
    return re.compile(re.sub(r"0/\d+", r"0/\\d+", re.escape(line)))


def test_a_plain_locustfile_runs_with_moneypaths_options(app, tmp_path, monkeypatch, capsys):
    """docs/load-tests.md's console example, both commands as written, in a directory holding their_locustfile.py
    and tests/foreign; the app's URL for the page's; the state and the reports in temporary directories."""
    for name in ("MONEYPATH_TOKEN", "MONEYPATH_ADMIN_TOKEN", "MONEYPATH_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    example = code_block("docs/load-tests.md", "Load-testing your own service", "console")
    (run, run_shows), (refused, refused_shows) = ((args_of(argv), shows) for argv, shows in sessions(example))
    page_host = run[run.index("--host") + 1]
    locustfile = tmp_path / "their_locustfile.py"
    locustfile.write_text(PLAIN)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "foreign").symlink_to(FOREIGN)
    monkeypatch.chdir(tmp_path)
    code = cli.main([*fill(run, host=app), "--state-dir", str(tmp_path / "state"), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    printed = (out + err).replace(app, page_host)
    for line in run_shows:
        assert shown(line).search(printed), f"no longer printed: {line!r}\n{printed}"
    assert "does not use PaymentUser" in out and "Traceback" not in err
    (report,) = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    result = json.loads((report / "result.json").read_text())
    assert [r["name"] for r in result["locust"]["by_name"]] == ["/charges"]
    assert result["locust"]["failures"] == 0 and result["locust"]["requests"] >= 20
    with (report / "locust" / "locust_stats_history.csv").open() as f:
        users = {int(row["User Count"]) for row in csv.DictReader(f)}
    assert max(users) == 2  # --users reached the scenario's shape through $MONEYPATH_USERS

    assert refused[-1] == "..."  # the rest of the first command's options
    code = cli.main([*refused[:-1], *run[run.index("--locustfile") + 2:]])
    out, err = capsys.readouterr()
    assert code == 2 and [err.strip()] == refused_shows, out + err


PARSE = """
import json, sys
import moneypath.loadtest.in_locust.harness  # registers moneypath's options, as the harness locustfile does
from moneypath.loadtest.in_locust.run_settings import ENV
from locust.argument_parser import get_parser
options = get_parser().parse_args(sys.argv[1:])
print(json.dumps({dest: getattr(options, dest) for dest in ENV}))
"""


# Each command line (its environment, its argv after `locust`) through Locust's own parser with the harness's
# options, as `locust` would parse it: {option as written: the value parsed} per line.
PARSE_LINES = """
import json, os, sys
import moneypath.loadtest.in_locust.harness  # registers moneypath's options, as the harness locustfile does
from locust.argument_parser import get_parser
out = []
for env, argv in json.loads(sys.argv[1]):
    os.environ.update(env)
    parser = get_parser()
    options, actions = parser.parse_args(argv), parser._option_string_actions
    out.append({a: getattr(options, actions[a].dest) for a in argv if a in actions})
print(json.dumps(out))
"""


def test_the_pages_locust_command_lines_parse_as_written():
    """docs/load-tests.md's plain-Locust lines: every option is Locust's or the harness's and takes the value the
    page gives ($LOCUSTFILE as the page sets it). Each also runs: the headless line in
    tests/integration/generate/test_dashboards_live.py (on its stack), the web UI line (and the master and worker
    lines of "Distributed: master and workers") in tests/integration/loadtest/test_session.py."""
    up, [assignment], *locust_lines = shell(code_block("docs/load-tests.md", "With plain Locust", "sh"))
    assert cli.build_parser().parse_args(args_of(up)).faults is True  # `moneypath up --faults --fast`
    locustfile = env_of([assignment, "true"])["LOCUSTFILE"]
    assert (ROOT / locustfile).is_file()
    lines = [(env_of(argv), substitute(argv[len(env_of(argv)) + 1:], {"$LOCUSTFILE": locustfile}))
             for argv in locust_lines]
    assert [argv[len(env_of(argv))] for argv in locust_lines] == ["locust"] * 2
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env = {k: v for k, v in env.items() if not k.startswith("MONEYPATH_")}
    done = subprocess.run([sys.executable, "-c", PARSE_LINES, json.dumps(lines)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for (_, argv), parsed in zip(lines, json.loads(done.stdout.splitlines()[-1])):
        for i, arg in enumerate(argv):
            if not arg.startswith("-"):
                continue
            given = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("-") else True
            value = parsed[arg]
            assert value == given or (given is not True and isinstance(value, (int, float))
                                      and float(given) == value), (argv, arg, given, value)
    assert [p["--scenario"] for p in json.loads(done.stdout.splitlines()[-1])] == ["checkout", "spike"]


def test_every_option_the_runner_sets_reaches_the_harness_through_the_environment(tmp_path):
    """Locust's own parser, with the harness's options, given exactly the runner's argv and environment."""
    from moneypath.loadtest.command import locust_processes, locust_run

    target = locust_run.LoadTarget("http://127.0.0.1:9", None, "http://127.0.0.1:7", "tok", "adm",
                           faultproxy="http://127.0.0.1:8")
    spec = locust_run.LoadTestSpec("komoju_slow", closed_loop=True)
    load = locust_processes.LocustLoad(8.5, 3, 12.0, FOREIGN / "scenarios.yaml", FOREIGN / "locustfile.py", 2.5, (4.0, 8.5))
    argv, env = locust_processes.locust_invocation(spec, target, tmp_path, 9646, load)
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run([sys.executable, "-c", PARSE, *argv[3:]], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "scenario": "komoju_slow", "scenario_file": str(FOREIGN / "scenarios.yaml"), "rate": 8.5, "concurrency": 3,
        "duration": 12.0, "closed_loop": True, "token": "tok", "no_auth": False, "admin_token": "adm",
        "providersim": "http://127.0.0.1:7", "faultproxy": "http://127.0.0.1:8", "state_dir": "",
        "exporter_port": 9646, "exporter_host": "127.0.0.1", "warmup": 2.5, "snapshot_at": "4,8.5", "hosts": ""}
    env.pop("MONEYPATH_TOKEN")
    env["MONEYPATH_NO_AUTH"] = "true"
    done = subprocess.run([sys.executable, "-c", PARSE, *argv[3:]], env=env, capture_output=True, text=True,
                          timeout=60)
    assert json.loads(done.stdout.splitlines()[-1])["no_auth"] is True, done.stderr


def _processes() -> dict[int, list[str]]:
    """Every process by pid: its /proc/PID/stat after the command name (state, ppid, pgrp, session, ...)."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            found[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (ValueError, OSError, IndexError):  # not a process, or gone meanwhile
            pass
    return found


def _left(sessions: set[int]) -> list[int]:
    """Live (not zombie) processes of these sessions: Locust and whatever it started."""
    return [pid for pid, stat in _processes().items() if int(stat[3]) in sessions and stat[0] != "Z"]


def test_sigterm_stops_locust_keeps_the_logs_and_exits_143_in_one_line(app, tmp_path):
    locustfile = tmp_path / "their_locustfile.py"
    locustfile.write_text(PLAIN)
    drop = ("MONEYPATH_TOKEN", "MONEYPATH_ADMIN_TOKEN", "MONEYPATH_TOKEN_SECRET")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moneypath", "loadtest", "checkout", "--locustfile", str(locustfile), "--scenario-file",
         str(FOREIGN / "scenarios.yaml"), "--catalog", str(FOREIGN / "moneypath.yaml"), "--host", app, "--no-auth",
         "--no-prometheus", "--users", "2", "--duration", "120", "--state-dir", str(tmp_path / "state"),
         "--out", str(out)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    sessions: set[int] = set()
    try:
        before = Charges.posts

        def loading() -> set[int]:
            # Locust runs in sessions of its own (start_new_session): those are what must be gone afterwards
            children = {pid for pid, stat in _processes().items() if int(stat[1]) == proc.pid}
            return children if Charges.posts > before + 3 else set()

        sessions = wait_for(loading, 90, "Locust loading the app")
        assert _left(sessions)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 143, stdout + stderr
        assert stderr.splitlines()[-1] == "moneypath: terminated (SIGTERM)" and "Traceback" not in stderr, stderr
        assert _left(sessions) == []  # the command waited for Locust to end: nothing left to wait for
        (kept,) = [p for p in out.iterdir() if p.name.endswith("-failed")]
        assert f"its logs are in {kept}" in stderr and (kept / "locust" / "locust.log").is_file(), stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in _left(sessions):  # only when the test failed: leave nothing running
            os.killpg(pid, signal.SIGKILL)


class Failing(QuietHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(500)
        self.send_header("content-length", "0")
        self.end_headers()


def test_the_failures_file_holds_every_failure_the_final_stats_count(tmp_path):
    """Locust refreshes `_failures.csv` once a second and not at exit; the harness rewrites it from the final
    stats, so the reasons a report gives add up to the failures it counts. Failing fast, the last second alone
    holds dozens."""
    locustfile = tmp_path / "their_locustfile.py"
    locustfile.write_text(PLAIN.replace("constant(0.2)", "constant(0.01)"))
    with LoopbackServer(Failing) as server:
        code = cli.main(["loadtest", "checkout", "--locustfile", str(locustfile), "--catalog",
                         str(FOREIGN / "moneypath.yaml"), "--scenario-file", str(FOREIGN / "scenarios.yaml"),
                         "--host", server.url, "--no-auth", "--no-prometheus",
                         "--users", "2", "--duration", "4", "--state-dir", str(tmp_path / "state"),
                         "--out", str(tmp_path / "out")])
    assert code == 1
    (report,) = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    counted = sum(e["num_failures"] for e in json.loads((report / "locust" / "locust.json").read_text()))
    with (report / "locust" / "locust_failures.csv").open(newline="") as f:
        reasons = sum(int(row["Occurrences"]) for row in csv.DictReader(f))
    assert counted > 50 and reasons == counted
