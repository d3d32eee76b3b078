"""`moneypath alerts backtest`: how often every alert would have fired over past data (moneypath.check.backtest)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath.cli import where

EPILOG = """Every generated alert of the catalog (its own expr: alerts included) and every alert in --rules files is
evaluated at each step of the range (query_range), with the recording rules written into the expressions,
so the history needs only the raw metrics. for: is honoured: a series fires once its condition held that
long without a gap. The alerts of one name are merged (one notification group): "fired" counts the times
it started firing, "pages/week" those of its severity=page rules per 7 days of range.

examples:
  moneypath alerts backtest --prometheus http://prometheus:9090 --range 7d
  moneypath alerts backtest --prometheus http://127.0.0.1:9090 --range 30d --step 5m --max-pages-per-week 2
  moneypath alerts backtest --prometheus URL --range 7d --rules ops/extra-alerts.yaml --json > backtest.json

exit: 0 within the budget, 1 an alert pages more than --max-pages-per-week, 2 bad input or no Prometheus."""


def add_commands(commands, catalog_arg, state_arg) -> None:
    alerts = commands.add_parser("alerts", help="test the alert rules against history",
                                 description="Tools for the alert rules the catalog generates.")
    actions = alerts.add_subparsers(dest="alerts_command", metavar="ACTION")
    actions.required = True
    backtest = actions.add_parser(
        "backtest", help="how often each alert would have fired and paged over past data; exit 1 over a noise budget",
        description="Evaluate every alert over a range of history at the evaluation step, honouring for:, and "
                    "print per alert how many times it would have fired, for how long in all, and pages per week.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    catalog_arg(backtest)
    where.prometheus_arg(backtest, required=True)  # --prometheus: the one holding the history
    backtest.add_argument("--range", metavar="DURATION", default="7d", dest="range_",
                          help="how far back from --end (default 7d)")
    backtest.add_argument("--step", metavar="DURATION", default="1m",
                          help="evaluation interval to replay (default 1m; your Prometheus' evaluation_interval)")
    backtest.add_argument("--end", metavar="TIME", default="now",
                          help="end of the range: now (default), Unix seconds or RFC 3339 (2026-11-23T06:00:00Z)")
    backtest.add_argument("--max-pages-per-week", metavar="N", type=float,
                          help="noise budget: exit 1 when an alert would page more often than this")
    backtest.add_argument("--rules", metavar="FILE", action="append", default=[],
                          help="a Prometheus rule file with more alerts or recording rules (repeatable)")
    backtest.add_argument("--json", action="store_true", help="print the result as JSON (firing intervals included)")
    backtest.set_defaults(run=_run)


def _fail(message: str, code: int = ExitCode.USAGE) -> int:
    print(f"moneypath alerts backtest: {message}", file=sys.stderr)
    return code


def _end(text: str) -> float:
    if text == "now":
        return time.time()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--end: {text!r} is not now, Unix seconds or RFC 3339 (2026-11-23T06:00:00Z)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _run(args) -> int:
    from moneypath._common.prometheus import Prometheus, PrometheusError
    from moneypath.catalog import duration_seconds, load_catalog
    from moneypath.check.backtest import evaluate
    from moneypath.check.lint import load_rules
    from moneypath.generate.rules import alert_rules, recording_rules

    try:
        range_s, step_s = duration_seconds(args.range_), duration_seconds(args.step)
        end = _end(args.end)
    except ValueError as exc:
        return _fail(str(exc).replace("not a Prometheus duration", "--range/--step: not a Prometheus duration"))
    if step_s < 1 or range_s < step_s:
        return _fail("--step must be at least 1s and --range at least one step")
    if args.max_pages_per_week is not None and args.max_pages_per_week < 0:
        return _fail("--max-pages-per-week must be 0 or more")
    catalog = load_catalog(args.catalog)
    recording = [r for g in recording_rules(catalog)["groups"] for r in g["rules"]]
    alerting = [r for g in alert_rules(catalog)["groups"] for r in g["rules"]]
    for path in args.rules:
        rules, error = load_rules(Path(path))
        if error:
            return _fail(f"{path}: {error}")
        recording += [r for r in rules if "record" in r and "expr" in r]
        alerting += [r for r in rules if "alert" in r and "expr" in r]
    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    say(f"backtest: {len(alerting)} alert rules over {args.range_} at {args.step} from {args.prometheus}")
    try:
        with Prometheus(args.prometheus, timeout_s=300) as prom:
            prom.get("/api/v1/status/buildinfo")
            result = evaluate(prom, alerting, recording, end - range_s, end, args.step, say)
    except PrometheusError as exc:
        return _fail(str(exc))
    budget = args.max_pages_per_week
    over = result.over_budget(budget) if budget is not None else []
    if args.json:
        print(json.dumps(_as_json(result, budget), indent=2))
    else:
        _print_table(result)
    if result.kept:
        say(f"backtest: read from the server's recorded history, not inlined: {', '.join(sorted(result.kept))}")
    say(f"backtest: {len(alerting)} rules over {args.range_} at {args.step} in {result.seconds:.1f} s")
    for r in over:
        say(f"OVER BUDGET: {r.alert} pages {r.pages_per_week(result.range_s):.1f} times a week "
            f"(budget {budget:g})")
    return ExitCode.FAIL if over else 0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_json(result, budget) -> dict:
    return {"start": _iso(result.start), "end": _iso(result.end), "step_s": result.step_s,
            "seconds": round(result.seconds, 1), "inlined_except": sorted(result.kept),
            "max_pages_per_week": budget,
            "alerts": [{"alert": r.alert, "severity": r.severity, "fired": len(r.fired),
                        "firing_s": r.firing_s, "pages": len(r.paged),
                        "pages_per_week": round(r.pages_per_week(result.range_s), 2),
                        "firings": [{"start": _iso(a), "end": _iso(b)} for a, b in r.fired],
                        "pagings": [{"start": _iso(a), "end": _iso(b)} for a, b in r.paged]}
                       for r in result.results]}


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _print_table(result) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"alerts over {_iso(result.start)} – {_iso(result.end)} (step {result.step_s:g} s)")
    for column in ("alert", "severity", "fired", "firing in all", "pages/week", "first firings"):
        table.add_column(column, justify="right" if column in ("fired", "firing in all", "pages/week") else "left")
    for r in sorted(result.results, key=lambda r: (r.severity == "none", -len(r.paged), -len(r.fired), r.alert)):
        if r.severity == "none":
            table.add_row(r.alert, "none", "—", _duration(r.firing_s), "—", "heartbeat (always firing)")
            continue
        table.add_row(r.alert, r.severity, str(len(r.fired)), _duration(r.firing_s),
                      f"{r.pages_per_week(result.range_s):.1f}",
                      ", ".join(_iso(a)[5:16].replace("T", " ") for a, _ in r.fired[:3])
                      + (" …" if len(r.fired) > 3 else ""))
    Console(width=160).print(table)
