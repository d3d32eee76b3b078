"""`moneypath faultproxy`: the fault proxy between your service and its providers (moneypath.stack.faultproxy)."""

from __future__ import annotations

import argparse
import os
import sys

from moneypath._common.exit_codes import ExitCode

TOKEN_SECRET = "MONEYPATH_TOKEN_SECRET"

EPILOG = """Point your service's provider base URLs at http://HOST:PORT/<provider> and, with --webhook-target,
your providers' webhook URLs at http://HOST:PORT/webhooks/<provider>/<your webhook path>.

faults (PUT /admin/faults/<name> with {"provider": P, ...params, "duration_s": N}; off unless --enable-faults,
then a bearer token with scope admin:faults minted from $MONEYPATH_TOKEN_SECRET):
  reset {rate}                  close the connection without an answer (nothing forwarded)
  error_rate {rate, status=503} answer status itself, problem+json (nothing forwarded)
  latency {extra_ms}            wait, then forward
  timeout {rate, delay_s}       forward, hold the upstream's answer delay_s (the charge happened)
  duplicate_webhooks {rate}     deliver a webhook twice
  delay_webhooks {delay_s}      answer the provider 202 at once, deliver delay_s later
  out_of_order_webhooks {}      hold one webhook, deliver the next first, then the held one
Every fault ends after duration_s (default 900 s) even if nobody clears it.

example:
  moneypath faultproxy --catalog ops/moneypath.yaml --upstream komoju=https://sandbox.komoju.example \\
      --upstream knet=http://127.0.0.1:9102 --webhook-target http://127.0.0.1:8080 --enable-faults"""


def add_commands(commands, catalog_arg, state_arg) -> None:
    proxy = commands.add_parser(
        "faultproxy", help="HTTP proxy between your service and its providers that injects faults on request",
        description="Forward ANY /<provider>/<path> to that provider's --upstream and, with --webhook-target,\n"
                    "ANY /webhooks/<provider>/<path> to your service; inject provider and webhook faults over\n"
                    "/admin/faults (the same API as the provider simulator's). Give an --upstream for each\n"
                    "provider your service calls through the proxy (one at least; a call to another provider of\n"
                    "the catalog is answered 502 problem+json naming the --upstream it lacks), and every\n"
                    "upstream must answer at startup (exit 2 otherwise).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    catalog_arg(proxy)
    proxy.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    proxy.add_argument("--port", type=int, default=8790, help="port to listen on (default: 8790; 0 picks a free one)")
    proxy.add_argument("--upstream", action="append", default=[], metavar="PROVIDER=URL",
                       help="where a provider's calls go: its sandbox or the simulator (repeatable: one for each "
                            "provider of the catalog the service calls through the proxy), e.g. "
                            "komoju=http://127.0.0.1:9101")
    proxy.add_argument("--webhook-target", metavar="URL",
                       help="your service's base URL: /webhooks/<provider>/<path> goes to URL/<path> "
                            "(default: no webhooks relayed)")
    proxy.add_argument("--enable-faults", action="store_true",
                       help=f"allow PUT/DELETE /admin/faults (off by default; needs ${TOKEN_SECRET} to check "
                            "admin tokens)")
    proxy.set_defaults(run=_run)


def _fail(message: str, code: int = ExitCode.USAGE) -> int:
    print(f"moneypath faultproxy: {message}", file=sys.stderr)
    return code


def _run(args) -> int:
    try:
        import aiohttp  # noqa: F401 - the proxy's HTTP stack, from the tools extra
    except ModuleNotFoundError as exc:
        from moneypath.cli import extras

        print(extras.message("faultproxy", "tools", exc.name or "aiohttp"), file=sys.stderr)
        return ExitCode.USAGE
    from moneypath.catalog import load_catalog
    from moneypath.stack import faultproxy

    catalog = load_catalog(args.catalog)  # CatalogError: the command line's one line per problem, exit 3
    if not 0 <= args.port <= 65535:
        return _fail(f"--port {args.port}: must be from 0 to 65535")
    secret = os.environ.get(TOKEN_SECRET, "")
    try:
        upstreams = faultproxy.parse_upstreams(args.upstream, catalog.providers)
        target = faultproxy.parse_url(args.webhook_target, "--webhook-target") if args.webhook_target else None
        if args.enable_faults and not secret:
            raise faultproxy.ConfigError(f"--enable-faults needs {TOKEN_SECRET} in the environment "
                                         "(admin tokens are checked with it)")
        config = faultproxy.ProxyConfig(upstreams, target, secret.encode() or None, args.enable_faults,
                                        catalog_providers=tuple(catalog.providers))
    except faultproxy.ConfigError as exc:
        return _fail(str(exc))

    def ready(url: str) -> None:  # listening: from here on, JSON log lines on stderr
        from moneypath.instrument import configure_json_logging

        configure_json_logging()
        logging_quiet()
        print(faultproxy.banner(config, url), flush=True)

    try:
        _event_loop_run(faultproxy.serve(config, args.host, args.port, ready))
    except faultproxy.ConfigError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(str(exc), 1)
    return 0


def logging_quiet() -> None:
    """No line per request (aiohttp's access log, httpx's startup probes); errors and faults stay visible."""
    import logging

    for name in ("aiohttp.access", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _event_loop_run(coro) -> None:
    """uvloop when it is installed (the reference extra brings it), else asyncio's loop."""
    import asyncio

    try:
        import uvloop
    except ModuleNotFoundError:
        asyncio.run(coro)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)
