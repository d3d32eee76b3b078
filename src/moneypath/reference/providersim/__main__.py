"""`python -m moneypath.reference.providersim`: serve the provider simulator with uvicorn.

It simulates the providers of a catalog (--catalog; default $MONEYPATH_CATALOG, else ./moneypath.yaml,
as the reference service finds it): one API per provider, in the flat or the nested style
(moneypath.reference.providersim.providers.styles_for; --style PROVIDER=STYLE chooses), accepting the
catalog's currencies. Secrets come from the environment (each provider signs webhooks with
MONEYPATH_WEBHOOK_SECRET_<PROVIDER>, or a key derived from MONEYPATH_WEBHOOK_SECRET and its name;
MONEYPATH_TOKEN_SECRET verifies admin tokens) so they never show in `ps` output. A bad option, a
catalog that does not load or an unknown provider or style: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from moneypath._common.exit_codes import ExitCode
from moneypath.catalog import DEFAULT_PATH, CatalogError, load_catalog
from moneypath.reference import heap
from moneypath.reference.providersim.providers import STYLES, StyleError, styles_for
from moneypath.reference.providersim.simulator_app import SimConfig, create_app
from moneypath.reference.signing import own_secrets

SECRETS = ("MONEYPATH_WEBHOOK_SECRET", "MONEYPATH_TOKEN_SECRET")
# The simulator keeps every charge and reply: freeze them out of the collector's full walks (reference.heap).
HEAP_FREEZE_INTERVAL_S = 10.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m moneypath.reference.providersim",
        description="Simulated payment providers, one per provider of the catalog: APIs, signed webhooks, "
                    "settlement files, and (with --enable-faults) fault injection for drills. Needs "
                    f"{' and '.join(SECRETS)} in the environment.")
    parser.add_argument("--catalog", metavar="PATH", default=os.environ.get("MONEYPATH_CATALOG") or DEFAULT_PATH,
                        help="the catalog whose providers and currencies are simulated (default: $MONEYPATH_CATALOG, "
                             f"else {DEFAULT_PATH})")
    parser.add_argument("--style", action="append", default=[], metavar="PROVIDER=STYLE",
                        help=f"the API style a provider speaks ({' or '.join(STYLES)}); repeatable. Without it acme "
                             "is flat, globex nested, and the others alternate in catalog order starting flat")
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


def parse_styles(values: list[str], providers: list[str]) -> dict[str, str]:
    """`--style PROVIDER=STYLE` values → {provider: style}; StyleError (one line) on a bad one."""
    chosen: dict[str, str] = {}
    for value in values:
        name, sep, style = (part.strip() for part in value.partition("="))
        if not sep or not name or not style:
            raise StyleError(f"--style {value!r}: expected PROVIDER=STYLE, e.g. {providers[0]}=nested")
        if name in chosen and chosen[name] != style:
            raise StyleError(f"--style {value!r}: {name} was given the {chosen[name]} style already")
        try:
            styles_for(providers, {name: style})
        except StyleError as exc:
            raise StyleError(f"--style {value!r}: {exc}") from None
        chosen[name] = style
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [name for name in SECRETS if not os.environ.get(name)]
    if missing:
        return _error(f"set {' and '.join(missing)} in the environment")
    try:
        catalog = load_catalog(args.catalog)
    except CatalogError as exc:
        first, more = (exc.problems or [str(exc)])[0], len(exc.problems) - 1
        return _error(first + (f" (and {more} more: moneypath catalog check --catalog {args.catalog})"
                               if more > 0 else ""))
    try:
        styles = parse_styles(args.style, list(catalog.providers))
    except StyleError as exc:
        return _error(str(exc))
    import uvicorn

    config = SimConfig.from_catalog(
        catalog, styles, settlement_dir=args.settlement_dir, webhook_url=args.webhook_url,
        webhook_secret=os.environ[SECRETS[0]].encode(), webhook_secrets=own_secrets(os.environ),
        token_secret=os.environ[SECRETS[1]].encode(),
        enable_faults=args.enable_faults, latency_scale=args.latency_scale, seed=args.seed,
        settlement_interval_s=args.settlement_interval, heap_freeze_interval_s=HEAP_FREEZE_INTERVAL_S)
    app = create_app(config)
    heap.settle()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _error(message: str) -> int:
    print(f"providersim: error: {message}", file=sys.stderr)
    return ExitCode.USAGE


if __name__ == "__main__":
    sys.exit(main())
