"""What the handlers serve from: one ProxyState per app, under the app's keys."""

from __future__ import annotations

from aiohttp import ClientSession, web

from moneypath.stack.faultproxy.proxy_config import ProxyConfig
from moneypath.stack.faultproxy.proxy_faults import ProxyFaults
from moneypath.stack.faultproxy.proxy_webhooks import WebhookRelay


class ProxyState:
    """The configuration as the handlers read it, the faults, the webhook relay, and the upstream session
    (open from the app's startup to its cleanup)."""

    def __init__(self, config: ProxyConfig):
        self.config = config
        self.providers = tuple(config.upstreams)
        self.upstreams = dict(config.upstreams)
        self.known = ", ".join(self.providers)
        self.unproxied = tuple(p for p in config.catalog_providers if p not in self.upstreams)  # no --upstream
        self.target = config.webhook_target.rstrip("/") if config.webhook_target else None
        self.faults = ProxyFaults(self.providers, config.seed)
        self.session: ClientSession | None = None
        self.webhooks = WebhookRelay(self.faults, self.client)

    def client(self) -> ClientSession:
        if self.session is None:
            raise RuntimeError("the fault proxy's upstream session is not open")
        return self.session


STATE = web.AppKey("state", ProxyState)
FAULTS = web.AppKey("faults", ProxyFaults)
WEBHOOKS = web.AppKey("webhooks", WebhookRelay)
CONFIG = web.AppKey("config", ProxyConfig)
