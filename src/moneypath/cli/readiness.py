"""`moneypath readiness`: every paging alert's runbook, rule test, drill file, last pass, trend and roles, from the
drill history (never rehearsed first); `moneypath readiness serve`: the same as Prometheus series."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath._common.verdict import NOT_MEASURED, exit_code

DEFAULT_LISTEN = "127.0.0.1:9479"
LABEL = {"pass": "READY", "fail": "LAPSED", NOT_MEASURED: "NOT MEASURED"}


def add_commands(commands, catalog_arg, state_arg) -> None:
    readiness = commands.add_parser(
        "readiness", help="which paging alerts were rehearsed, when, and how fast they paged",
        description="For every paging alert of the catalog: its runbook, promtool rule test, drill file, last "
                    "passing drill, the trend of its times to page/diagnose/recover (real time) and the roles that "
                    "answered, from the drill history; never-rehearsed alerts first. Exit 0 all ready, 1 some "
                    "lapsed (no pass within readiness.policy_days) or not ready (a drill's latest run failed, or "
                    "its pages reach no delivery), 3 some never rehearsed (not measured).")
    _common(readiness, catalog_arg)
    readiness.add_argument("--json", action="store_true", help="print the report as JSON")
    actions = readiness.add_subparsers(dest="readiness_command", metavar="ACTION")
    serve = actions.add_parser(
        "serve", help="export readiness to Prometheus",
        description="Serve the readiness series on /metrics (names: docs/readiness.md), read from the drill history "
                    "whenever it changes; or, with --textfile, write them once for node_exporter's textfile "
                    "collector.")
    _common(serve, catalog_arg)
    serve.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_LISTEN,
                       help=f"where to serve /metrics (default {DEFAULT_LISTEN})")
    serve.add_argument("--textfile", metavar="PATH", default=None,
                       help="write the exposition to PATH (atomically) and exit, instead of serving")
    serve.set_defaults(run=_serve)
    readiness.set_defaults(run=_report)


def _common(parser, catalog_arg) -> None:
    catalog_arg(parser)
    parser.add_argument("--environment", metavar="NAME", default=None,
                        help="judge only the drills run against this environment (default: every one on record)")


def history_dir(args) -> Path:
    """The history `drill run` and `evidence` use: one default, moneypath.readiness.history's."""
    from moneypath.cli.history import history_option
    from moneypath.readiness.history import history_dir as resolve

    return resolve(history_option(args), args.catalog)


def _view(args):
    from moneypath.catalog import load_catalog
    from moneypath.readiness.gauges import HistoryView

    catalog = load_catalog(args.catalog)
    return HistoryView(catalog, history_dir(args), Path(args.catalog).parent, args.environment)


def _report(args) -> int:
    view = _view(args)
    alerts = view.judged()
    if not view.verified:
        print(f"moneypath readiness: the drill history {view.history_dir} does not verify: {view.problem}",
              file=sys.stderr)
        return ExitCode.FAIL
    if args.json:
        print(json.dumps({"history": str(view.history_dir), "records": len(view.records),
                          "alerts": [asdict(a) for a in alerts]}, indent=2))
    else:
        print(render(alerts, view, time.time()))
    return exit_code(a.status for a in alerts)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _when(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d", time.gmtime(ts)) + f" ({(now - ts) / 86400:.0f} days ago)"


def render(alerts, view, now: float) -> str:
    lines = [f"readiness of {len(alerts)} paging alert(s) from {view.history_dir} ({len(view.records)} record(s)"
             + (f", environment {view.environment}" if view.environment else "") + ")"]
    for a in alerts:
        label = "NOT READY" if a.status == "fail" and a.blocked else LABEL[a.status]
        lines.append(f"{label:<13} {a.alert}: {a.why}")
        lines.append(f"    runbook {a.runbook or 'none'} · rule test {', '.join(a.rule_tests) or 'none'} · drill "
                     f"{', '.join(a.drill_files) or 'none'} · last pass {_when(a.last_pass, now)}")
        if a.runs:
            for what in ("page", "diagnose", "recover"):
                times = ", ".join(_duration(getattr(r, f"time_to_{what}_s")) for r in a.runs[:6])
                lines.append(f"    time to {what:<8} (newest first): {times}")
        deadline = _duration(a.deadline_s) if a.deadline_s is not None else "none"
        trend = a.trend_why if a.trend == NOT_MEASURED else f"{a.trend}: {a.trend_why}"
        lines.append(f"    trend {trend} (deadline {deadline}: {a.deadline_from})")
        answered = ", ".join(f"{r.get('role')} by {r.get('who') or 'nobody'}"
                             + (" (late)" if r.get("late") else "") + ("" if r.get("answered_at") else " (no answer)")
                             for r in a.roles)
        lines.append(f"    roles: {answered or 'none on record'}")
    return "\n".join(lines)


def _serve(args) -> int:
    from moneypath.readiness.gauges import serve, write_textfile

    view = _view(args)
    if args.textfile:
        write_textfile(view, Path(args.textfile))
        print(f"wrote {args.textfile}")
        return 0
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        print(f"moneypath readiness serve: --listen {args.listen!r} is not HOST:PORT", file=sys.stderr)
        return ExitCode.USAGE
    view.refresh()
    server, _ = serve(view, host.strip("[]"), int(port))
    print(f"serving readiness of {args.catalog} from {view.history_dir} on http://{args.listen}/metrics", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.shutdown()
