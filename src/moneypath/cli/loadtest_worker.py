"""`moneypath loadtest-worker --master HOST:PORT`: a Locust worker of a distributed load test, started on any machine
by itself (not the master's child), with moneypath's harness and this machine's locustfile and scenario file.

Parse, call, print: Locust runs in a subprocess (`python -m locust -f <locustfile>,<harness> --worker ...`, its log
in a temporary directory named when something goes wrong); its harness (moneypath.loadtest.in_locust.worker_admission)
reports connected, admitted, refused, started and ended in a status file this command follows. Exit codes: 0 the
master ended the run, 1 the worker stopped before that, 2 bad input, refused by the master, or no master within
--wait-master. Why a command of moneypath's rather than plain `locust --worker`: docs/decisions/0023.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath.cli.loadtest import _address, _seconds

DEFAULT_WAIT_MASTER_S = 120.0

EPILOG = """\
example: the master on one machine (10.0.0.10), two workers on others, each with the project's locustfile and
scenario file (the same bytes as the master's, or it is refused):
  # the master (its machine)
  moneypath loadtest peak --rate 500 --workers 2 --bind 10.0.0.10:5557
  # each worker machine
  moneypath loadtest-worker --master 10.0.0.10:5557

  moneypath loadtest-worker --master 10.0.0.10:5557 --locustfile loadtests/locustfile.py \\
      --scenario-file loadtests/scenarios.yaml --wait-master 300

The master sends every run option (scenario, rate, target, token) when the test starts: a worker needs only its
files and a route to the master's port and to the service. Master and worker speak Locust's unencrypted ZeroMQ
protocol (the API token crosses it): keep them on a private network."""


def add_commands(commands, catalog_arg, state_arg) -> None:
    p = commands.add_parser(
        "loadtest-worker", help="run a Locust worker for a master started by `moneypath loadtest --bind` elsewhere",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a Locust worker of a load test spread over machines: it connects to the master that\n"
                    "`moneypath loadtest SCENARIO --workers N --bind HOST:PORT` (or `moneypath capacity ... --bind`)\n"
                    "started, is admitted only if its Locust version, moneypath harness, locustfile and scenario\n"
                    "file are the master's (sha256), carries the users the master gives it, and exits 0 when the\n"
                    "master ends the run (after a capacity step it waits for the next step's master, up to\n"
                    "--wait-master). One line when connected, one when the run starts and when it ends. Exits 2\n"
                    "with one line when refused, or when no master answers within --wait-master.",
        epilog=EPILOG)
    p.add_argument("--master", required=True, type=_address, metavar="HOST:PORT",
                   help="the master's address and port (its --bind)")
    p.add_argument("--locustfile", metavar="FILE", type=Path,
                   help="the locustfile (default: loadtests/locustfile.py beside the catalog, as `moneypath loadtest`)")
    p.add_argument("--scenario-file", metavar="FILE", type=Path,
                   help="scenario definitions (default: scenarios.yaml beside the locustfile)")
    p.add_argument("--wait-master", type=_seconds, default=DEFAULT_WAIT_MASTER_S, metavar="SECONDS",
                   help=f"how long to wait for the master to answer (default {DEFAULT_WAIT_MASTER_S:g})")
    catalog_arg(p)
    p.set_defaults(run=_worker)


def _say(text: str) -> None:
    print(text, flush=True)


def _warn(text: str) -> None:
    print(f"moneypath: {text}", file=sys.stderr, flush=True)


def _files(args) -> tuple[Path, Path]:
    """(locustfile, scenario file), checked as `moneypath loadtest` checks them; UsageError saying why not."""
    from moneypath.catalog import load_catalog
    from moneypath.formats import scenarios
    from moneypath.loadtest.command import inputs

    locustfile = inputs.locustfile(args.locustfile or inputs.default_locustfile(args.catalog)).resolve()
    scenario_file = (args.scenario_file or locustfile.parent / "scenarios.yaml").resolve()
    try:  # against the catalog when there is one here: the master checked its own copy so
        scenarios.load(scenario_file, load_catalog(args.catalog) if Path(args.catalog).is_file() else None)
    except scenarios.ScenarioError as exc:
        raise inputs.UsageError(str(exc)) from None
    return locustfile, scenario_file


def _worker(args) -> int:
    from moneypath.loadtest.command.inputs import UsageError

    try:
        locustfile, scenario_file = _files(args)
    except UsageError as exc:
        _warn(str(exc))
        return ExitCode.USAGE
    work = Path(tempfile.mkdtemp(prefix="moneypath-worker-"))
    _say(f"worker: {locustfile.name} and {scenario_file.name}; connecting to the master {args.master} "
         f"(up to {args.wait_master:g} s)")
    runs, code = 0, ExitCode.FAIL
    try:
        while True:
            runs += 1
            code, more = _one_run(args, locustfile, scenario_file, work, runs)
            if not more:
                break
            _say(f"waiting for the next run's master on {args.master} (up to {args.wait_master:g} s)")
    finally:
        if code != ExitCode.FAIL:  # kept when the worker stopped on its own: its log says why
            shutil.rmtree(work, ignore_errors=True)
    return code


def _one_run(args, locustfile: Path, scenario_file: Path, work: Path, n: int) -> tuple[int, bool]:
    """One master's run: (exit code, whether the master said another run follows)."""
    from moneypath.loadtest.command import launch
    from moneypath.loadtest.command.locust_processes import split_address, stop_locust
    from moneypath.loadtest.in_locust import parent_watch, worker_roll

    host, port = split_address(args.master)
    status, log = work / f"status-{n}.jsonl", work / f"locust-worker-{n}.log"
    env = launch.environment({"scenario_file": str(scenario_file)})
    env[worker_roll.STATUS_ENV] = str(status)
    argv = launch.command(locustfile, "--worker", "--master-host", host, "--master-port", str(port))
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, **parent_watch.popen_kwargs(env))  # dies with this command
    begun, seen = time.monotonic(), 0
    events: dict[str, dict] = {}
    try:
        while True:
            news = worker_roll.status_events(status)
            for event in news[seen:]:
                events[event.get("event", "")] = event
                _tell(event, args.master)
            seen = len(news)
            if proc.poll() is not None:
                break
            if "connected" not in events and time.monotonic() - begun > args.wait_master:
                if n > 1:
                    _say(f"no further run's master on {args.master} within {args.wait_master:g} s: done")
                    return ExitCode.PASS, False
                _warn(f"the master {args.master} could not be reached within {args.wait_master:g} s (is `moneypath "
                      "loadtest ... --bind` running there, and its port open from here?)")
                return ExitCode.USAGE, False
            time.sleep(0.2)
    finally:
        stop_locust([proc])
    for event in worker_roll.status_events(status)[seen:]:
        events[event.get("event", "")] = event
        _tell(event, args.master)
    if "refused" in events:
        return ExitCode.USAGE, False
    if "ended" in events:
        return ExitCode.PASS, bool(events["ended"].get("more"))
    _warn(f"the Locust worker exited ({proc.returncode}) before the master ended the run: {_last_line(log)} "
          f"(log: {log})")
    return ExitCode.FAIL, False


def _tell(event: dict, master: str) -> None:
    kind = event.get("event")
    if kind == "admitted":
        _say(f"connected to the master {master}: admitted (the same Locust, moneypath, locustfile and scenario file)")
    elif kind == "refused":
        _warn(f"refused by the master {master}: {event.get('why', '')}")
    elif kind == "started":
        _say("the run started: this worker carries the users the master gives it")
    elif kind == "ended":
        _say("the run ended (the master ended it)")


def _last_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return (lines or [""])[-1][:300]
