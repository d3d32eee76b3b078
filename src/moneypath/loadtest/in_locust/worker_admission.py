"""Worker admission: a Locust worker carries load only once the master has checked that it runs the master's
Locust, moneypath harness, locustfile and scenario file (moneypath.loadtest.in_locust.worker_identity); otherwise both sides
say so in one line and the worker exits 2. Registered by moneypath.loadtest.in_locust.harness; imported only in a Locust
process.

The race: Locust counts a worker as ready on its `client_ready` message, before any custom message can come, and
a headless master starts the test once `--expect-workers` are ready. So the master answers a new worker's
`client_ready` itself (the `ack` it waits for) and keeps the worker out of `runner.clients` until its identity
has come and matched; only then is its `client_ready` handed to Locust. The workers Locust counts, waits for and
gives users to are the admitted ones. Messages from a worker not admitted (heartbeats, stats) are dropped.
Why this, and not a check at test_start: docs/decisions/0023-worker-command.md.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from locust import __version__ as LOCUST_VERSION
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from moneypath._common.exit_codes import ExitCode
from moneypath.loadtest.in_locust import worker_identity as wi
from moneypath.loadtest.in_locust import worker_roll
from moneypath.loadtest.in_locust.locustfiles import HARNESS
from moneypath.loadtest.in_locust.run_settings import scenario_file

log = logging.getLogger("moneypath.loadtest")
IDENTITY, ADMITTED, REFUSED, RUN_ENDED = ("moneypath_identity", "moneypath_admitted", "moneypath_refused",
                                          "moneypath_run_ended")


def own_identity(environment) -> wi.Identity:
    """This process's identity: its locustfiles but moneypath's harness, its scenario file."""
    files = [Path(f).resolve() for f in environment.parsed_locustfiles or []]
    return wi.identity(LOCUST_VERSION, [f for f in files if f != HARNESS.resolve()],
                       scenario_file(environment).resolve())


# ---------------------------------------------------------------- the master


class WorkerGate:
    """The master's door: workers not yet admitted wait outside `runner.clients` (see the module's doc)."""

    def __init__(self, environment, runner: MasterRunner):
        self.environment, self.runner = environment, runner
        self.ours = own_identity(environment)
        self.pending: dict[str, object] = {}  # worker id -> its client_ready message, held back
        self.admitted: list[dict] = []
        self.admitted_ids: set[str] = set()
        self.refused: dict[str, dict] = {}
        o = environment.parsed_options
        self.prefix = getattr(o, "csv_prefix", None)
        self.expected = getattr(o, "expect_workers", None)
        self.listens = f"{o.master_bind_host}:{o.master_bind_port}"
        self.started_at: float | None = None
        self.locust_handle = runner.handle_message
        for worker_id in list(runner.clients):  # ready before this gate stood (none, unless Locust yielded)
            del runner.clients[worker_id]
            self.pending[worker_id] = None
        runner.handle_message = self.handle_message
        self.write()

    def handle_message(self, client_id: str, msg) -> None:
        worker = msg.node_id or client_id
        if worker in self.refused:
            return
        if msg.type == IDENTITY:
            self.admit(worker, msg.data)
        elif worker in self.admitted_ids or msg.type == "locustfile":
            self.locust_handle(client_id, msg)
        elif msg.type == "client_ready":  # ack it (the worker waits for that), count it once its identity matches
            new = worker not in self.pending
            self.pending[worker] = msg
            self.runner.send_message("ack", client_id=worker, data={"index": self.runner.get_worker_index(worker)})
            if new:
                self.write()
        elif msg.type == "quit":
            if self.pending.pop(worker, None) is not None:
                self.write()

    def admit(self, worker: str, data) -> None:
        if worker not in self.pending:
            return  # an identity twice, or from a worker that did not say it was ready
        why = (f"it could not read its own files: {data['error']}" if isinstance(data, dict) and "error" in data
               else wi.refusal(self.ours, wi.Identity.read(data)))
        ready = self.pending.pop(worker)
        if why is not None:
            self.refused[worker] = {"worker": worker, "why": why, "at": time.time()}
            log.error("moneypath: worker %s refused: %s", worker, why)
            self.runner.send_message(REFUSED, {"why": why}, client_id=worker)
        else:
            self.admitted.append({"worker": worker, "at": time.time()})
            self.admitted_ids.add(worker)
            self.runner.send_message(ADMITTED, None, client_id=worker)
            if ready is None:  # ready before the gate stood: Locust is told again, now that it is admitted
                ready = _ready_message(worker)
            self.locust_handle(worker, ready)
            log.info("moneypath: worker %s admitted (%d of %s)", worker, len(self.admitted), self.expected)
        self.write()

    def test_started(self) -> None:
        if self.started_at is None:
            self.started_at = time.time()
            self.write()

    def run_ended(self) -> None:
        more = bool(os.environ.get(worker_roll.RUNS_FOLLOW_ENV))
        for entry in self.admitted:
            if entry["worker"] in self.runner.clients:
                self.runner.send_message(RUN_ENDED, {"more": more}, client_id=entry["worker"])

    def write(self) -> None:
        if not self.prefix:
            return
        worker_roll.write_json(worker_roll.roll_path(self.prefix), {
            "listens": self.listens, "expected": self.expected, "admitted": self.admitted,
            "refused": list(self.refused.values()), "unchecked": list(self.pending), "test_started_at": self.started_at})


def _ready_message(worker: str):
    from locust.rpc import Message

    return Message("client_ready", LOCUST_VERSION, worker)


# ---------------------------------------------------------------- the worker


def _worker_side(environment, runner: WorkerRunner) -> None:
    o = environment.parsed_options
    own_scenario_file = o.scenario_file if o is not None else ""
    worker_roll.status_event("connected", master=f"{runner.master_host}:{runner.master_port}")

    def refused(environment, msg, **_kw):
        why = msg.data.get("why", "refused") if isinstance(msg.data, dict) else "refused"
        worker_roll.status_event("refused", why=why)
        print(f"moneypath: refused by the master {runner.master_host}:{runner.master_port}: {why}", file=sys.stderr,
              flush=True)
        environment.process_exit_code = ExitCode.USAGE  # refused: not this run's worker
        runner.greenlet.kill(block=False)

    def admitted(environment, msg, **_kw):
        worker_roll.status_event("admitted")

    def ended(environment, msg, **_kw):
        more = bool(msg.data.get("more")) if isinstance(msg.data, dict) else False
        worker_roll.status_event("ended", more=more)

    runner.register_message(REFUSED, refused)
    runner.register_message(ADMITTED, admitted)
    runner.register_message(RUN_ENDED, ended)

    @environment.events.test_start.add_listener
    def _own_files(environment, **_kw):
        """The master's options came with the spawn message: this worker runs on its own scenario file (the one
        admitted, the same bytes as the master's), wherever the master keeps its copy."""
        if environment.parsed_options is not None:
            environment.parsed_options.scenario_file = own_scenario_file
        worker_roll.status_event("started")

    try:
        ours = own_identity(environment).to_dict()
    except OSError as exc:
        ours = {"error": str(exc)}
    runner.send_message(IDENTITY, ours)


# ---------------------------------------------------------------- registration


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs):
    runner = runner or environment.runner
    if isinstance(runner, MasterRunner):
        gate = WorkerGate(environment, runner)
        environment.moneypath_gate = gate
        environment.events.test_start.add_listener(lambda **_: gate.test_started())
        environment.events.test_stop.add_listener(lambda **_: gate.run_ended())
    elif isinstance(runner, WorkerRunner):
        _worker_side(environment, runner)
