"""`moneypath build [--check]`: write the generated files from the catalog, or list the stale ones."""

from __future__ import annotations

import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath.catalog import load_catalog


def add_commands(commands, catalog_arg, state_arg) -> None:
    build = commands.add_parser(
        "build", help="generate recording rules, alert rules, Alertmanager routing and Grafana dashboards",
        description="Write collector/recording-rules.yaml, alerts/moneypath-alerts.yaml, alerts/alertmanager.yml "
                    "(every receiver a webhook to the local `moneypath pager`, as the stack and drills use), "
                    "dashboards/*.json and dashboards/provisioning/ from the catalog; and, when the catalog's "
                    "receivers declare where they deliver (pagerduty, opsgenie, slack, webhook), "
                    "alerts/alertmanager.production.yml, which names secret files only. Generated files are "
                    "committed; never edit them by hand.")
    catalog_arg(build)
    build.add_argument("--check", action="store_true",
                       help="write nothing; exit 1 and list the files that are stale or missing")
    build.add_argument("--root", metavar="DIR", default=".", help="repository root to write into (default: .)")
    build.set_defaults(run=_build)


def _build(args) -> int:
    from moneypath.generate import build

    catalog = load_catalog(args.catalog)
    root = Path(args.root)
    if args.check:
        stale = build.stale(catalog, root)
        for rel in stale:
            print(f"{rel}: stale — run `moneypath build`", file=sys.stderr)
        if not stale:
            print(f"generated files are up to date with {args.catalog}")
        return ExitCode.FAIL if stale else 0
    changed = build.write(catalog, root)
    for rel in changed:
        print(f"wrote {rel}")
    if not changed:
        print("nothing to do: generated files are up to date")
    return 0
