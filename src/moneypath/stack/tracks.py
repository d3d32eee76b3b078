"""Tracks of the reference service on a running local stack: a baseline and a canary, side by side.

A track is a provider simulator and a reference service process of its own (its own SQLite ledger, settlement
files and fault switches, faults enabled), scraped by the stack's Prometheus as a job of its own whose series carry
`track="<name>"` (catalog.conventions.TRACK_LABEL). Everything a release breaks on one track (a slower provider,
declines, a capture settled twice) stays on that track, and each track reconciles its own ledger, so a duplicate
charge is counted by the track that made it. The parts are recorded in the stack's stack.json, so `moneypath down`
stops them with the rest; `stop_track` stops one alone (a canary restarted between releases starts clean).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import TRACK_LABEL
from moneypath.stack import processes
from moneypath.stack.scrape import set_extra_scrape_targets
from moneypath.stack.service_files import SECRETS_FILE, read_secrets, write_secrets
from moneypath.stack.state import Part, StackError, load_state, save_state

TRACK_JOB = "track-"  # the scrape job of track `name`: track-<name>


@dataclass(frozen=True)
class Track:
    name: str
    service: str  # the service's base URL
    providersim: str  # its provider simulator's base URL
    metrics: str  # host:port Prometheus scrapes
    db_url: str  # its ledger (SQLAlchemy URL)
    settlement_dir: str


def _parts(name: str) -> tuple[str, str]:
    return f"{name}-providersim", f"{name}-refservice"


def start_track(c: Catalog, state_dir: Path, name: str, timeout_s: float = 60.0) -> Track:
    """Start track `name` on the stack running from `state_dir` (fast settings, as the drill stack's service) with a
    fresh ledger, and make the stack scrape it labelled track=<name>; returns once both parts answer. StackError
    when no stack runs there, the track already runs, or a part does not start (what started is stopped)."""
    state_dir = state_dir.resolve()
    state = load_state(state_dir)
    if state is None:
        raise StackError(f"no stack recorded in {state_dir}")
    sim_part, svc_part = _parts(name)
    if any(p.name in (sim_part, svc_part) for p in state.parts):
        raise StackError(f"track {name} already runs on the stack at {state_dir}")
    home = state_dir / "tracks" / name
    shutil.rmtree(home, ignore_errors=True)  # a fresh ledger and settlement files: the track starts clean
    (home / "settlements").mkdir(parents=True)
    secrets = read_secrets(state_dir) if (state_dir / SECRETS_FILE).exists() else write_secrets(state_dir)
    ports = {k: processes.free_port() for k in ("sim", "api", "metrics")}
    db_url = f"sqlite:///{home / 'ledger.db'}"
    env = {"MONEYPATH_TOKEN_SECRET": secrets["token_secret"], "MONEYPATH_WEBHOOK_SECRET": secrets["webhook_secret"],
           "MONEYPATH_CATALOG": str(Path(c.path).resolve()), "MONEYPATH_DB_URL": db_url,
           "MONEYPATH_PROVIDER_URL": f"http://127.0.0.1:{ports['sim']}",
           "MONEYPATH_SETTLEMENT_DIR": str(home / "settlements"),
           # as the drill stack's service: settle every 2 s, reconcile every second, so a duplicate shows in seconds
           "MONEYPATH_RECONCILE_INTERVAL_S": "1", "MONEYPATH_RECONCILE_GRACE_S": "5",
           "MONEYPATH_MISSING_AFTER_S": "30", "MONEYPATH_AUDIT_VERIFY_INTERVAL_S": "1", "MONEYPATH_ENABLE_FAULTS": "1"}
    commands = {
        sim_part: ([sys.executable, "-m", "moneypath.reference.providersim", "--port", str(ports["sim"]),
                    "--catalog", env["MONEYPATH_CATALOG"], "--settlement-dir", str(home / "settlements"),
                    "--settlement-interval", "2", "--webhook-url", f"http://127.0.0.1:{ports['api']}/v1/webhooks",
                    "--enable-faults"], f"http://127.0.0.1:{ports['sim']}"),
        svc_part: ([sys.executable, "-m", "moneypath.reference.refservice", "--port", str(ports["api"]),
                    "--metrics-port", str(ports["metrics"]), "--workers", "1"], f"http://127.0.0.1:{ports['api']}"),
    }
    try:
        for part_name, (argv, url) in commands.items():
            log = state_dir / "logs" / f"{part_name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("ab") as out:
                proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, env={**os.environ, **env})
            state.parts.append(Part(part_name, url, proc.pid, "/healthz", str(log), argv))
            save_state(state)
        deadline = time.monotonic() + timeout_s
        for part in (p for p in state.parts if p.name in commands):
            while not processes.healthy(part):
                if processes.gone(part.pid):
                    raise StackError(f"{part.name} exited at start: {processes.last_line(part.log)}; see {part.log}")
                if time.monotonic() > deadline:
                    raise StackError(f"{part.name} not ready after {timeout_s:.0f} s; see {part.log}")
                time.sleep(0.2)
        metrics = f"127.0.0.1:{ports['metrics']}"
        set_extra_scrape_targets(state_dir, TRACK_JOB + name, [metrics], {TRACK_LABEL: name})
    except BaseException:
        stop_track(state_dir, name)
        raise
    return Track(name, commands[svc_part][1], commands[sim_part][1], metrics, db_url, str(home / "settlements"))


def stop_track(state_dir: Path, name: str, timeout_s: float = 10.0) -> bool:
    """Stop track `name`'s parts (SIGTERM, then SIGKILL), forget them in stack.json and drop its scrape job;
    True when anything ran. The stack itself keeps running."""
    state_dir = state_dir.resolve()
    state = load_state(state_dir)
    if state is None:
        return False
    mine = [p for p in state.parts if p.name in _parts(name)]
    processes.stop_groups(mine, timeout_s)
    state.parts = [p for p in state.parts if p not in mine]
    save_state(state)
    try:
        set_extra_scrape_targets(state_dir, TRACK_JOB + name, [])
    except StackError:
        pass  # the stack is going down too: nothing left to scrape
    return bool(mine)
