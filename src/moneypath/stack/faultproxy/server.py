"""The fault proxy's aiohttp application, its lifecycle (the upstream session; held work released and
delivered on shutdown), and serving it on a port until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from aiohttp import web

from moneypath.stack.faultproxy.handlers import handle
from moneypath.stack.faultproxy.parse_errors import LIMITS, ProblemRunner
from moneypath.stack.faultproxy.proxy_config import ConfigError, ProxyConfig, display
from moneypath.stack.faultproxy.proxy_state import CONFIG, FAULTS, STATE, WEBHOOKS, ProxyState
from moneypath.stack.faultproxy.upstream import new_session

log = logging.getLogger("moneypath.faultproxy")

DRAIN_S = 5.0  # on shutdown: how long released webhooks get to be delivered
STARTUP_PROBE_S = 3.0
MAX_BODY_BYTES = 32 * 1024 * 1024


def create_app(config: ProxyConfig) -> web.Application:
    state = ProxyState(config)
    app = web.Application(client_max_size=MAX_BODY_BYTES, handler_args=LIMITS)
    app.router.add_route("*", "/{tail:.*}", handle)
    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    app[STATE], app[FAULTS], app[WEBHOOKS], app[CONFIG] = state, state.faults, state.webhooks, config
    return app


async def start(app: web.Application) -> None:
    app[STATE].session = new_session()


async def shutdown(app: web.Application) -> None:  # before aiohttp waits for the requests in flight
    state = app[STATE]
    state.faults.release_all()  # held answers and delayed requests go on now; delayed webhooks are delivered
    state.webhooks.release()  # and so is a webhook held out of order


async def cleanup(app: web.Application) -> None:
    state = app[STATE]
    left = await state.webhooks.drain(DRAIN_S)
    if left:
        log.warning("%d webhook deliveries still running at shutdown were abandoned", left)
    if session := state.session:
        state.session = None
        await session.close()


async def probe_upstreams(upstreams: Mapping[str, str], timeout_s: float = STARTUP_PROBE_S) -> list[str]:
    """One line per upstream that does not answer GET <base> within timeout_s (any HTTP status answers)."""
    import httpx

    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
        async def probe(provider: str, url: str) -> str | None:
            try:
                await client.get(url + "/")
            except httpx.HTTPError as exc:
                return f"upstream {provider} {display(url)} does not answer ({type(exc).__name__}: {exc or 'no detail'})"
            return None

        results = await asyncio.gather(*(probe(p, u) for p, u in upstreams.items()))
    return [line for line in results if line]


async def serve(config: ProxyConfig, host: str, port: int, ready: Callable[[str], None],
                stop: asyncio.Event | None = None, check_upstreams: bool = True) -> None:
    """Check the upstreams (ConfigError), listen, call ready(url), serve until SIGTERM/SIGINT or `stop`."""
    if check_upstreams and (problems := await probe_upstreams(config.upstreams)):
        raise ConfigError("; ".join(problems))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    # ProblemRunner: a request aiohttp cannot parse is answered problem+json too (parse_errors)
    runner = ProblemRunner(create_app(config), access_log=None, shutdown_timeout=2.0, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        bound = runner.addresses[0][1]
        for signum in (_signal("SIGTERM"), _signal("SIGINT")):
            loop.add_signal_handler(signum, stop.set)
        ready(f"http://{host if ':' not in host else f'[{host}]'}:{bound}")
        await stop.wait()
    finally:
        await runner.cleanup()


def _signal(name: str):
    import signal

    return getattr(signal, name)

