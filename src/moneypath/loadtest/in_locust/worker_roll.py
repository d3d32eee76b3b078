"""The files through which a distributed run's Locust processes tell moneypath who joined (no Locust import).

The master (moneypath.loadtest.in_locust.worker_admission) keeps `<csv prefix>_admission.json`, rewritten whole at each
change: where it listens, how many workers it expects, those admitted and refused (with the one-line reason), those
connected that have not sent their identity yet ("unchecked"), and
when the test started on the master's clock, which is the run's clock (its stretches, lined up with Prometheus).
A worker started by `moneypath loadtest-worker` appends its events, one JSON object a line, to the file named by
$MONEYPATH_WORKER_STATUS: connected, admitted, refused, started, ended.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ROLL_SUFFIX = "_admission.json"
STATUS_ENV = "MONEYPATH_WORKER_STATUS"  # the worker's events file (set by `moneypath loadtest-worker`)
RUNS_FOLLOW_ENV = "MONEYPATH_RUNS_FOLLOW"  # on the master: another run follows this one (capacity's steps)


def roll_path(csv_prefix: str | Path) -> Path:
    return Path(f"{csv_prefix}{ROLL_SUFFIX}")


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def read_roll(csv_prefix: str | Path) -> dict | None:
    try:
        data = json.loads(roll_path(csv_prefix).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def test_started_at(csv_prefix: str | Path) -> float | None:
    """When the master started the test (its clock), or None (no master, or it never started)."""
    roll = read_roll(csv_prefix) or {}
    value = roll.get("test_started_at")
    return float(value) if isinstance(value, (int, float)) else None


def timeout_line(roll: dict | None, wait_s: float, bind: str) -> str:
    """The one line of a master that gave up waiting for its workers."""
    roll = roll or {}
    joined, expected = len(roll.get("admitted", [])), roll.get("expected", "?")
    refused = len(roll.get("refused", []))
    silent = len(roll.get("unchecked", []))
    return (f"{joined} of {expected} workers joined within {wait_s:g} s"
            + (f" ({refused} refused)" if refused else "") + f"; the master listens on {roll.get('listens', bind)}"
            + (f"; {silent} connected and sent no moneypath identity (started without moneypath's harness?)"
               if silent else ""))


class RollNews:
    """A progress callable that first says who joined or was refused since it last looked, then passes the line on:
    `moneypath loadtest`'s progress while its master waits for workers and runs."""

    def __init__(self, csv_prefix: str | Path, progress):
        self.csv_prefix, self.progress = csv_prefix, progress
        self.said: set[tuple[str, str]] = set()

    def news(self) -> list[str]:
        roll = read_roll(self.csv_prefix) or {}
        lines = []
        for n, entry in enumerate(roll.get("admitted", []), 1):
            if ("admitted", entry["worker"]) not in self.said:
                self.said.add(("admitted", entry["worker"]))
                lines.append(f"worker {entry['worker']} joined ({n} of {roll.get('expected', '?')})")
        for entry in roll.get("refused", []):
            if ("refused", entry["worker"]) not in self.said:
                self.said.add(("refused", entry["worker"]))
                lines.append(f"worker {entry['worker']} refused: {entry['why']}")
        return lines

    def __call__(self, line: str) -> None:
        for news in self.news():
            self.progress(news)
        roll = read_roll(self.csv_prefix)
        if roll is not None and roll.get("test_started_at") is None and line.startswith("["):
            line = (f"{line.split(']')[0]}] waiting for workers: {len(roll.get('admitted', []))} of "
                    f"{roll.get('expected', '?')} joined; the master listens on {roll.get('listens', '?')}")
        self.progress(line)


def status_event(event: str, **data) -> None:
    """Append an event to the worker's status file, when it has one ($MONEYPATH_WORKER_STATUS)."""
    path = os.environ.get(STATUS_ENV)
    if not path:
        return
    with open(path, "a") as f:
        f.write(json.dumps({"event": event, **data}) + "\n")
        f.flush()


def status_events(path: Path) -> list[dict]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line being written
    return out
