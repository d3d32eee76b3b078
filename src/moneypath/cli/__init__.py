"""`moneypath …` command line. Errors are one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from moneypath import __version__
from moneypath.catalog import DEFAULT_PATH, CatalogError, find_catalog, load_catalog, summary
from moneypath.cli import extras

EXIT_USAGE = 2
EXIT_CATALOG = 3


def _catalog_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", metavar="PATH", default=None,
                        help="catalog file (default: $MONEYPATH_CATALOG, else moneypath.yaml in --root if the "
                             "command has one, else the nearest moneypath.yaml in the first FILE's directory (or "
                             "the current one) or above it, up to the repository root)")
    parser.set_defaults(default_catalog=True)


def _default_catalog(args: argparse.Namespace) -> None:
    """--catalog when not given: the environment's, else the project's under --root, else the nearest moneypath.yaml
    from the first file's directory (drills in ops/runbooks/drills/ find ops/moneypath.yaml) or the current one."""
    if not getattr(args, "default_catalog", False) or args.catalog is not None:
        return
    root = getattr(args, "root", None)
    if os.environ.get("MONEYPATH_CATALOG"):
        args.catalog = os.environ["MONEYPATH_CATALOG"]
    elif root is not None:  # a project root: its catalog, and no other
        args.catalog = str(Path(root) / DEFAULT_PATH) if root != "." else DEFAULT_PATH
    else:
        files = getattr(args, "files", None) or []
        start = Path(files[0]).parent if files else Path.cwd()
        found = find_catalog(start)
        if found is None:
            args.catalog, args.catalog_searched = DEFAULT_PATH, start
        else:
            args.catalog = os.path.relpath(found) if found.is_relative_to(Path.cwd()) else str(found)


def _state_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", metavar="DIR", default=os.environ.get("MONEYPATH_STATE_DIR", ".moneypath"),
                        help="where the stack keeps config, data, logs and stack.json (default: .moneypath)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moneypath",
        description="Observability and incident readiness for the money path of a payments platform.",
    )
    parser.add_argument("--version", action="version", version=f"moneypath {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    catalog = commands.add_parser("catalog", help="check or show the catalog (moneypath.yaml)",
                                  description="The catalog declares every signal, SLO, alert, provider, cost and route.")
    catalog_cmds = catalog.add_subparsers(dest="catalog_command", metavar="ACTION")
    catalog_cmds.required = True
    check = catalog_cmds.add_parser("check", help="validate the catalog; one line per problem, exit 3 if any",
                                    description="Validate the catalog: schema, naming conventions, label value sets, "
                                                "features, SLO selectors, routes; then generate the rules, routing and "
                                                "dashboards in memory and run every check `build` and the rule part of "
                                                "`lint` would (your own alerts' expr included, promtool when "
                                                "installed). Prints file:line: key.path: problem.")
    _catalog_arg(check)
    show = catalog_cmds.add_parser("show", help="print signals, SLOs, alerts and routes as tables",
                                   description="Print what the catalog declares, with each signal's worst-case "
                                               "series count (cardinality budget).")
    _catalog_arg(show)
    show.add_argument("--json", action="store_true", help="print the resolved catalog as JSON instead")

    build = commands.add_parser(
        "build", help="generate recording rules, alert rules, Alertmanager routing and Grafana dashboards",
        description="Write collector/recording-rules.yaml, alerts/moneypath-alerts.yaml, alerts/alertmanager.yml "
                    "(every receiver a webhook to the local `moneypath pager`, as the stack and drills use), "
                    "dashboards/*.json and dashboards/provisioning/ from the catalog; and, when the catalog's "
                    "receivers declare where they deliver (pagerduty, opsgenie, slack, webhook), "
                    "alerts/alertmanager.production.yml, which names secret files only. Generated files are "
                    "committed; never edit them by hand.")
    _catalog_arg(build)
    build.add_argument("--check", action="store_true",
                       help="write nothing; exit 1 and list the files that are stale or missing")
    build.add_argument("--root", metavar="DIR", default=".", help="repository root to write into (default: .)")

    lint = commands.add_parser(
        "lint", help="check the generated rules against the catalog and the runbooks",
        description="Every alert has severity, summary, description, runbook_url and dashboard_url, and its runbook "
                    "page exists; every expression parses (promtool); rate() only on counters; no label or value "
                    "outside the catalog (=, != and every alternative of a =~ or !~ regex, in the rules and the "
                    "dashboards); no range longer than retention; the runbook pages and drill files are "
                    "sound. Runbook SQL must be one read (SELECT or WITH); with --db-url it is also prepared "
                    "(EXPLAIN, never run) on your database, otherwise the SQL steps are counted as not checked. "
                    "One line per problem, exit 1 if any. The TODOs `moneypath init` left are counted, one line "
                    "per file: your work list, never a failure.")
    _catalog_arg(lint)
    lint.add_argument("--root", metavar="DIR", default=".", help="repository root (default: .)")
    lint.add_argument("--retention", metavar="DURATION",
                      help="Prometheus retention to check ranges against (default: what `moneypath up` sets, "
                           "the longest SLO window or 7d, plus a day)")
    lint.add_argument("--prometheus", metavar="URL",
                      help="also check that every metric and label the rules and dashboards read exists on this "
                           "Prometheus (your staging or production one): a metric renamed in the service or a typo "
                           "is one line naming the rule or panel; exit 2 if it cannot be reached")
    lint.add_argument("--lookback", metavar="DURATION", default="1d",
                      help="with --prometheus: how far back a metric counts as present (default 1d)")
    lint.add_argument("--db-url", metavar="URL",
                      help="your service's database (SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB) "
                           "to prepare the runbooks' SQL steps on; opened read-only (SQLite mode=ro, PostgreSQL "
                           "read-only transactions) and nothing is executed. A read-only user is enough.")

    up = commands.add_parser(
        "up", help="start Prometheus, Alertmanager and the pager on loopback",
        description="Start the local stack on free loopback ports: Prometheus with the generated rules (exemplar "
                    "storage on), Alertmanager with the generated routing, and `moneypath pager` recording every "
                    "page. Configuration, data and logs go to the state directory.")
    _catalog_arg(up)
    _state_arg(up)
    up.add_argument("--target", action="append", default=[], metavar="HOST:PORT",
                    help="your service to scrape (repeatable), e.g. 127.0.0.1:8000; the reference service and "
                         "provider simulator are then not started. One whose /metrics does not answer within 3 s "
                         "is named in a warning (the stack starts anyway)")
    up.add_argument("--no-services", action="store_true",
                    help="do not start the provider simulator and reference service (scrape only --target)")
    up.add_argument("--faults", action="store_true",
                    help="let drills inject faults into the provider simulator and the service (off by default)")
    up.add_argument("--remote-write", action="append", default=[], metavar="URL",
                    help="also remote_write every series to this URL (repeatable), e.g. a VictoriaMetrics, Mimir or "
                         "Thanos Receive endpoint")
    up.add_argument("--fast", action="store_true",
                    help="1 s scrape and evaluation intervals and 1 s Alertmanager group_wait (tests and drills); "
                         "default is production-like 15 s")
    up.add_argument("--time-factor", type=float, default=1.0, metavar="F",
                    help="run compressed copies of the rules, F times faster (rate windows and for: divided by F; "
                         "60 turns 5m into 5 s) to rehearse a page in seconds; alerts/ stays as committed (default 1)")
    up.add_argument("--engine", choices=("prometheus", "vm"), default="prometheus",
                    help="what runs the rules: prometheus (default), or vm: VictoriaMetrics stores the series and "
                         "answers queries, vmalert evaluates the same rule files (Debian package victoria-metrics)")
    up.add_argument("--ha", action="store_true",
                    help="production's shape: two Prometheus replicas running the same rules (external label "
                         "replica=a|b, dropped from alerts) and a two-node Alertmanager cluster gossiping on "
                         "loopback; a page still arrives, once, with one of each gone")
    up.add_argument("--instances", type=int, default=1, metavar="N",
                    help="run the reference service as N processes (1-16) sharing one ledger database, each its "
                         "own scrape target (label instance), as production runs a service: one page per incident "
                         "only if every rule aggregates instance away. Instance 0 alone runs reconciliation and "
                         "the audit check. On the default SQLite file the instances take turns at its write lock "
                         "(writers serialize); give --db-url for PostgreSQL (default 1)")
    up.add_argument("--db-url", metavar="URL",
                    help="the reference service's ledger database (SQLAlchemy URL), e.g. "
                         "postgresql+psycopg://user@127.0.0.1:5432/ledger; default: a SQLite file in the state "
                         "directory")
    up.add_argument("--postgres", action="store_true",
                    help="start a throwaway PostgreSQL (Debian package postgresql) on loopback for the ledger "
                         "instead of the SQLite file: what several --instances share in production. Deleted by "
                         "`moneypath down`")
    down = commands.add_parser("down", help="stop the local stack", description="Stop what `moneypath up` started.")
    _state_arg(down)
    status = commands.add_parser("status", help="health and URL of each part of the local stack",
                                 description="Show each part's health, URL and, for Prometheus, its scrape targets.")
    _state_arg(status)
    pager = commands.add_parser(
        "pager", help="run the Alertmanager webhook receiver that records pages",
        description="Receive Alertmanager webhooks on POST /hooks/<receiver>, record every page and resolve "
                    "(journal file, JSON lines) and list them on GET /pages.")
    pager.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    pager.add_argument("--port", type=int, default=9095, help="port (default 9095)")
    pager.add_argument("--journal", metavar="FILE", help="append-only JSON-lines record of pages (kept across restarts)")
    pager.add_argument("--watchdog-receiver", metavar="NAME", default="deadmans-switch",
                       help="the receiver whose deliveries are the watchdog's heartbeat, not pages (the catalog's "
                            "watchdog.receiver; default deadmans-switch); GET /watchdog shows it")
    pager.add_argument("--watchdog-timeout", metavar="SECONDS", type=float, default=180.0,
                       help="say on stderr when no heartbeat came for this long (default 180: three missed "
                            "1-minute repeats)")

    demo = commands.add_parser(
        "demo", help="every drill in runbooks/drills/, end to end, with reports and a summary table",
        description="Run every drill in runbooks/drills/, each on a fresh local stack with 1 s intervals and the rules "
                    "compressed 60x (provider simulator, reference service, Prometheus, Alertmanager, pager): baseline "
                    "payments, a fault, the pages as they arrive, the runbook's evidence, mitigation, recovery and the "
                    "ledger. Writes reports/<drill>-<time>/ and prints a summary; exit 1 if any drill fails.")
    _catalog_arg(demo)
    demo.add_argument("--state-dir", metavar="DIR", default=".moneypath/demo", help="default: .moneypath/demo")

    metrics = commands.add_parser("metrics", help="inspect the instrumentation's output",
                                  description="Inspect what moneypath.instrument exports.")
    metrics_cmds = metrics.add_subparsers(dest="metrics_command", metavar="ACTION")
    metrics_cmds.required = True
    sample = metrics_cmds.add_parser(
        "sample", help="record synthetic payments and print the /metrics exposition",
        description="Record a deterministic set of synthetic money-path events (inside traced spans, so latency "
                    "histograms carry trace-id exemplars) and print the exposition a scrape would see.")
    _catalog_arg(sample)
    sample.add_argument("--format", choices=("openmetrics", "text"), default="openmetrics",
                        help="exposition format (default: openmetrics, which carries exemplars)")
    sample.add_argument("--payments", type=int, default=200, metavar="N", help="synthetic payments (default 200)")

    dashboards = commands.add_parser("dashboards", help="Grafana dashboards generated from the catalog",
                                     description="Dashboards are generated into dashboards/*.json by `moneypath build`.")
    dashboards_cmds = dashboards.add_subparsers(dest="dashboards_command", metavar="ACTION")
    dashboards_cmds.required = True
    push = dashboards_cmds.add_parser(
        "push", help="create or update the folder and every dashboard in a Grafana",
        description="Create the folder if missing and save every generated dashboard into it with overwrite, through "
                    "Grafana's HTTP API (httpx). Running it again updates them in place.")
    _catalog_arg(push)
    push.add_argument("--grafana-url", metavar="URL", required=True, help="e.g. http://localhost:3000")
    push.add_argument("--token", metavar="T", default=os.environ.get("GRAFANA_TOKEN"),
                      help="service account token (default: $GRAFANA_TOKEN); user:password in the URL also works")
    push.add_argument("--folder", metavar="NAME", default="Money path", help="folder title (default: Money path)")

    snapshot = commands.add_parser(
        "snapshot", help="render the overview dashboard from Prometheus into PNGs and an HTML page",
        description="Query Prometheus (query_range) for every panel of the on-call overview dashboard and write one "
                    "PNG per panel plus index.html, for people without Grafana and for drill reports.")
    _catalog_arg(snapshot)
    _state_arg(snapshot)
    snapshot.add_argument("--prometheus", metavar="URL", default=None,
                          help="Prometheus base URL (default: the one `moneypath up` runs from --state-dir, else "
                               "http://127.0.0.1:9090)")
    snapshot.add_argument("--out", metavar="DIR", default="snapshot", help="output directory (default: snapshot)")
    snapshot.add_argument("--range", metavar="DURATION", default="15m", dest="range_",
                          help="time range ending now, a Prometheus duration (default 15m)")
    snapshot.add_argument("--time-factor", metavar="N", type=float, default=None,
                          help="the panels' windows are divided by N, as a stack compressed N times divides its "
                               "rules' (default: the --state-dir stack's --time-factor when its Prometheus is the "
                               "one queried, else 1)")
    # Commands defined in their own module add themselves here: add_commands(commands, _catalog_arg, _state_arg).
    from moneypath.cli import loadtest as loadtest_cli

    loadtest_cli.add_commands(commands, _catalog_arg, _state_arg)
    from moneypath.cli import drill as drills_cli

    drills_cli.add_commands(commands, _catalog_arg, _state_arg)
    from moneypath.cli import init as init_cli

    init_cli.add_commands(commands, _catalog_arg, _state_arg)
    from moneypath.cli import faultproxy as faultproxy_cli

    faultproxy_cli.add_commands(commands, _catalog_arg, _state_arg)
    from moneypath.cli import alerts as alerts_cli

    alerts_cli.add_commands(commands, _catalog_arg, _state_arg)
    from moneypath.cli import slo as slo_cli

    slo_cli.add_commands(commands, _catalog_arg, _state_arg)
    from moneypath.cli import audit as audit_cli

    audit_cli.add_commands(commands, _catalog_arg, _state_arg)
    from moneypath.cli import export as export_cli

    export_cli.add_commands(commands, _catalog_arg, _state_arg)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _default_catalog(args)
    if problem := extras.missing(args):
        print(problem, file=sys.stderr)
        return extras.EXIT_MISSING_EXTRA
    try:
        if getattr(args, "run", None):  # commands that live in their own module: set_defaults(run=handler)
            return args.run(args)
        if args.command == "catalog":
            return _catalog(args)
        if args.command == "metrics":
            return _metrics_sample(args)
        if args.command == "build":
            return _build(args)
        if args.command == "lint":
            return _lint(args)
        if args.command == "demo":
            from pathlib import Path

            from moneypath.drills.demo import run_demo

            return run_demo(load_catalog(args.catalog), Path(args.state_dir))
        if args.command in ("up", "down", "status"):
            return _stack(args)
        if args.command == "dashboards":
            return _dashboards_push(args)
        if args.command == "snapshot":
            return _snapshot(args)
        if args.command == "pager":
            from pathlib import Path

            from moneypath.stack.pager import serve

            if args.watchdog_timeout <= 0:
                print("moneypath: --watchdog-timeout must be more than 0 seconds", file=sys.stderr)
                return EXIT_USAGE
            serve(args.host, args.port, Path(args.journal) if args.journal else None, args.watchdog_receiver,
                  args.watchdog_timeout)
            return 0
    except CatalogError as exc:
        searched = getattr(args, "catalog_searched", None)
        if searched is not None and exc.problems == [f"{args.catalog}: file not found"]:
            exc.problems = [f"{DEFAULT_PATH}: file not found in {searched} or any directory above it (up to the "
                            "repository root); give --catalog PATH or set MONEYPATH_CATALOG"]
        for line in exc.problems:
            print(line, file=sys.stderr)
        return EXIT_CATALOG
    except ModuleNotFoundError as exc:
        if os.environ.get("MONEYPATH_DEBUG"):
            raise
        extra = extras.extra_of(exc.name or "")
        if extra is None:  # not ours to install (e.g. a database driver a --db-url names): one line
            print(f"moneypath: ModuleNotFoundError: {exc}", file=sys.stderr)
            return 1
        print(extras.message(args.command, extra, exc.name), file=sys.stderr)
        return extras.EXIT_MISSING_EXTRA
    except KeyboardInterrupt:
        print("moneypath: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error for the user.
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (MONEYPATH_DEBUG=1 shows it)
        if os.environ.get("MONEYPATH_DEBUG"):
            raise
        print(f"moneypath: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return EXIT_USAGE


def _catalog(args) -> int:
    catalog = load_catalog(args.catalog)
    if args.catalog_command == "check":
        # Everything `build` and the rule part of `lint` check, on artifacts generated in memory: a catalog that
        # passes here builds. Runbook pages are the team's own files (`lint` checks them): only counted here.
        from moneypath.check.instances import NO_PARSER
        from moneypath.check.lint import check_generated
        from moneypath.generate.prometheus_config import retention

        result = check_generated(catalog, retention(catalog))
        if result.problems:
            raise CatalogError(result.problems)
        s = summary(catalog)
        print(f"{args.catalog}: OK — {s['signals']} signals (at most {s['max_series']} series), "
              f"{s['slos']} SLOs, {s['alerts']} alerts, {s['providers']} providers")
        if result.alerts_without_page:
            pages = os.path.join(os.path.dirname(catalog.path), "runbooks", "")
            print(f"no runbook page yet in {pages} for {len(result.alerts_without_page)} of {result.alerts} alerts "
                  "(SLO burn-rate alerts included; `moneypath lint` names them)")
        if not result.promtool:
            print("promtool is not installed: the rule expressions were checked without parsing them")
        if not result.instances:
            print(NO_PARSER)
        return 0
    if args.json:
        print(json.dumps(catalog.model_dump(mode="json", by_alias=True), indent=2))
        return 0
    from moneypath.cli.catalog import print_catalog

    print_catalog(catalog)
    return 0


def _lint(args) -> int:
    from pathlib import Path

    from moneypath.catalog import duration_seconds
    from moneypath.check.lint import lint
    from moneypath.check.runbooks import BadDbUrl, DatabaseUnavailable, sql_steps
    from moneypath.check.todos import count_todos
    from moneypath.generate.prometheus_config import retention

    if args.retention is not None:
        try:
            if duration_seconds(args.retention) <= 0:
                raise ValueError(f"{args.retention!r} must be longer than 0")
        except ValueError as exc:
            print(f"moneypath: --retention: {exc} (e.g. 15d, 31d, 1y)", file=sys.stderr)
            return EXIT_USAGE
    try:
        lookback_s = duration_seconds(args.lookback)
    except ValueError as exc:
        print(f"moneypath: --lookback: {exc} (e.g. 1h, 1d)", file=sys.stderr)
        return EXIT_USAGE
    catalog = load_catalog(args.catalog)
    try:
        problems = lint(catalog, Path(args.root), args.retention or retention(catalog), db_url=args.db_url)
    except BadDbUrl as exc:
        print(f"moneypath: --db-url: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DatabaseUnavailable as exc:
        print(f"moneypath: --db-url: {exc}", file=sys.stderr)
        return 1
    if args.prometheus:
        from moneypath._common.prometheus import PrometheusError
        from moneypath.check.live import lint_live

        try:
            live = lint_live(Path(args.root), args.prometheus, args.lookback, lookback_s)
        except PrometheusError as exc:
            print(f"moneypath: --prometheus: {exc}", file=sys.stderr)
            return EXIT_USAGE
        problems += live
        print(f"lint: {'no' if not live else len(live)} metric or label problem(s) against {args.prometheus}")
    for line in problems:
        print(line, file=sys.stderr)
    if args.db_url is None:
        from moneypath.check.ledger import declared

        for one, many, unchecked in (("SQL diagnosis step", "SQL diagnosis steps", sql_steps(catalog, Path(args.root))),
                                     ("ledger query", "ledger queries", declared(catalog))):
            if unchecked:
                print(f"lint: {len(unchecked)} {one if len(unchecked) == 1 else many} not checked "
                      "(give --db-url to check them against your database)")
    todos = count_todos(Path(args.root))
    for rel, n in todos.items():
        print(f"{rel}: {n} TODO{'s' if n > 1 else ''} left from moneypath init")
    left = f" ({sum(todos.values())} TODOs in {len(todos)} files still yours to fill in; they do not fail the lint)" \
        if todos else ""
    if not problems:
        print(f"lint: no problems{left}")
    return 1 if problems else 0


def _state_flag(args) -> str:
    default = os.environ.get("MONEYPATH_STATE_DIR", ".moneypath")
    return "" if args.state_dir == default else f" --state-dir {args.state_dir}"


def _stack(args) -> int:
    from pathlib import Path

    from moneypath.stack import local as stack

    state_dir = Path(args.state_dir)
    try:
        if args.command == "up":
            if args.time_factor < 1:
                print("moneypath: --time-factor must be at least 1", file=sys.stderr)
                return EXIT_USAGE
            state = stack.up(load_catalog(args.catalog), state_dir, args.target, fast=args.fast,
                             time_factor=args.time_factor,
                             remote_write=args.remote_write, faults=args.faults,
                             services=not (args.no_services or args.target),  # a --target is your service
                             ha=args.ha, engine=args.engine, instances=args.instances, db_url=args.db_url,
                             postgres=args.postgres)
            print(f"stack up: Prometheus {state.url('prometheus')}, Alertmanager {state.url('alertmanager')}, "
                  f"pages {state.url('pager')}/pages — stop with `moneypath down{_state_flag(args)}`")
            if args.engine == "vm":
                print(f"engine vm: VictoriaMetrics answers the Prometheus API at {state.url('victoriametrics')}; "
                      f"vmalert {state.url('vmalert')} evaluates the rules")
            if args.instances > 1 and state.service_urls():
                print(f"{args.instances} instances of the reference service on one database: "
                      f"{', '.join(state.service_urls())}")
            if args.ha:
                print(f"HA pair: Prometheus replica b {state.url('prometheus-b')}, Alertmanager peer "
                      f"{state.url('alertmanager-b')} (both Prometheus send to both Alertmanagers)")
            # A quiet misconfiguration otherwise: the stack runs, and scrapes nothing of the service.
            for target, reason in stack.unanswered_targets(args.target):
                print(f"warning: target {target} does not answer ({reason}): Prometheus keeps trying, but nothing "
                      "of it is scraped until it does; is the service running, and is --target its host:port?",
                      file=sys.stderr)
            return 0
        if args.command == "down":
            if not stack.down(state_dir):
                print(f"nothing running from {state_dir} (a stack started with --state-dir DIR stops with "
                      "`moneypath down --state-dir DIR`)")
            return 0
        rows = stack.status(state_dir)
        if not rows:
            print(f"nothing running from {state_dir}")
            return 1
        for name, url, ok, detail in rows:
            print(f"{name:<15} {'up  ' if ok else 'DOWN'} {url:<28} {detail}")
        return 0 if all(ok for _, _, ok, _ in rows) else 1
    except stack.StackError as exc:
        print(f"moneypath: {exc}", file=sys.stderr)
        return 1


def _build(args) -> int:
    from pathlib import Path

    from moneypath.generate import build

    catalog = load_catalog(args.catalog)
    root = Path(args.root)
    if args.check:
        stale = build.stale(catalog, root)
        for rel in stale:
            print(f"{rel}: stale — run `moneypath build`", file=sys.stderr)
        if not stale:
            print(f"generated files are up to date with {args.catalog}")
        return 1 if stale else 0
    changed = build.write(catalog, root)
    for rel in changed:
        print(f"wrote {rel}")
    if not changed:
        print("nothing to do: generated files are up to date")
    return 0


def _dashboards_push(args) -> int:
    from moneypath.stack.grafana import PushError, push

    catalog = load_catalog(args.catalog)
    try:
        push(catalog, args.grafana_url, args.token, args.folder)
    except PushError as exc:
        print(f"moneypath: {exc}", file=sys.stderr)
        return 1
    return 0


def _snapshot(args) -> int:
    from pathlib import Path

    from moneypath.stack.snapshot import SnapshotError, snapshot

    catalog = load_catalog(args.catalog)
    prometheus, factor = _running_prometheus(Path(args.state_dir))
    if args.prometheus and args.prometheus.rstrip("/") != prometheus:
        prometheus, factor = args.prometheus, 1.0  # another Prometheus: its rules are not the stack's
    try:
        page = snapshot(catalog, prometheus, Path(args.out), args.range_,
                        time_factor=factor if args.time_factor is None else args.time_factor)
    except (SnapshotError, ValueError) as exc:
        print(f"moneypath: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {page}")
    return 0


def _running_prometheus(state_dir: Path) -> tuple[str, float]:
    """(the Prometheus `moneypath up` runs from state_dir, its rules' time factor), else the default URL and 1."""
    from moneypath.stack.local import load_state

    state = load_state(state_dir)
    running = [p.url for p in state.parts if p.name == "prometheus"] if state else []
    return (running[0], state.time_factor) if running else ("http://127.0.0.1:9090", 1.0)


def _metrics_sample(args) -> int:
    from moneypath.generate.sample import sample_exposition

    if args.payments < 1:
        print("moneypath: --payments must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(sample_exposition(args.catalog, args.format, args.payments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
