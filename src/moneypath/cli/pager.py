"""`moneypath pager`: the Alertmanager webhook receiver that records pages."""

from __future__ import annotations

import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode


def add_commands(commands, catalog_arg, state_arg) -> None:
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
    pager.set_defaults(run=_pager)


def _pager(args) -> int:
    from moneypath.stack.pager import serve

    if args.watchdog_timeout <= 0:
        print("moneypath: --watchdog-timeout must be more than 0 seconds", file=sys.stderr)
        return ExitCode.USAGE
    serve(args.host, args.port, Path(args.journal) if args.journal else None, args.watchdog_receiver,
          args.watchdog_timeout)
    return 0
