"""`moneypath snapshot`: the overview dashboard rendered from Prometheus into PNGs and an HTML page."""

from __future__ import annotations

import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath.catalog import load_catalog
from moneypath.cli import where


def add_commands(commands, catalog_arg, state_arg) -> None:
    snapshot = commands.add_parser(
        "snapshot", help="render the overview dashboard from Prometheus into PNGs and an HTML page",
        description="Query Prometheus (query_range) for every panel of the on-call overview dashboard and write one "
                    "PNG per panel plus index.html, for people without Grafana and for drill reports.")
    catalog_arg(snapshot)
    state_arg(snapshot)
    where.prometheus_arg(snapshot)  # --prometheus: default the one `moneypath up` runs from --state-dir, else :9090
    snapshot.add_argument("--dashboard", metavar="NAME", default="overview",
                          help="which generated dashboard: overview (default), readiness, slos, providers, …")
    snapshot.add_argument("--out", metavar="DIR", default="snapshot", help="output directory (default: snapshot)")
    snapshot.add_argument("--range", metavar="DURATION", default="15m", dest="range_",
                          help="time range ending now, a Prometheus duration (default 15m)")
    # The panels' windows are divided by the time factor, as a stack compressed N times divides its rules': the
    # --state-dir stack's when its Prometheus is the one queried, else $MONEYPATH_TIME_FACTOR or the run config's
    # time_factor, else 1.
    snapshot.set_defaults(run=_snapshot)


def _snapshot(args) -> int:
    from moneypath.stack.snapshot import SnapshotError, SnapshotSpan, snapshot

    catalog = load_catalog(args.catalog)
    prometheus, factor = running_prometheus(Path(args.state_dir))
    if args.prometheus and args.prometheus.rstrip("/") != prometheus:
        # another Prometheus: its rules are not the stack's, they run at the team's time factor
        prometheus, factor = args.prometheus, where.settings(args).get("time_factor", None, 1.0)
    try:
        page = snapshot(catalog, prometheus, Path(args.out), SnapshotSpan(args.range_), time_factor=factor,
                        board=args.dashboard)
    except (SnapshotError, ValueError) as exc:
        print(f"moneypath: {exc}", file=sys.stderr)
        return ExitCode.FAIL
    print(f"wrote {page}")
    return 0


def running_prometheus(state_dir: Path) -> tuple[str, float]:
    """(the Prometheus `moneypath up` runs from state_dir, its rules' time factor), else the default URL and 1."""
    from moneypath.stack.local import load_state

    state = load_state(state_dir)
    running = [p.url for p in state.parts if p.name == "prometheus"] if state else []
    return (running[0], state.time_factor) if running else ("http://127.0.0.1:9090", 1.0)
