"""`python -m moneypath.reference.providersim`: serve the provider simulator with uvicorn.

Secrets come from the environment (MONEYPATH_WEBHOOK_SECRET signs webhooks,
MONEYPATH_TOKEN_SECRET verifies admin tokens) so they never show in `ps` output.
"""

from __future__ import annotations

import argparse
import os
import sys

from moneypath.reference.providersim.app import SimConfig, create_app

SECRETS = ("MONEYPATH_WEBHOOK_SECRET", "MONEYPATH_TOKEN_SECRET")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m moneypath.reference.providersim",
        description="Simulated payment providers acme and globex: APIs, signed webhooks, settlement files, and "
                    f"(with --enable-faults) fault injection for drills. Needs {' and '.join(SECRETS)} in the "
                    "environment.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8700, help="port to listen on (default: %(default)s)")
    parser.add_argument("--settlement-dir", default=".moneypath/settlements",
                        help="where settlement CSV files are written (default: %(default)s)")
    parser.add_argument("--webhook-url", default=None,
                        help="base URL webhooks are POSTed to as <url>/<provider>; omit to send none")
    parser.add_argument("--enable-faults", action="store_true",
                        help="allow PUT /admin/faults/{name} (off by default: faults are for drills)")
    parser.add_argument("--latency-scale", type=float, default=1.0,
                        help="multiply the simulated provider latency; 0 answers at once (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="seed for declines, latency and faults (default: %(default)s)")
    parser.add_argument("--settlement-interval", type=float, default=0, metavar="SECONDS",
                        help="write settlement files every SECONDS; 0 only on POST /admin/settlements/flush "
                             "(default: %(default)s)")
    args = parser.parse_args(argv)
    if args.latency_scale < 0 or args.settlement_interval < 0:
        parser.error("--latency-scale and --settlement-interval must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [name for name in SECRETS if not os.environ.get(name)]
    if missing:
        print(f"providersim: error: set {' and '.join(missing)} in the environment", file=sys.stderr)
        return 2
    import uvicorn

    config = SimConfig(settlement_dir=args.settlement_dir, webhook_url=args.webhook_url,
                       webhook_secret=os.environ[SECRETS[0]].encode(), token_secret=os.environ[SECRETS[1]].encode(),
                       enable_faults=args.enable_faults, latency_scale=args.latency_scale, seed=args.seed,
                       settlement_interval_s=args.settlement_interval)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
