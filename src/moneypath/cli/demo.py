"""`moneypath demo`: every drill in runbooks/drills/, end to end, with reports and a summary table."""

from __future__ import annotations

from pathlib import Path

from moneypath.catalog import load_catalog
from moneypath.cli.history import history_options, recorder


def add_commands(commands, catalog_arg, state_arg) -> None:
    demo = commands.add_parser(
        "demo", help="every drill in runbooks/drills/, end to end, with reports and a summary table",
        description="Run every drill in runbooks/drills/, each on a fresh local stack with 1 s intervals and the rules "
                    "compressed 60x (provider simulator, reference service, Prometheus, Alertmanager, pager): baseline "
                    "payments, a fault, the pages as they arrive, the runbook's evidence, mitigation, recovery and the "
                    "ledger. Two drills run at once, each in its own process (a drill with a peak alone); each line "
                    "is shown after its drill's name. Writes reports/<drill>-<time>/ and prints a summary; exit 1 if "
                    "any drill fails, 3 if "
                    "none failed but one was not measured (the healthy peak on a machine without the headroom for "
                    "it). A drill that kills a monitoring replica (replica_down) needs the HA stack: it is skipped, "
                    "with a line saying how to run it (MONEYPATH_HA=1 moneypath drill run FILE).")
    catalog_arg(demo)
    state_arg(demo, default=".moneypath/demo")
    history_options(demo, team_default=False)
    demo.set_defaults(run=_demo)


def _demo(args) -> int:
    from moneypath.drills.demo import run_demo

    return run_demo(load_catalog(args.catalog), Path(args.state_dir), recorder=recorder(args, team_default=False))
