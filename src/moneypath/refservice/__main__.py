"""`python -m moneypath.refservice`: serve the reference payment service with uvicorn.

Configuration from the environment: MONEYPATH_TOKEN_SECRET (required), MONEYPATH_CATALOG,
MONEYPATH_DB_URL (default a SQLite file), MONEYPATH_PROVIDER_URL (the provider simulator).
"""

from __future__ import annotations

import argparse
import sys

from moneypath.refservice.app import ServiceConfig, create_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m moneypath.refservice",
        description="The reference payment service (authorize, capture, refund, payouts) instrumented with "
                    "moneypath.instrument; /metrics for Prometheus. Needs MONEYPATH_TOKEN_SECRET; reads "
                    "MONEYPATH_CATALOG, MONEYPATH_DB_URL and MONEYPATH_PROVIDER_URL.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        config = ServiceConfig.from_env()
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
