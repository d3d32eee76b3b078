"""`python -m moneypath.reference.refservice`: serve the reference payment service with uvicorn.

Configuration from the environment (see --help for the list).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from moneypath._common.exit_codes import ExitCode
from moneypath.catalog import CatalogError
from moneypath.reference import heap
from moneypath.reference.refservice.app import ServiceConfig, create_app
from moneypath.reference.refservice.db import make_engine

ENVIRONMENT = """environment:
  MONEYPATH_TOKEN_SECRET          required: signs and checks API tokens
  MONEYPATH_TOKEN_MAX_LIFETIME_S  longest token lifetime accepted, exp - iat (default 86400, 60-604800)
  MONEYPATH_WEBHOOK_SECRET        each provider's webhook secret is derived from it and the provider's name
  MONEYPATH_WEBHOOK_SECRET_<PROVIDER>  a provider's own secret instead (e.g. _ACME); a provider with
                                  neither has its webhooks refused
  MONEYPATH_CATALOG               catalog file (default moneypath.yaml)
  MONEYPATH_DB_URL                ledger database (default sqlite:///moneypath-ledger.db;
                                  PostgreSQL: postgresql+psycopg://user@host:port/db)
  MONEYPATH_PROVIDER_URL          provider simulator or gateway (default http://127.0.0.1:8100)
  MONEYPATH_SETTLEMENT_DIR        provider settlement files to reconcile (unset: no reconciliation)
  MONEYPATH_RECONCILE_INTERVAL_S  seconds between reconciliation runs (default 5)
  MONEYPATH_RECONCILE_GRACE_S     seconds a settlement line may wait for its capture (default 30)
  MONEYPATH_MISSING_AFTER_S       seconds before an unsettled capture is a break (default 3600)
  MONEYPATH_RISK_TIMEOUT_MS       fraud screening timeout (default 150)
  MONEYPATH_RISK_FALLBACK         allow | hold when screening does not answer (default allow)
  MONEYPATH_RISK_ALLOW_LIMIT_MINOR  largest amount the allow fallback lets through (default 5000)
  MONEYPATH_ENABLE_FAULTS         1: the /admin/faults API for drills (off by default)
  MONEYPATH_INSTRUMENTATION       on | off: metrics off is the benchmark's baseline (default on)
  MONEYPATH_SINGLETON_JOBS        on | off: reconciliation and the audit chain's walk and checkpoints, which
                                  one instance per database runs; off on a service's other instances (default on)
  MONEYPATH_AUDIT_CHECK_PROCESS   on | off: walk the audit chain in a child process, so its hashing never holds
                                  the interpreter's lock request handling needs; off: in a thread (default on)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m moneypath.reference.refservice",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The reference payment service (authorize, capture, refund, payouts) instrumented with "
                    "moneypath.instrument; /metrics for Prometheus.",
        epilog=ENVIRONMENT)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--metrics-port", type=int, default=None, metavar="PORT",
        help="also serve /metrics on this port (same --host), from a thread with its own HTTP server: a scrape is "
             "answered while the event loop is busy (the /metrics on --port renders in a thread too, but its request "
             "waits for the loop like any other, so an overloaded service is scraped late or not at all). With "
             "--workers N the parent process serves it, every worker's values summed. Default: none (only /metrics "
             "on --port, which stays either way)")
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="service processes sharing the port (default: %(default)s). One process serves about 400 "
             "authorizations/s on one core (its Python CPU, ~2.3 ms each, is the limit). With N > 1 the "
             "metrics go through prometheus-client's multi-process mode: PROMETHEUS_MULTIPROC_DIR (emptied at start; a "
             "temporary directory when unset), values summed over the workers, no exemplars (that mode cannot "
             "store them), about twice the cost per observation. Each worker runs the background jobs (outbox, "
             "reconciliation) too. On SQLite the workers take turns at the ledger's write lock: two gave no more "
             "than one on 2 cores (385 vs 400/s); with PostgreSQL more may help (not measured).")
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 64:
        print(f"python -m moneypath.reference.refservice: --workers {args.workers} must be between 1 and 64",
              file=sys.stderr)
        return ExitCode.USAGE
    if args.metrics_port is not None and not (0 < args.metrics_port < 65536 and args.metrics_port != args.port):
        print(f"python -m moneypath.reference.refservice: --metrics-port {args.metrics_port} must be a port "
              f"(1-65535) other than --port", file=sys.stderr)
        return ExitCode.USAGE
    try:
        config = ServiceConfig.from_env()
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return ExitCode.USAGE
    if args.metrics_port is not None and not config.instrumented:
        print("python -m moneypath.reference.refservice: --metrics-port with MONEYPATH_INSTRUMENTATION=off: there are "
              "no metrics to serve", file=sys.stderr)
        return ExitCode.USAGE
    import prometheus_client
    import uvicorn

    from moneypath.instrument import configure_json_logging
    from moneypath.reference.refservice.admission_http import AdmittingHttpToolsProtocol

    configure_json_logging()  # one JSON object per line, with the correlation id of the request
    # No `<counter>_created` series: a large share of the exposition and of the time to render it beside the event
    # loop; Prometheus drops them from OpenMetrics anyway. See docs/decisions/0004-metrics-off-the-request-loop.md
    prometheus_client.disable_created_metrics()
    # asyncio's loop, not uvloop: libuv accepts one connection per loop iteration, so a saturated service's accept
    # queue overflows; asyncio accepts up to the backlog at each wake-up. See docs/decisions/0003-asyncio-loop-not-uvloop.md
    # With admission on, refused as the headers are parsed, before a request becomes a task; on or off, a request
    # uvicorn cannot parse is answered with problem+json (admission_http.py).
    # An idle connection is kept 75 s (nginx's default), not uvicorn's 5: a client pool keeps its idle connections
    # longer than 5 s, and one it reuses as the service closes it is reset.
    options = dict(host=args.host, port=args.port, log_level="warning", access_log=False, loop="asyncio",
                   http=AdmittingHttpToolsProtocol, timeout_keep_alive=75)
    try:
        make_engine(config.db_url).dispose()  # the schema, once (before the workers race to create it)
    except (DBAPIError, ArgumentError) as exc:
        detail = " ".join(str(exc.orig if isinstance(exc, DBAPIError) else exc).split())  # one line
        print(f"moneypath refservice: cannot open the ledger database "
              f"{make_url(config.db_url).render_as_string(hide_password=True)}: {detail}", file=sys.stderr)
        return ExitCode.USAGE
    if args.workers == 1:
        try:
            app = create_app(config)
        except CatalogError as exc:  # e.g. run outside the project: no moneypath.yaml here (MONEYPATH_CATALOG)
            print(f"moneypath refservice: {exc} (MONEYPATH_CATALOG names the catalog file)", file=sys.stderr)
            return ExitCode.USAGE
        if args.metrics_port is not None and not _serve_metrics(app.state.mp.registry, args.host, args.metrics_port):
            return ExitCode.USAGE
        heap.settle()
        uvicorn.run(app, **options)
        return 0
    if config.instrumented:
        from prometheus_client import CollectorRegistry

        from moneypath.instrument.exposition import prepare_multiprocess_dir

        # Set before the workers start (each imports prometheus_client afresh and picks its store from it).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prepare_multiprocess_dir(
            os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="moneypath-metrics-"))
        # Served by this process, which runs no requests: the workers' files summed (MultiProcessCollector).
        if args.metrics_port is not None and not _serve_metrics(CollectorRegistry(), args.host, args.metrics_port):
            return ExitCode.USAGE
    uvicorn.run("moneypath.reference.refservice.__main__:worker_app", factory=True, workers=args.workers, **options)
    return 0


def _serve_metrics(registry, host: str, port: int) -> bool:
    """/metrics from a daemon thread on its own port (moneypath.instrument.exposition.start_metrics_server: every
    worker's values in multi-process mode); False, said in one line, when the port cannot be had."""
    from moneypath.instrument.exposition import start_metrics_server

    try:
        start_metrics_server(registry, port, host)
    except OSError as exc:
        print(f"moneypath refservice: cannot serve /metrics on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True


def worker_app():
    """One worker's app (uvicorn --workers starts each in a fresh interpreter): configured from the environment."""
    from moneypath.instrument import configure_json_logging

    configure_json_logging()
    app = create_app(ServiceConfig.from_env())
    heap.settle()
    return app


if __name__ == "__main__":
    sys.exit(main())
