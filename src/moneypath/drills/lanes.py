"""Drills two at a time, each a `moneypath drill run` process on a stack of its own: how `moneypath demo` runs
its drills in about half the time on two cores. Most drills hold 10-20 payments/s and wait on rule windows;
two of them share a machine without touching each other (their own service, Prometheus, pager and ledger). A
drill with a peak runs alone: its premise is the machine's headroom. The longest start first, so the last pair
ends together. Each line a drill prints is shown as it comes, after the drill's name.

A process per drill, not a thread: each keeps its own signal handling (Ctrl-C and SIGTERM end it with its
journal kept) and its own matplotlib. Its journal is read back for the summary and the drill history.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from moneypath._common.verdict import FAIL
from moneypath.catalog import Catalog
from moneypath.check.drill_files import alert_names
from moneypath.drills.runner import Result
from moneypath.formats.drill import Drill
from moneypath.readiness.records import Recorder, severities

LANES = 2
REPORT_LINE = re.compile(r"^\s*report: (?P<path>.+)$|the journal is (?P<journal>.+)$")
STOP_WAIT_S = 60  # a drill stopped by Ctrl-C clears its fault and writes its journal within this


def runs_alone(drill: Drill) -> bool:
    return drill.load is not None and drill.load.peak is not None


def expected_s(drill: Drill) -> float:
    """About how long the drill runs (its baseline and deadlines): the longest start first."""
    if drill.load is None:
        return 0.0
    pages = max((e.page_within for e in drill.alerts.expected), default=0.0)
    peak = drill.load.peak.duration if drill.load.peak else 0.0
    recovery = drill.recovery.within if drill.recovery else 0.0
    return drill.load.baseline + pages + peak + recovery


@dataclass
class Lane:
    drill: Drill
    proc: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None


def run_in_lanes(drills: list[Drill], catalog: Catalog, reports: Path, state_dir: Path, say: Callable[[str], None],
                 recorder: Recorder | None = None, lanes: int = LANES) -> list[Result]:
    """Every drill on a fresh stack of its own, up to `lanes` at once (a drill with a peak alone); results in the
    order given. Ctrl-C or SIGTERM stops the drills running (each keeps its journal) and starts no other."""
    queue = [d for d in drills if runs_alone(d)] + sorted((d for d in drills if not runs_alone(d)),
                                                          key=expected_s, reverse=True)
    results: dict[str, Result] = {}
    running: list[Lane] = []
    levels = severities(alert_names(catalog)) if recorder is not None else {}  # once for the run: what records say
    printing = threading.Lock()
    done = threading.Condition()

    def may_start(drill: Drill) -> bool:
        return not running or (len(running) < lanes and not runs_alone(drill)
                               and not any(runs_alone(r.drill) for r in running))

    try:
        while queue or running:
            while queue and may_start(queue[0]):
                running.append(_start(queue.pop(0), catalog, reports, state_dir, say, printing, done))
            with done:
                done.wait_for(lambda: any(r.proc.poll() is not None for r in running), timeout=1.0)
            for lane in [r for r in running if r.proc.poll() is not None]:
                running.remove(lane)
                lane.reader.join()
                results[lane.drill.name] = _result(lane, levels, recorder, say, catalog_path=catalog.path)
    except KeyboardInterrupt as exc:
        _stop(running, exc)
        for lane in running:
            lane.reader.join(timeout=5)
            results[lane.drill.name] = _result(lane, levels, recorder, say, interrupted=True, catalog_path=catalog.path)
        left = len(queue)
        if left:
            say(f"interrupted: {left} drill(s) not run")
    return [results[d.name] for d in drills if d.name in results]


def _start(drill: Drill, catalog: Catalog, reports: Path, state_dir: Path, say: Callable[[str], None],
           printing: threading.Lock, done: threading.Condition) -> Lane:
    root = Path(catalog.path).resolve().parent  # a drill's path is relative to it
    argv = [sys.executable, "-m", "moneypath", "drill", "run", "--no-history", "--catalog",
            str(Path(catalog.path).resolve()), "--state-dir", str(state_dir.resolve()), "--reports",
            str(reports.resolve()), str(root / drill.path)]
    env = {**os.environ, "MONEYPATH_DRILL_LANE": "1"}  # moneypath.cli.drill.LANE_ENV: one of a demo's, no summary
    proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lane = Lane(drill, proc)

    def read() -> None:
        for line in proc.stdout:
            line = line.rstrip("\n")
            lane.lines.append(line)
            with printing:
                say(f"{drill.name} │ {line}" if line else "")
        proc.wait()
        with done:
            done.notify_all()

    lane.reader = threading.Thread(target=read, name=f"lane-{drill.name}", daemon=True)
    lane.reader.start()
    return lane


def _stop(running: list[Lane], exc: BaseException) -> None:
    """Ctrl-C reached every drill with the terminal's process group; SIGTERM reached this process only: pass it on."""
    from moneypath._common.interrupt import Terminated

    for lane in running:
        if isinstance(exc, Terminated) and lane.proc.poll() is None:
            lane.proc.send_signal(signal.SIGTERM)
    for lane in running:
        try:
            lane.proc.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            lane.proc.kill()
            lane.proc.wait()


def _result(lane: Lane, levels: dict[str, str], recorder: Recorder | None, say: Callable[[str], None],
            interrupted: bool = False, catalog_path: str | None = None) -> Result:
    drill = lane.drill
    journal_path = None
    for line in reversed(lane.lines):
        m = REPORT_LINE.search(line)
        if m:
            journal_path = Path(m["journal"]) if m["journal"] else Path(m["path"]).parent / "journal.json"
            break
    if journal_path is None or not journal_path.is_file():
        last = next((line for line in reversed(lane.lines) if line.strip()), "no output")
        return Result(drill.name, FAIL, {}, f"drill run exited {lane.proc.returncode}: {last.strip()[:200]}",
                      interrupted=interrupted)
    journal = json.loads(journal_path.read_text())
    if recorder is not None:
        recorder.record(drill, levels, journal, journal_path, say, catalog_path=catalog_path)
    report = journal_path.parent / "report.md"
    return Result(drill.name, journal["verdict"], journal["timings"], str(report if report.is_file() else journal_path),
                  journal, interrupted or bool(journal.get("interrupted")))
