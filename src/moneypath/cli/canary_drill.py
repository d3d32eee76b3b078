"""`moneypath drill run FILE` for canary drill files (`kind: canary`): the drill runner hands them here. Each
runs on a fresh local stage of the reference service (baseline and canary tracks, moneypath.drills.canary_stage)
and writes reports/<drill>-<time>/ (journal.json, report.md). Exit 0 when every release got the verdict it
expected, 1 when one did not, 3 when one got none (inconclusive), 2 on a bad file."""

from __future__ import annotations

import sys
from pathlib import Path

from moneypath._common.verdict import EXIT_USAGE, exit_code


def canary_files(files: list[str]) -> list[str]:
    from moneypath.formats.canary_drill import is_canary_drill

    return [f for f in files if is_canary_drill(Path(f))]


def run_canary_files(args, files: list[str]) -> int:
    from moneypath.catalog import load_catalog
    from moneypath.drills.canary import summary
    from moneypath.drills.canary_stage import run_canary_drill
    from moneypath.formats.canary_drill import load_canary_drill
    from moneypath.formats.drill import DrillError

    if len(files) != len(args.files):
        others = ", ".join(f for f in args.files if f not in files)
        print(f"moneypath drill: canary drill files run alone: run {others} separately", file=sys.stderr)
        return EXIT_USAGE
    if any(getattr(args, name, None) for name in ("target_service", "target_prometheus", "ha", "postgres")):
        print("moneypath drill: a canary drill starts its own stage (baseline and canary): no --target-*, --ha or "
              "--postgres", file=sys.stderr)
        return EXIT_USAGE
    catalog = load_catalog(args.catalog)
    root = Path(catalog.path).resolve().parent
    drills, problems = [], []
    for f in files:
        try:
            drills.append(load_canary_drill(Path(f), catalog, root))
        except DrillError as exc:
            problems += exc.problems
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    verdicts = []
    for drill in drills:
        journal, _ = run_canary_drill(drill, catalog, Path(args.reports), state_dir=Path(args.state_dir) / "canary",
                                      say=lambda text: print(text, flush=True))
        print()
        for row in summary(journal):
            print(f"  {row['release']:<20} expected {row['expected']:<5} judge {row['verdict']:<13} after "
                  f"{row['time_to_verdict']:>6}  canary sample {row['canary']:>5}  {row['result'].upper()}")
        verdicts.append(journal["verdict"])
    return exit_code(verdicts)
