"""The fault proxy (moneypath.stack.faultproxy) in-process for tests: the app on loopback between a test client and
two recording providers and a recording webhook receiver (aiohttp), an admin token, a fault set through the admin API,
and the problem+json check."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

from moneypath.protocol.tokens import issue
from moneypath.stack import faultproxy as fp
from tests.conftest import free_port

SECRET = b"unit-token-secret"
PROVIDERS = ("komoju", "knet")


def admin_headers(scopes=("admin:faults",), secret=SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue(secret, 'unit', list(scopes), ttl_s=120)}"}


class Recorder:
    """A provider (or the service's webhook endpoint) that records what reaches it."""

    def __init__(self, name: str):
        self.name, self.seen = name, []

    def app(self) -> web.Application:
        async def answer(request: web.Request):
            body = await request.read()
            self.seen.append({"method": request.method, "path_qs": request.raw_path, "body": body,
                              "headers": request.headers.copy()})
            if request.path.endswith("/fail"):
                return web.json_response({"error": "boom"}, status=500)
            response = web.json_response({"upstream": self.name, "n": len(self.seen)},
                                         status=201 if request.method == "POST" else 200,
                                         headers={"X-Upstream": self.name})
            response.headers.add("Set-Cookie", "a=1")
            response.headers.add("Set-Cookie", "b=2")
            return response

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        return app


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@asynccontextmanager
async def proxy(enable_faults=True, webhooks=True, knet_url: str | None = None, only: tuple[str, ...] = PROVIDERS):
    """The proxy between a client and two recording providers (and a recording webhook receiver); `only`: the
    providers given an upstream (the others are the catalog's, unproxied)."""
    komoju, knet, service = Recorder("komoju"), Recorder("knet"), Recorder("service")
    runners = []
    try:
        urls = {}
        for rec in (komoju, knet, service):
            runner, urls[rec.name] = await _start(rec.app())
            runners.append(runner)
        upstreams = {"komoju": urls["komoju"], "knet": knet_url or urls["knet"]}
        config = fp.ProxyConfig({p: u for p, u in upstreams.items() if p in only},
                                webhook_target=urls["service"] + "/hooks" if webhooks else None,
                                token_secret=SECRET, enable_faults=enable_faults, catalog_providers=PROVIDERS)
        app = fp.create_app(config)
        runner, url = await _start(app)
        runners.append(runner)
        async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=10)) as client:
            yield client, komoju, knet, service, app
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def run(body, **options):
    async def go():
        async with proxy(**options) as env:
            return await body(*env)
    return asyncio.run(asyncio.wait_for(go(), 30))


async def put(client, name: str, **body) -> dict:
    async with client.put(f"/admin/faults/{name}", json=body, headers=admin_headers()) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def problem_of(response: aiohttp.ClientResponse) -> dict:
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["status"] == response.status and body["type"].startswith("https://moneypath.dev/problems/")
    return body
