"""`moneypath demo` (and `make demo`): every drill in runbooks/drills/, end to end, on this machine.

Each drill gets a fresh local stack (provider simulator, reference service with faults on,
Prometheus with the rules compressed 60x, Alertmanager, pager) and runs its baseline load,
steady-state check, fault, pages, runbook evidence, mitigation, recovery, ledger and money
checks; the stack stops afterwards. Two drills run at once, each in its own process (a drill with a peak
alone: moneypath.drills.lanes). At the end: one report per drill under reports/ and a
summary table. Nothing is opened; the paths are printed. Nothing goes into a team's drill history unless
`--history DIR` asks (the recorder). The stacks are single: a drill that kills a
monitoring replica (replica_down) is skipped with a line saying how to run it (`MONEYPATH_HA=1 drill run`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from moneypath._common.verdict import exit_code
from moneypath.catalog import Catalog
from moneypath.check.drill_files import load_drill
from moneypath.drills.lanes import run_in_lanes
from moneypath.drills.runner import print_summary
from moneypath.formats.drill import DrillError, drill_files, needs_ha
from moneypath.readiness.records import Recorder


def run_demo(c: Catalog, state_dir: Path, reports: Path = Path("reports"), recorder: Recorder | None = None) -> int:
    root = Path(c.path).resolve().parent
    drills, problems = [], []
    for path in drill_files(root):
        try:
            drills.append(load_drill(path, c, root))
        except DrillError as e:
            problems += e.problems
    if problems or not drills:
        for line in problems or [f"no drill files in {root / 'runbooks' / 'drills'}"]:
            print(line, file=sys.stderr)
        return 2
    # the demo's stacks are single (no --ha): a drill that kills a monitoring replica is skipped, and says how to run it
    for d in (d for d in drills if needs_ha(d)):
        print(f"moneypath demo: skipping {d.name}: it kills a monitoring replica (replica_down), which needs the HA "
              f"stack: MONEYPATH_HA=1 moneypath drill run {d.path}", flush=True)
    drills = [d for d in drills if not needs_ha(d)]
    started = time.monotonic()
    print(f"moneypath demo: {len(drills)} drills, each on a fresh local stack, two at a time (a drill with a peak "
          f"alone): {', '.join(d.name for d in drills)}", flush=True)
    results = run_in_lanes(drills, c, reports, state_dir, say=lambda text: print(text, flush=True),
                           recorder=recorder)
    print()
    print_summary(results)
    passed = sum(r.verdict == "pass" for r in results)
    unmeasured = [r.drill for r in results if r.verdict == "not measured"]
    apart = f" ({len(unmeasured)} not measured: {', '.join(unmeasured)})" if unmeasured else ""
    print(f"\n{passed} of {len(results)} drills passed{apart} in {time.monotonic() - started:.0f} s. Each report is "
          f"report.md and index.html (with PNG plots) beside its journal.json under {reports.resolve()}/")
    return exit_code([r.verdict for r in results])
