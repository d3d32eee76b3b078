"""`python -m moneypath.refservice`: serve the reference payment service with uvicorn.

Configuration from the environment (see --help for the list).
"""

from __future__ import annotations

import argparse
import sys

from moneypath.refservice.app import ServiceConfig, create_app

ENVIRONMENT = """environment:
  MONEYPATH_TOKEN_SECRET          required: signs and checks API tokens
  MONEYPATH_WEBHOOK_SECRET        checks provider webhook signatures (webhooks are refused without it)
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
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m moneypath.refservice",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The reference payment service (authorize, capture, refund, payouts) instrumented with "
                    "moneypath.instrument; /metrics for Prometheus.",
        epilog=ENVIRONMENT)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        config = ServiceConfig.from_env()
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    import uvicorn

    from moneypath.instrument import configure_json_logging

    configure_json_logging()  # one JSON object per line, with the correlation id of the request

    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
