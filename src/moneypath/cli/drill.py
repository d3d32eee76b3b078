"""`moneypath drill run | check | report`: the options, and what each prints. Where a run drills and whether each
drill can run there is moneypath.drills.placement; the run itself moneypath.drills.runner."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath._common.verdict import exit_code
from moneypath.cli import where
from moneypath.cli.history import history_options, recorder

LANE_ENV = "MONEYPATH_DRILL_LANE"  # set by moneypath demo for each of its lanes' runs: no summary table

TARGET_HELP = """\
Without a target the runner starts a fresh local stack per drill (provider simulator, reference
service with faults on, Prometheus with the rules compressed 60x, Alertmanager, pager) and stops it
afterwards, shaped by the run config's stack: section or $MONEYPATH_ENGINE (vm), $MONEYPATH_HA,
$MONEYPATH_INSTANCES and $MONEYPATH_POSTGRES (as `moneypath up --engine/--ha/--instances/--postgres`).
With a target (--target-* options, $MONEYPATH_TARGET_*, or the target: section of moneypath.run.yaml)
it drills a running environment instead, your own service too:

  --target-service and --target-prometheus are required, and --target-pager (moneypath pager) or
  --target-alertmanager to see the pages; --target-faultproxy (moneypath faultproxy), --target-providersim
  or the service itself for the drill's fault (fault.where); --db-url for the SQL evidence and the money
  checks (opened read-only); target.instances ($MONEYPATH_TARGET_INSTANCES) the service's other instances,
  target.probe_headroom ($MONEYPATH_PROBE_HEADROOM=1) a probe of what it carries before a declared peak.
  The record's environment, checkpoints and signing key: history.* ($MONEYPATH_ENVIRONMENT,
  $MONEYPATH_HISTORY_CHECKPOINTS, $MONEYPATH_HISTORY_SIGNING_KEY).
  The drill's load calls the API as its load.requests say; their auth: minted needs MONEYPATH_TOKEN_SECRET
  (or MONEYPATH_DRILL_TOKEN), bearer the variable in token_env, none nothing.
  Faults through a fault API need an admin:faults token: MONEYPATH_TOKEN_SECRET or MONEYPATH_DRILL_ADMIN_TOKEN.
  ${NAME} in load.requests, hook faults and actions is read from the environment (unset: exit 2, before any
  load). Before anything is broken, one payment goes through the drill's requests: an API that does not
  answer as they say stops the run (exit 2).
  --time-factor says how much faster than production the target's rules run (1 = the committed rules;
  `moneypath up --target ... --time-factor 60` runs them 60x): drill durations are written for the
  local 60x stack and stretched. A drill with replica_down kills processes only of the stack `moneypath up
  --ha` recorded in --state-dir, when --target-prometheus is one of its pair.
"""


def add_commands(commands, catalog_arg, state_arg) -> None:
    drill = commands.add_parser("drill", help="run scripted incident drills (runbooks/drills/*.yaml)",
                                description="Break the money path on purpose and check that the right page arrives, "
                                            "that the runbook finds the evidence, that mitigation recovers, and that "
                                            "the money stays whole. Writes reports/<drill>-<time>/.")
    actions = drill.add_subparsers(dest="drill_command", metavar="ACTION")
    actions.required = True

    run = actions.add_parser("run", help="run drills and write their reports; exit 1 if any objective fails, "
                                                "3 if a verdict rests on what was not measured",
                             description="Run each drill file: baseline load, steady state, fault, pages, runbook "
                                         "evidence, mitigation, recovery and money impact; then a journal, "
                                         "a report (markdown, HTML, PNG) and a summary table.",
                             epilog=TARGET_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("files", nargs="+", metavar="FILE", help="drill files, e.g. runbooks/drills/*.yaml")
    catalog_arg(run)
    state_arg(run)
    run.add_argument("--reports", metavar="DIR", default="reports", help="where reports go (default: reports)")
    run.add_argument("--interactive", action="store_true",
                     help="after each drill, prompt every role for its first-hour checkpoint and record the answers")
    where.target_options(run, db_url=True, time_factor=True)
    history_options(run, team_default=True)
    run.add_argument("--halt-burn", action="append", default=[], metavar="SLO=FACTOR",
                     help="a game day's halt condition, repeatable: clear every drill's fault once the SLO burns its "
                          "error budget faster than FACTOR over its shortest paging window")
    run.add_argument("--halt-alert", action="append", default=[], metavar="ALERT",
                     help="a game day's halt condition, repeatable: clear every drill's fault once the catalog alert "
                          "crosses its line (pending or firing); not for a drill that expects or allows that alert")
    run.set_defaults(run=_run)

    check = actions.add_parser("check", help="validate drill files; one line per problem",
                               description="Validate drill files against the catalog, the runbooks and the fault "
                                           "APIs without running anything. Exit 2 if any is invalid.")
    check.add_argument("files", nargs="+", metavar="FILE")
    catalog_arg(check)
    check.add_argument("--time-factor", type=float, default=None, metavar="F",
                       help="how much faster than production the rules the drills will run on are (default: the "
                            "local drill stack's 60): refuse a drill whose load cannot meet an expected alert's "
                            "minimum-event guard at that factor")
    check.set_defaults(run=_check)

    report = actions.add_parser("report", help="render a report again from its journal.json",
                                description="Render report.md, index.html and the PNGs from a drill journal alone.")
    report.add_argument("journal", metavar="JOURNAL", help="a reports/<drill>-<time>/journal.json")
    report.add_argument("--out", metavar="DIR", help="where to write (default: the journal's directory)")
    report.set_defaults(run=_report)


def _load(files: list[str], catalog_path: str):
    from moneypath.catalog import load_catalog
    from moneypath.check.drill_files import load_drill
    from moneypath.formats.drill import DrillError

    catalog = load_catalog(catalog_path)
    root = Path(catalog.path).resolve().parent
    drills, problems = [], []
    for f in files:
        try:
            drills.append(load_drill(Path(f), catalog, root))
        except DrillError as e:
            problems += e.problems
    return catalog, drills, problems


def _guard_problems(drills, catalog, factor: float) -> list[str]:
    """One line per drill whose load cannot meet an expected alert's minimum-event guard at `factor`."""
    from moneypath.catalog.load import key_lines
    from moneypath.check.drill_files import alert_names, resolve_alert
    from moneypath.drills.event_guards import shortfalls

    known = alert_names(catalog)
    root = Path(catalog.path).resolve().parent
    out = []
    for d in drills:
        found = shortfalls(d, catalog, factor, lambda name: resolve_alert(name, catalog, known))
        lines = key_lines((root / d.path).read_text(encoding="utf-8")) if found else {}
        out += [s.line(d, factor, lines) for s in found]
    return out


def _check(args) -> int:
    from moneypath.cli.canary_drill import canary_files, check_canary_files
    from moneypath.drills import hooks
    from moneypath.formats.drill import LOCAL_TIME_FACTOR

    canary = canary_files(args.files)  # kind: canary: checked as canary drill files
    catalog, drills, problems = _load([f for f in args.files if f not in canary], args.catalog)
    canary_ok, canary_problems = check_canary_files(canary, catalog)
    problems += canary_problems
    given = getattr(args, "time_factor", None)
    factor = LOCAL_TIME_FACTOR if given is None else given
    if factor <= 0:
        problems.append("moneypath drill check: --time-factor must be positive")
    refused = set()
    for d in drills:  # a ${NAME} the environment lacks would be sent as written
        unset = hooks.unset_env(d, Path(catalog.path).resolve().parent)
        problems += unset
        refused |= {d.path} if unset else set()
    for d in drills if factor > 0 else ():
        short = _guard_problems([d], catalog, factor)
        problems += short
        refused |= {d.path} if short else set()
    for line in problems:
        print(line, file=sys.stderr)
    for d in (d for d in drills if d.path not in refused):
        print(f"{d.path}: OK — rehearses {d.runbook_alert}, "
              f"{_shape(d)}, "
              f"{len(d.alerts.expected)} expected alert(s), {len(d.diagnosis.steps)} diagnosis step(s)")
    for line in canary_ok:
        print(line)
    return ExitCode.USAGE if problems else 0


def _shape(d) -> str:
    if d.tabletop_only:
        return "tabletop only (no load or fault yet)"
    shape = f"fault {d.fault.name}" if d.fault else "no fault (peak load)"
    if d.replica_down:
        shape += (", kills " + " and ".join(f"{k.component} {k.replica}" for k in d.replica_down)
                  + " mid-incident (run with MONEYPATH_HA=1)")
    return shape


def _run(args) -> int:
    from moneypath.cli.canary_drill import canary_files, run_canary_files, worst_exit
    from moneypath.drills import hooks
    from moneypath.drills.baseline_load import TemplateError
    from moneypath.drills.placement import NotReady, cannot_run, placement
    from moneypath.drills.runner import LocalStacks, Operator, preflight, print_summary, run_drills
    from moneypath.drills.scraped_preflight import refusal
    from moneypath.formats.drill import LOCAL_TIME_FACTOR
    from moneypath.readiness.history import HistoryError
    from moneypath.stack.state import StackError

    try:  # where the drills run: options, environment, moneypath.run.yaml, once
        spec = where.run_spec(args)
    except StackError as exc:
        print(f"moneypath drill: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if canary := canary_files(args.files):  # kind: canary: after the incident drills, on a stage of their own
        rest = [f for f in args.files if f not in canary]
        first = _run(argparse.Namespace(**{**vars(args), "files": rest})) if rest else 0
        return worst_exit(first, run_canary_files(args, canary, spec))
    catalog, drills, problems = _load(args.files, args.catalog)
    problems += [line for d in drills for line in hooks.unset_env(d, Path(catalog.path).resolve().parent)]
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        return ExitCode.USAGE
    if args.halt_burn or args.halt_alert:
        from moneypath.drills.gameday import HaltError, add_halts, parse_burns

        try:
            for line in add_halts(drills, catalog, parse_burns(args.halt_burn), args.halt_alert):
                print(line, flush=True)
        except HaltError as exc:
            print(f"moneypath drill: {exc}", file=sys.stderr)
            return ExitCode.USAGE
    try:
        record = recorder(args, team_default=True)
    except HistoryError as exc:
        print(f"moneypath drill: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        target = placement(drills, spec)
    except NotReady as exc:
        print(f"moneypath drill: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    short = _guard_problems(drills, catalog, target.time_factor if target is not None else LOCAL_TIME_FACTOR)
    if short:
        for line in short:
            print(line, file=sys.stderr)
        return ExitCode.USAGE
    for d in drills if target is not None else ():
        why, seen = cannot_run(d, target), set()
        if why is None:
            try:
                print(f"{d.path}: preflight: {preflight(d, catalog, target, seen)}", flush=True)
                why = refusal(catalog, target, seen, lambda line, path=d.path: print(f"{path}: {line}", flush=True))
            except TemplateError as exc:
                why = f"{d.path}: the service does not answer as load.requests say: {exc}"
        if why is not None:
            print(f"moneypath drill: {why}", file=sys.stderr)
            return ExitCode.USAGE
    operator = Operator(say=lambda text: print(text, flush=True), ask=input if args.interactive else None)
    results = run_drills(drills, catalog, Path(args.reports), target,
                         stacks=LocalStacks(spec.state_dir / "drills", spec.stack), operator=operator,
                         recorder=record)
    if not os.environ.get(LANE_ENV):
        print()
        print_summary(results)
    if any(r.interrupted for r in results):
        return ExitCode.INTERRUPTED
    # 0 every drill passed, 1 one failed, 3 none failed but one rests on what was not measured
    return exit_code([r.verdict for r in results]) if results else ExitCode.FAIL


def _report(args) -> int:
    from moneypath.catalog import DEFAULT_PATH, load_catalog
    from moneypath.drills.report.rendering import ReportError, rerender

    # --catalog: the one money is shown in (default: $MONEYPATH_CATALOG, else ./moneypath.yaml, else ISO 4217's)
    catalog_path = args.catalog or os.environ.get("MONEYPATH_CATALOG") or \
        (DEFAULT_PATH if Path(DEFAULT_PATH).is_file() else None)
    catalog = load_catalog(catalog_path) if catalog_path else None
    try:
        path = rerender(Path(args.journal), Path(args.out) if args.out else None, catalog)
    except ReportError as exc:
        print(f"moneypath drill report: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except OSError as exc:  # the report directory could not be written (nothing partial is left)
        print(f"moneypath drill report: cannot write the report: {exc.strerror or exc}", file=sys.stderr)
        return ExitCode.USAGE
    print(f"wrote {path}")
    return 0
