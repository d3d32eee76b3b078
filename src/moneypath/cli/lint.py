"""`moneypath lint`: the generated rules, dashboards, runbook pages, drill files and the scenario file against the
catalog; with --prometheus, against a live Prometheus too."""

from __future__ import annotations

import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath.catalog import load_catalog
from moneypath.cli import where


def add_commands(commands, catalog_arg, state_arg) -> None:
    lint = commands.add_parser(
        "lint", help="check the generated rules against the catalog and the runbooks",
        description="Every alert has severity, summary, description, runbook_url and dashboard_url, and its runbook "
                    "page exists; every expression parses (promtool); rate() only on counters; no label or value "
                    "outside the catalog (=, != and every alternative of a =~ or !~ regex, in the rules and the "
                    "dashboards); no range longer than retention; the runbook pages, drill files and scenario file "
                    "(loadtests/scenarios.yaml, if there is one) are sound; the catalog's money-path map has a "
                    "signal on every edge, every provider on a node, and the card-number guard if a node of the "
                    "team's own is in PCI scope (without a money_path: section: not measured, said in one line). "
                    "Runbook SQL must be one read (SELECT or WITH); with --db-url it is also prepared (EXPLAIN, "
                    "never run) on your database, otherwise the SQL steps are counted as not checked. One line per "
                    "problem, exit 1 if any. With --prometheus, every metric and label the rules and dashboards "
                    "read must be on that server, and no target may have counted an instrumentation error (a label "
                    "value outside the catalog, a route recorded as \"other\", several workers without "
                    "PROMETHEUS_MULTIPROC_DIR; the service's log names which). The TODOs `moneypath init` left are "
                    "counted, one line per file: your "
                    "work list, never a failure.")
    catalog_arg(lint)
    lint.add_argument("--root", metavar="DIR", default=".", help="repository root (default: .)")
    lint.add_argument("--retention", metavar="DURATION",
                      help="Prometheus retention to check ranges against (default: what `moneypath up` sets, "
                           "the longest SLO window or 7d, plus a day)")
    # --prometheus (the top parser's, never from the run config here): also check that every metric and label the
    # rules and dashboards read exists on it, and that no target counted an instrumentation error (a label value
    # outside the catalog, a route recorded as "other", several workers without PROMETHEUS_MULTIPROC_DIR); exit 2
    # if it cannot be reached, 3 if it holds none (not measured)
    where.prometheus_arg(lint)
    lint.add_argument("--lookback", metavar="DURATION", default="1d",
                      help="with --prometheus: how far back a metric counts as present (default 1d)")
    lint.add_argument("--db-url", metavar="URL",
                      help="your service's database (SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB) "
                           "to prepare the runbooks' SQL steps on; opened read-only (SQLite mode=ro, PostgreSQL "
                           "read-only transactions) and nothing is executed. A read-only user is enough.")
    lint.set_defaults(run=_lint)


def _lint(args) -> int:
    from moneypath.catalog import duration_seconds
    from moneypath.check.lint import lint, lint_verdict
    from moneypath.check.runbooks import BadDbUrl, DatabaseUnavailable, sql_steps
    from moneypath.check.todos import count_todos
    from moneypath.generate.prometheus_config import retention

    if args.retention is not None:
        try:
            if duration_seconds(args.retention) <= 0:
                raise ValueError(f"{args.retention!r} must be longer than 0")
        except ValueError as exc:
            print(f"moneypath: --retention: {exc} (e.g. 15d, 31d, 1y)", file=sys.stderr)
            return ExitCode.USAGE
    try:
        lookback_s = duration_seconds(args.lookback)
    except ValueError as exc:
        print(f"moneypath: --lookback: {exc} (e.g. 1h, 1d)", file=sys.stderr)
        return ExitCode.USAGE
    catalog = load_catalog(args.catalog)
    try:
        problems = lint(catalog, Path(args.root), args.retention or retention(catalog), db_url=args.db_url)
    except BadDbUrl as exc:
        print(f"moneypath: --db-url: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except DatabaseUnavailable as exc:
        print(f"moneypath: --db-url: {exc}", file=sys.stderr)
        return ExitCode.FAIL
    unmeasured = None
    if args.prometheus:
        from moneypath._common.prometheus import PrometheusError
        from moneypath.check.live import lint_live

        try:
            live, unmeasured = lint_live(Path(args.root), args.prometheus, args.lookback, lookback_s, catalog)
        except PrometheusError as exc:
            print(f"moneypath: --prometheus: {exc}", file=sys.stderr)
            return ExitCode.USAGE
        problems += live
        if unmeasured:
            print(f"lint: against {args.prometheus}: {unmeasured}")
        else:
            print(f"lint: {'no' if not live else len(live)} metric or label problem(s) against {args.prometheus}")
    for line in problems:
        print(line, file=sys.stderr)
    if args.db_url is None:
        from moneypath.check.ledger_queries import declared

        for one, many, unchecked in (("SQL diagnosis step", "SQL diagnosis steps", sql_steps(catalog, Path(args.root))),
                                     ("money-check query", "money-check queries", declared(catalog))):
            if unchecked:
                print(f"lint: {len(unchecked)} {one if len(unchecked) == 1 else many} not checked "
                      "(give --db-url to check them against your database)")
    from moneypath.check.map_lint import not_declared

    if unmapped := not_declared(catalog):
        print(f"lint: money-path map {unmapped}")
    todos = count_todos(Path(args.root))
    for rel, n in todos.items():
        print(f"{rel}: {n} TODO{'s' if n > 1 else ''} left from moneypath init")
    left = f" ({sum(todos.values())} TODOs in {len(todos)} files still yours to fill in; they do not fail the lint)" \
        if todos else ""
    if not problems:
        print(f"lint: no problems{left}" if not unmeasured else f"lint: no problems found, but not measured{left}")
    # 0 clean, 1 problems, 3 nothing found but the live check measured nothing (docs/cli/index.md)
    return lint_verdict(problems, unmeasured).exit_code
