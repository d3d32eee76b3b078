"""`moneypath drill run FILE` for canary drill files (`kind: canary`): the drill runner hands them here. Each
runs on a fresh local stage of the reference service (baseline and canary tracks, moneypath.canary.stage)
and writes reports/<drill>-<time>/ (journal.json, report.md). Exit 0 when every release got the verdict it
expected, 1 when one did not, 3 when one got none (inconclusive), 2 on a bad file."""

from __future__ import annotations

import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath._common.verdict import exit_code


def worst_exit(*codes: int) -> int:
    """The exit code of several runs: a bad usage or an interruption first, then a fail, then not measured."""
    order = [ExitCode.USAGE, ExitCode.INTERRUPTED, ExitCode.FAIL, ExitCode.NOT_MEASURED, ExitCode.PASS]  # worst first
    return min(codes, key=lambda c: order.index(c) if c in order else -1)


def canary_files(files: list[str]) -> list[str]:
    from moneypath.canary.drill_file import is_canary_drill

    return [f for f in files if is_canary_drill(Path(f))]


def check_canary_files(files: list[str], catalog) -> tuple[list[str], list[str]]:
    """`moneypath drill check` for canary drill files: (an OK line per good file, a line per problem)."""
    from moneypath.canary.drill_file import load_canary_drill
    from moneypath.drills.hooks import unset_in_file
    from moneypath.formats.drill import DrillError

    root = Path(catalog.path).resolve().parent
    ok, problems = [], []
    for f in files:
        try:
            d = load_canary_drill(Path(f), catalog, root)
        except DrillError as exc:
            problems += exc.problems
            continue
        unset = unset_in_file(d.path, Path(f), root) or []  # a ${NAME} the environment lacks: sent as written
        if unset:
            problems += unset
            continue
        ok.append(f"{d.path}: OK — canary drill, {d.rate:g} payments/s, {d.weight:.0%} to the canary, "
                  f"{len(d.releases)} release(s): " + ", ".join(f"{r.name} ({r.expect})" for r in d.releases))
    return ok, problems


def run_canary_files(args, files: list[str], spec) -> int:
    """Run the canary drill files on stages of their own, where `spec` (the RunSpec `drill run` built once) says:
    its state directory, its stack's shape (the stage's own: moneypath.canary.stage)."""
    from moneypath.canary.drill_file import load_canary_drill
    from moneypath.canary.drill_run import summary
    from moneypath.canary.stage import run_canary_drill
    from moneypath.catalog import load_catalog
    from moneypath.drills.hooks import unset_in_file
    from moneypath.formats.drill import DrillError

    if spec.target.service or spec.target.prometheus or spec.stack.ha or spec.stack.postgres:
        print("moneypath drill: a canary drill starts its own stage (baseline and canary): no --target-*, --ha or "
              "--postgres", file=sys.stderr)
        return ExitCode.USAGE
    catalog = load_catalog(args.catalog)
    root = Path(catalog.path).resolve().parent
    drills, problems = [], []
    for f in files:
        try:
            drills.append(load_canary_drill(Path(f), catalog, root))
        except DrillError as exc:
            problems += exc.problems
            continue
        problems += unset_in_file(drills[-1].path, Path(f), root) or []  # before any load: sent as written
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        return ExitCode.USAGE
    verdicts = []
    for drill in drills:
        journal, _ = run_canary_drill(drill, catalog, Path(args.reports), state_dir=spec.state_dir / "canary",
                                      say=lambda text: print(text, flush=True), shape=spec.stack)
        print()
        for row in summary(journal):
            print(f"  {row['release']:<20} expected {row['expected']:<5} judge {row['verdict']:<13} after "
                  f"{row['time_to_verdict']:>6}  canary sample {row['canary']:>5}  {row['result'].upper()}")
        verdicts.append(journal["verdict"])
    return exit_code(verdicts)
