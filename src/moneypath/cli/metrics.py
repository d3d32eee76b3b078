"""`moneypath metrics sample`: synthetic payments recorded, and the exposition a scrape would see."""

from __future__ import annotations

import sys

from moneypath._common.exit_codes import ExitCode


def add_commands(commands, catalog_arg, state_arg) -> None:
    metrics = commands.add_parser("metrics", help="inspect the instrumentation's output",
                                  description="Inspect what moneypath.instrument exports.")
    metrics_cmds = metrics.add_subparsers(dest="metrics_command", metavar="ACTION")
    metrics_cmds.required = True
    sample = metrics_cmds.add_parser(
        "sample", help="record synthetic payments and print the /metrics exposition",
        description="Record a deterministic set of synthetic money-path events (inside traced spans, so latency "
                    "histograms carry trace-id exemplars) and print the exposition a scrape would see.")
    catalog_arg(sample)
    sample.add_argument("--format", choices=("openmetrics", "text"), default="openmetrics",
                        help="exposition format (default: openmetrics, which carries exemplars)")
    sample.add_argument("--payments", type=int, default=200, metavar="N", help="synthetic payments (default 200)")
    sample.set_defaults(run=_metrics_sample)


def _metrics_sample(args) -> int:
    from moneypath.generate.sample import sample_exposition

    if args.payments < 1:
        print("moneypath: --payments must be at least 1", file=sys.stderr)
        return ExitCode.USAGE
    sys.stdout.write(sample_exposition(args.catalog, args.format, args.payments))
    return 0
