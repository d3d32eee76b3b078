"""What every moneypath locustfile gets from Locust, registered when `moneypath.loadtest.in_locust.user` is
imported: the command-line options, the run's settings, the load shape, the scenario's faults and
the Prometheus exporter.

Options: --scenario, --scenario-file, --rate, --concurrency, --duration, --token, --no-auth,
--admin-token, --providersim, --faultproxy, --state-dir, --exporter-port, --exporter-host, --warmup,
--snapshot-at; each also read from its environment variable (moneypath.loadtest.in_locust.run_settings.ENV), which
is how `moneypath loadtest` sets them: Locust's command line would refuse them for a locustfile
that does not import this module. Locust's own -u/-r/-t do not apply: the scenario's shape decides
users and duration. Workers get the master's options (and its token) when the test starts, so only
the master needs them.

Imported only inside a Locust process (it imports Locust, so gevent patches the process).
"""

from __future__ import annotations

import logging
from pathlib import Path

import locust.stats
import requests
from locust import LoadTestShape, events
from locust.runners import WorkerRunner

import moneypath.loadtest.in_locust.worker_admission  # noqa: F401 - registers the master's gate and the worker's side
from moneypath.formats import scenarios
from moneypath.loadtest.in_locust import fault_calls, parent_watch, shape, worker_watch  # noqa: F401 (worker_watch: the worker timeline)
from moneypath.loadtest.in_locust.run_settings import ENV, settings, stack_state, token

log = logging.getLogger("moneypath.loadtest")
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1  # the history file feeds `moneypath loadtest`'s progress line
parent_watch.arm()  # dies with the moneypath process that started it, even after kill -9


@events.init_command_line_parser.add_listener
def _arguments(parser):
    group = parser.add_argument_group("moneypath", "the scenario, the target's fault APIs and credentials "
                                      "(each also from its $MONEYPATH_* variable, "
                                      "moneypath.loadtest.in_locust.run_settings.ENV)")

    def add(flag: str, **kwargs):
        group.add_argument(flag, env_var=ENV[flag[2:].replace("-", "_")], **kwargs)

    add("--scenario", default="checkout", help="scenario name in the scenario file (default: checkout)")
    add("--scenario-file", default="", help="scenario definitions (default: scenarios.yaml beside the "
        "locustfile)")
    add("--rate", type=float, default=0, help="baseline requests per second (default: the file's)")
    add("--concurrency", type=int, default=0, help="users at baseline (default: the file's)")
    add("--duration", type=float, default=0, help="run seconds (default: the scenario's)")
    add("--closed-loop", action="store_true", help="no pacing: each user sends its next request "
        "as soon as the last is answered (the throughput at saturation; --rate is then ignored)")
    add("--token", default="", help="API bearer token (default: $MONEYPATH_TOKEN, or minted from "
        "$MONEYPATH_TOKEN_SECRET or --state-dir, else none)")
    add("--no-auth", action="store_true", help="send no authorization header")
    add("--admin-token", default="", help="admin:faults token for scenarios with faults")
    add("--hosts", default="", help="comma-separated base URLs of the service's instances: each user sends to "
        "one of them in turn (default: --host alone)")
    add("--providersim", default="", help="provider simulator URL (faults at: providersim)")
    add("--faultproxy", default="", help="fault proxy URL (faults at: faultproxy)")
    add("--state-dir", default="", help="a `moneypath up` state directory: host, simulator, secrets")
    add("--exporter-port", type=int, default=0, help="serve /metrics for Prometheus on this port")
    add("--exporter-host", default="127.0.0.1", help="address of the /metrics server")
    add("--warmup", type=float, default=0, help="seconds after which the stats so far are written "
        "to <--csv prefix>_warmup.json: the latency gate judges what came after (default: none)")
    add("--snapshot-at", default="", help="comma-separated seconds at which the stats so far are "
        "added to <--csv prefix>_snapshots.json (phase boundaries the overload gates judge between)")


@events.init.add_listener
def _on_init(environment, **_kwargs):
    o = environment.parsed_options
    if o is None or isinstance(environment.runner, WorkerRunner):
        return  # a worker gets the master's options (and token) when the test starts
    events.quit.add_listener(lambda **_: _write_final_failures(environment))  # fired after the final stats
    try:
        s = settings(environment)
    except scenarios.ScenarioError as exc:
        raise SystemExit(f"moneypath: {exc}") from None
    if s.token is None and not o.no_auth:
        log.info("no API token (--token, $MONEYPATH_TOKEN, $MONEYPATH_TOKEN_SECRET, --state-dir): requests go "
                 "without an authorization header")
    # sent to workers with the other options when the test starts: they send what the master decided
    o.token, o.no_auth = s.token or "", s.token is None
    state, _ = stack_state(o)
    parts = {p.name for p in state.parts} if state is not None else set()
    if "refservice" in parts:
        environment.host = environment.host or state.url("refservice")
    for part in ("providersim", "faultproxy"):  # the fault APIs the stack runs
        if part in parts:
            setattr(o, part, getattr(o, part) or state.url(part))
    if environment.shape_class is None:  # a locustfile's own shape wins
        environment.shape_class = ScenarioShape()
        environment.shape_class.runner = environment.runner
    if o.exporter_port:
        from moneypath.loadtest.in_locust.exporter import serve

        serve(environment, o.exporter_host, o.exporter_port)
        log.info("Locust metrics on http://%s:%d/metrics", o.exporter_host, o.exporter_port)


# ---------------------------------------------------------------- faults a scenario sets (master only)


def _fault_calls(environment) -> tuple[list[fault_calls.FaultCall], dict]:
    s = settings(environment)
    o = environment.parsed_options
    if not s.scenario.faults:
        return [], {}
    admin = token(o, ["admin:faults"], o.admin_token, "MONEYPATH_ADMIN_TOKEN", s.duration_s)
    if admin is None:
        raise SystemExit(f"scenario {s.scenario.name} sets faults: pass --admin-token, or set $MONEYPATH_ADMIN_TOKEN "
                         "or $MONEYPATH_TOKEN_SECRET")
    bases = {"providersim": o.providersim, "faultproxy": o.faultproxy, "service": environment.host}
    try:
        calls = fault_calls.calls(s.scenario.faults, bases, s.duration_s, s.scenario.name)
    except fault_calls.MissingBase as exc:
        raise SystemExit(f"moneypath: {exc}") from None
    return calls, {"authorization": f"Bearer {admin}"}


@events.test_start.add_listener
def _set_faults(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return
    calls, headers = _fault_calls(environment)
    for call in calls:
        r = requests.put(call.url, json=call.body, headers=headers, timeout=10)
        if r.status_code >= 300:
            raise SystemExit(f"setting fault {call.url} failed: {r.status_code} {r.text[:200]}")
        log.info("fault set: %s %s", call.url, call.body)


def _stats_so_far(environment) -> list[dict]:
    """A copy of every entry's stats so far. Not `RequestStats.serialize_stats()`: that one resets each entry (it
    is what workers send the master), so the run's final stats would lose everything before the snapshot. A copy:
    `serialize()` hands out the live histogram, which a snapshot kept for later would see grow."""
    import copy

    return copy.deepcopy([e.serialize() for e in environment.runner.stats.entries.values()
                          if e.num_requests or e.num_failures])


@events.test_start.add_listener
def _snapshot_warmup(environment, **_kwargs):
    """The stats of the warm-up, for `moneypath loadtest` to leave out of the latency gate (it subtracts
    them: Locust's histograms are counts per rounded ms). Master only; a test shorter than it writes none."""
    o = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner) or o is None or o.warmup <= 0 or not o.csv_prefix:
        return
    import json

    import gevent

    def write():
        gevent.sleep(o.warmup)
        path = Path(f"{o.csv_prefix}_warmup.json")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"warmup_s": o.warmup, "entries": _stats_so_far(environment)}))
        tmp.replace(path)

    gevent.spawn(write)


@events.test_start.add_listener
def _snapshot_phases(environment, **_kwargs):
    """The stats at each --snapshot-at second, all in one file rewritten whole after each (master only)."""
    o = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner) or o is None or not o.snapshot_at or not o.csv_prefix:
        return
    import json

    import gevent

    path = Path(f"{o.csv_prefix}_snapshots.json")
    taken: dict[str, list] = {}

    def take(at_s: float):
        gevent.sleep(at_s)
        taken[f"{at_s:g}"] = _stats_so_far(environment)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(taken))
        tmp.replace(path)

    for at in o.snapshot_at.split(","):
        gevent.spawn(take, float(at))


def _write_final_failures(environment) -> None:
    """Rewrite `<--csv prefix>_failures.csv` from the final stats. Locust's writer refreshes it once a second
    and not at exit, so the last second's failures would be missing beside `--json-file`'s final counts.
    Replaced whole: the writer's handle keeps the old file."""
    o = environment.parsed_options
    if o is None or not o.csv_prefix:
        return
    import csv

    path = Path(f"{o.csv_prefix}_failures.csv")
    tmp = path.with_suffix(".final.tmp")
    with tmp.open("w", newline="") as f:
        locust.stats.StatsCSV(environment, locust.stats.PERCENTILES_TO_REPORT).failures_csv(csv.writer(f))
    tmp.replace(path)


@events.test_stop.add_listener
def _clear_faults(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return
    calls, headers = _fault_calls(environment)
    for call in calls:
        requests.delete(call.url, params=call.query or None, headers=headers, timeout=10)
        log.info("fault cleared: %s", call.url)


# ---------------------------------------------------------------- the shape: users over time


class ScenarioShape(LoadTestShape):
    """Users over time from the scenario: baseline x multiplier, and the spike when there is one.
    Installed by the init hook unless the locustfile has a shape of its own; the users are the
    locustfile's user classes (Locust spreads them by their `weight`)."""

    def tick(self):
        s = settings(self.runner.environment)
        users = shape.users_at(s.scenario, s.users, self.get_run_time(), s.duration_s)
        if users is None:
            return None
        # the spawn rate also paces stopping users: the largest count, so a spike starts and ends at once
        return users, shape.max_users(s.scenario, s.users)
