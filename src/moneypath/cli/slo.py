"""`moneypath slo export|import`: the catalog's SLOs as OpenSLO v1, and OpenSLO SLOs into the catalog."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode

IMPORT_EPILOG = """What maps: SLOs with budgetingMethod Occurrences, one rolling timeWindow and one objective, whose
indicator (inline, or a kind: SLI named by indicatorRef) is
  a ratioMetric of good and total over a catalog counter (bare selectors, or in sum(rate(x[w])),
    rate(x[w]) or increase(x[w]); Sloth's [{{.window}}] is fine), or of a catalog histogram's
    _bucket{le="X"} over its _count (latency under X);
  a thresholdMetric over a catalog histogram with objective op lt/lte and a value that is one of its buckets.
What does not, each with one line naming the file, the SLO and the key: Timeslices, calendar windows,
bad/total ratios, several objectives, non-Prometheus sources, metrics the catalog lacks, other thresholds.
Nothing is written unless every SLO maps and the catalog still validates; comments and layout are kept."""


def add_commands(commands, catalog_arg, state_arg) -> None:
    slo = commands.add_parser("slo", help="OpenSLO v1: export the catalog's SLOs, import others into it",
                              description="Exchange SLOs with OpenSLO tools (v1 documents).")
    actions = slo.add_subparsers(dest="slo_command", metavar="ACTION")
    actions.required = True
    export = actions.add_parser("export", help="write the catalog's SLOs as OpenSLO v1 YAML",
                                description="A Service document and one SLO per catalog SLO (ratioMetric over the "
                                            "catalog's Prometheus counters, Occurrences, rolling window).")
    catalog_arg(export)
    export.add_argument("--out", metavar="FILE", default="-", help="file to write (default: standard output)")
    export.set_defaults(run=_export)
    imp = actions.add_parser("import", help="add OpenSLO ratio and threshold SLOs to the catalog",
                             description="Read OpenSLO v1 documents and add their SLOs to the catalog's slos:.",
                             epilog=IMPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    catalog_arg(imp)
    imp.add_argument("file", metavar="FILE", help="OpenSLO YAML (one or more documents)")
    imp.add_argument("--dry-run", action="store_true", help="print what would be added; write nothing")
    imp.set_defaults(run=_import)


def _export(args) -> int:
    import yaml

    from moneypath._common.atomic import replacing
    from moneypath.catalog import load_catalog
    from moneypath.generate.openslo_export import openslo_documents

    text = yaml.safe_dump_all(openslo_documents(load_catalog(args.catalog)), sort_keys=False, width=120)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with replacing(Path(args.out)) as f:
            f.write(text)
        print(f"wrote {args.out}")
    return 0


def _import(args) -> int:
    from moneypath._common.atomic import replacing
    from moneypath.catalog import load_catalog
    from moneypath.scaffold.openslo_import import ImportProblems, catalog_with, map_documents, read_documents

    catalog = load_catalog(args.catalog)
    try:
        docs = read_documents(Path(args.file))
        mapped, problems = map_documents(catalog, docs, args.file)
        if problems:
            raise ImportProblems(problems)
        if not mapped:
            raise ImportProblems([f"{args.file}: no kind: SLO document to import"])
        text = catalog_with(Path(args.catalog), mapped)
    except ImportProblems as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        print(f"slo import: nothing written to {args.catalog}", file=sys.stderr)
        return ExitCode.FAIL
    for m in mapped:
        sli = m.slo["sli"]
        what = (f"latency of {sli['latency']['signal']} under {sli['latency']['under']:g} s" if "latency" in sli
                else f"{sli['good']} / {sli['total']}")
        print(f"{'would add' if args.dry_run else 'added'} SLO {m.key}: {m.slo['objective']:g}% over "
              f"{m.slo['window']}, {what}")
    if not args.dry_run:
        with replacing(Path(args.catalog)) as f:
            f.write(text)
        print("next: moneypath build (the new SLOs' recording rules, burn-rate alerts and runbook pages)")
    return 0
