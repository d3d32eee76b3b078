"""`moneypath …` command line. Errors are one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import os
import sys

from moneypath import __version__
from moneypath.catalog import DEFAULT_PATH, CatalogError, load_catalog, summary

EXIT_USAGE = 2
EXIT_CATALOG = 3


def _catalog_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", metavar="PATH", default=os.environ.get("MONEYPATH_CATALOG", DEFAULT_PATH),
                        help="catalog file (default: $MONEYPATH_CATALOG or ./moneypath.yaml)")


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
                                                "SLO selectors, routes. Prints file:line: key.path: problem.")
    _catalog_arg(check)
    show = catalog_cmds.add_parser("show", help="print signals, SLOs, alerts and routes as tables",
                                   description="Print what the catalog declares, with each signal's worst-case "
                                               "series count (cardinality budget).")
    _catalog_arg(show)
    show.add_argument("--json", action="store_true", help="print the resolved catalog as JSON instead")

    build = commands.add_parser(
        "build", help="generate recording rules, alert rules and Alertmanager routing from the catalog",
        description="Write collector/recording-rules.yaml, alerts/moneypath-alerts.yaml and alerts/alertmanager.yml "
                    "from the catalog. Generated files are committed; never edit them by hand.")
    _catalog_arg(build)
    build.add_argument("--check", action="store_true",
                       help="write nothing; exit 1 and list the files that are stale or missing")
    build.add_argument("--root", metavar="DIR", default=".", help="repository root to write into (default: .)")

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "catalog":
            return _catalog(args)
        if args.command == "metrics":
            return _metrics_sample(args)
        if args.command == "build":
            return _build(args)
    except CatalogError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return EXIT_CATALOG
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
        from moneypath.instrument.signals import check_required

        problems = check_required(catalog)
        if problems:
            raise CatalogError(problems)
        s = summary(catalog)
        print(f"{args.catalog}: OK — {s['signals']} signals (at most {s['max_series']} series), "
              f"{s['slos']} SLOs, {s['alerts']} alerts, {s['providers']} providers")
        return 0
    if args.json:
        print(json.dumps(catalog.model_dump(mode="json", by_alias=True), indent=2))
        return 0
    from moneypath.catalog_view import print_catalog

    print_catalog(catalog)
    return 0


def _build(args) -> int:
    from pathlib import Path

    from moneypath import build

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


def _metrics_sample(args) -> int:
    from moneypath.sample import sample_exposition

    if args.payments < 1:
        print("moneypath: --payments must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(sample_exposition(args.catalog, args.format, args.payments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
