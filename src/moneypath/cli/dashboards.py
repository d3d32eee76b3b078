"""`moneypath dashboards push`: the generated dashboards into a Grafana, through its HTTP API."""

from __future__ import annotations

import os
import sys

from moneypath._common.exit_codes import ExitCode
from moneypath.catalog import load_catalog


def add_commands(commands, catalog_arg, state_arg) -> None:
    dashboards = commands.add_parser("dashboards", help="Grafana dashboards generated from the catalog",
                                     description="Dashboards are generated into dashboards/*.json by `moneypath build`.")
    dashboards_cmds = dashboards.add_subparsers(dest="dashboards_command", metavar="ACTION")
    dashboards_cmds.required = True
    push = dashboards_cmds.add_parser(
        "push", help="create or update the folder and every dashboard in a Grafana",
        description="Create the folder if missing and save every generated dashboard into it with overwrite, through "
                    "Grafana's HTTP API (httpx). Running it again updates them in place.")
    catalog_arg(push)
    push.add_argument("--grafana-url", metavar="URL", required=True, help="e.g. http://localhost:3000")
    push.add_argument("--token", metavar="T", default=os.environ.get("GRAFANA_TOKEN"),
                      help="service account token (default: $GRAFANA_TOKEN); user:password in the URL also works")
    push.add_argument("--folder", metavar="NAME", default="Money path", help="folder title (default: Money path)")
    push.set_defaults(run=_dashboards_push)


def _dashboards_push(args) -> int:
    from moneypath.stack.grafana import PushError, push

    catalog = load_catalog(args.catalog)
    try:
        push(catalog, args.grafana_url, args.token, args.folder)
    except PushError as exc:
        print(f"moneypath: {exc}", file=sys.stderr)
        return ExitCode.FAIL
    return 0
