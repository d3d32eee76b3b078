"""Django: the request middleware (WSGI and ASGI), the process's MoneyPath from settings, and a /metrics view.

    # settings.py
    MONEYPATH = {"CATALOG": BASE_DIR / "ops" / "moneypath.yaml"}
    MIDDLEWARE = ["moneypath.instrument.django.DjangoMoneyPathMiddleware", *MIDDLEWARE]
    # urls.py
    path("metrics", moneypath.instrument.django.metrics_view)
    # anywhere
    get_moneypath().record_authorization("paystack", "card", "approved", 0.3)

Settings keys (all optional but one of CATALOG / INSTANCE): CATALOG the catalog file (relative to BASE_DIR
when set); BACKEND "prometheus" (default), "otel" or "none"; INSTANCE a dotted path to a MoneyPath the service
builds itself (then CATALOG and BACKEND are not read); SKIP_PATHS paths not recorded (default /metrics and
/metrics/). The middleware records `http_requests_total` and `http_request_duration_seconds` by the resolved
route template (Django's `<int:pk>` and re_path's `(?P<pk>...)` become `{pk}`) and sets the correlation id,
exactly as the ASGI middleware (moneypath.instrument.middleware) does; it is sync- and async-capable, so
under ASGI it runs on the event loop without a thread switch.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction
    from django.conf import settings
    from django.contrib.admindocs.utils import replace_named_groups
    from django.core.exceptions import ImproperlyConfigured
    from django.core.signals import setting_changed
    from django.http import HttpResponse, HttpResponseNotAllowed
    from django.utils.module_loading import import_string
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError("moneypath.instrument.django needs Django: pip install 'moneypath[django]'") from exc

from moneypath.instrument import _identity
from moneypath.instrument._correlation import accept_correlation_id, reset_correlation_id, set_correlation_id
from moneypath.instrument._signals import MoneyPath
from moneypath.protocol.correlation_header import HEADER

SETTING = "MONEYPATH"
KEYS = ("CATALOG", "BACKEND", "INSTANCE", "SKIP_PATHS")
DEFAULT_SKIP_PATHS = ("/metrics", "/metrics/")
_ROUTE_CACHE_LIMIT = 1024
# The header as WSGI/ASGI environ key: request.META is there already, request.headers builds a dict per request.
_META_HEADER = "HTTP_" + HEADER.upper().replace("-", "_")

_lock = threading.Lock()
_instance: MoneyPath | None = None
_collector = None


def get_moneypath() -> MoneyPath:
    """The process's MoneyPath, built once from `settings.MONEYPATH` (ImproperlyConfigured, one line, when it
    cannot be)."""
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = _from_settings(_config())
    return _instance


def _config() -> dict:
    conf = getattr(settings, SETTING, None)
    if not isinstance(conf, dict):
        raise ImproperlyConfigured(f"settings.{SETTING}: set it to a dict, e.g. "
                                   f"{SETTING} = {{\"CATALOG\": BASE_DIR / \"moneypath.yaml\"}}")
    unknown = sorted(set(conf) - set(KEYS))
    if unknown:
        raise ImproperlyConfigured(f"settings.{SETTING}: unknown key {', '.join(map(str, unknown))} "
                                   f"(known: {', '.join(KEYS)})")
    return conf


def _from_settings(conf: dict) -> MoneyPath:
    if "INSTANCE" in conf:
        mp = import_string(conf["INSTANCE"])
        if not isinstance(mp, MoneyPath):
            raise ImproperlyConfigured(f"settings.{SETTING}['INSTANCE']: {conf['INSTANCE']} is not a MoneyPath")
        return mp
    if "CATALOG" not in conf:
        raise ImproperlyConfigured(f"settings.{SETTING}: give CATALOG (the catalog file) or INSTANCE (a MoneyPath)")
    path = Path(conf["CATALOG"])
    base = getattr(settings, "BASE_DIR", None)
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return MoneyPath.from_catalog(path, conf.get("BACKEND", "prometheus"))


def _settings_changed(setting, **kwargs) -> None:
    """`override_settings(MONEYPATH=...)` in a service's tests gets a MoneyPath built from the new value."""
    global _instance, _collector
    if setting == SETTING:
        with _lock:
            _instance = _collector = None


setting_changed.connect(_settings_changed)


def route_template(route: str) -> str | None:
    """`ResolverMatch.route` in the catalog's template form: leading "/", `<int:pk>` and `<pk>` as `{pk}`,
    a regex's named groups `(?P<pk>[0-9]+)` as `{pk}` (Django's own admindocs rewrite) and its anchors dropped;
    None for a regex that is not a plain path with named groups (an unnamed group, a quantifier, an alternative)."""
    if "(?P<" in route:
        route = replace_named_groups(route)
    out: list[str] = []
    i, n = 0, len(route)
    while i < n:
        c = route[i]
        if c == "<":
            close = route.find(">", i)
            if close < 0:
                return None
            out.append("{" + route[i + 1:close].rpartition(":")[2] + "}")
            i = close + 1
            continue
        if c == "\\" and i + 1 < n:
            nxt = route[i + 1]
            if nxt in "AZ":
                i += 2
                continue
            if nxt.isalnum():
                return None  # \d, \w: a character class outside a named group
            out.append(nxt)
            i += 2
            continue
        if c in "^$":
            i += 1
            continue
        if c in "()[]{}*+?|":
            return None
        out.append(c)
        i += 1
    text = "".join(out)
    return text if text.startswith("/") else "/" + text


class DjangoMoneyPathMiddleware:
    """`settings.MIDDLEWARE = ["moneypath.instrument.django.DjangoMoneyPathMiddleware", ...]`, first, so its time
    covers the other middleware too. Sync under WSGI, async under ASGI (no thread switch for it)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.mp = get_moneypath()
        self.skip_paths = frozenset(_config().get("SKIP_PATHS", DEFAULT_SKIP_PATHS))
        self._routes: dict[str, str | None] = {}
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._async:
            return self._acall(request)
        correlation_id = accept_correlation_id(request.META.get(_META_HEADER))
        token = set_correlation_id(correlation_id)
        status = 500
        start = time.perf_counter()
        try:
            response = self.get_response(request)
            status = response.status_code
            response[HEADER] = correlation_id
            response[_identity.HEADER] = _identity.IDENTITY
            return response
        finally:
            self._record(request, status, time.perf_counter() - start)
            reset_correlation_id(token)

    async def _acall(self, request):
        correlation_id = accept_correlation_id(request.META.get(_META_HEADER))
        token = set_correlation_id(correlation_id)
        status = 500
        start = time.perf_counter()
        try:
            response = await self.get_response(request)
            status = response.status_code
            response[HEADER] = correlation_id
            response[_identity.HEADER] = _identity.IDENTITY
            return response
        finally:
            self._record(request, status, time.perf_counter() - start)
            reset_correlation_id(token)

    def _record(self, request, status: int, seconds: float) -> None:
        path = request.path_info
        if path in self.skip_paths:
            return
        match = getattr(request, "resolver_match", None)
        route = None
        if match is not None and match.route is not None:
            route = self._routes.get(match.route, "")
            if route == "":
                route = route_template(match.route)
                if len(self._routes) < _ROUTE_CACHE_LIMIT:
                    self._routes[match.route] = route
        self.mp.record_request(route, path, request.method, status, seconds)


def metrics_view(request):
    """`/metrics` for Prometheus: every worker's values in multi-process mode (PROMETHEUS_MULTIPROC_DIR, as
    `MoneyPath.metrics_app` serves them), OpenMetrics with exemplars when asked. A sync view: under ASGI Django
    runs it in its sync thread, off the event loop."""
    from moneypath.instrument.exposition import collection_registry, render

    global _collector
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    collector = _collector
    if collector is None:
        collector = _collector = collection_registry(get_moneypath().registry)
    body, content_type = render(collector, request.headers.get("Accept", ""))
    return HttpResponse(b"" if request.method == "HEAD" else body, content_type=content_type)
