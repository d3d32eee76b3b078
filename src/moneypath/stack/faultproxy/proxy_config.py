"""The fault proxy's configuration from the command line: upstreams per provider, the webhook target, and
whether faults may be set; every mistake is a ConfigError of one line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

RESERVED = ("admin", "webhooks", "healthz")  # path heads the proxy answers itself: never a provider's name
SEED = 7  # faults that fire at a rate draw from a seeded generator: a drill replays the same way

class ConfigError(ValueError):
    """A bad proxy configuration, as one line for the command line."""


def parse_url(text: str, what: str) -> str:
    """An http(s) base URL without a trailing slash, query or fragment; ConfigError otherwise."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"{what}: {text!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{what}: {text!r} must be an http:// or https:// base URL without a query, "
                          "e.g. http://127.0.0.1:9101")
    return text.rstrip("/")


def parse_upstreams(values: Iterable[str], providers: Iterable[str]) -> dict[str, str]:
    """`--upstream NAME=URL` values → {provider: base URL}: one or more providers of the catalog, each once. A
    provider the service does not call through the proxy needs none (calls to it are refused: handlers)."""
    known = list(providers)
    upstreams: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        name = name.strip()
        if not sep or not name or not url.strip():
            raise ConfigError(f"--upstream {value!r}: expected PROVIDER=URL, e.g. {(known or ['acme'])[0]}="
                              "http://127.0.0.1:9101")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"--upstream {value!r}: {name} is not a provider of the catalog "
                              f"(known: {', '.join(known)}){hint}")
        if name in upstreams:
            raise ConfigError(f"--upstream {value!r}: {name} has an upstream already ({display(upstreams[name])})")
        if name in RESERVED:
            raise ConfigError(f"provider {name!r} cannot be proxied: /{name}/ is the proxy's own path "
                              f"({', '.join(RESERVED)} are reserved)")
        upstreams[name] = parse_url(url.strip(), f"--upstream {name}")
    if not upstreams:
        raise ConfigError(f"no --upstream: give one for each provider your service calls through the proxy, e.g. "
                          f"--upstream {(known or ['acme'])[0]}=URL (providers of the catalog: {', '.join(known)})")
    return upstreams


def display(url: str) -> str:
    """A URL for messages and /healthz: credentials in it are masked."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


@dataclass(frozen=True)
class ProxyConfig:
    upstreams: Mapping[str, str]  # provider → base URL (parse_upstreams)
    webhook_target: str | None = None  # base URL webhooks go to; None: /webhooks/… is a 404
    token_secret: bytes | None = None  # verifies admin tokens; required when faults are enabled
    enable_faults: bool = False
    seed: int = SEED
    # Every provider of the catalog: those without an upstream are answered "no upstream" (502), not "unknown".
    catalog_providers: tuple[str, ...] = ()

    def __post_init__(self):
        if self.enable_faults and not self.token_secret:
            raise ConfigError("faults need a token secret to check admin tokens (MONEYPATH_TOKEN_SECRET)")


def banner(config: ProxyConfig, url: str) -> str:
    routes = ", ".join(f"{p} → {display(u)}" for p, u in config.upstreams.items())
    hooks = f", webhooks → {display(config.webhook_target)}" if config.webhook_target else ""
    return f"faultproxy on {url}: {routes}{hooks} (faults {'enabled' if config.enable_faults else 'off'})"

