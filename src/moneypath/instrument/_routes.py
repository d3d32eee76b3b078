"""Route templates in the catalog's `{name}` form from each framework's own rule syntax, and the worker check.

Werkzeug's rules (Flask, Quart) write `/orders/<int:order_id>`, Litestar's `/orders/{order_id:int}`; the catalog
writes `/orders/{order_id}`. Conversions are cached per rule (bounded), so the hot path pays one dict lookup.
"""

from __future__ import annotations

import re
import sys

_WERKZEUG_PARAM = re.compile(r"<(?:[^<>]*:)?([A-Za-z_]\w*)>")
_TYPED_PARAM = re.compile(r"\{([A-Za-z_]\w*):[^{}]*\}")
CACHE_LIMIT = 1024


def werkzeug_template(rule: str) -> str:
    """`/orders/<int:order_id>` (a werkzeug rule: Flask, Quart) as `/orders/{order_id}`."""
    return _WERKZEUG_PARAM.sub(r"{\1}", rule)


def typed_template(path: str) -> str:
    """`/orders/{order_id:int}` (Litestar's, Falcon's and Pyramid's typed parameters) as `/orders/{order_id}`."""
    return _TYPED_PARAM.sub(r"{\1}", path) if ":" in path else path


class TemplateCache(dict):
    """rule → template through `convert`, remembering at most CACHE_LIMIT rules."""

    def __init__(self, convert):
        super().__init__()
        self.convert = convert

    def __missing__(self, rule: str) -> str:
        template = self.convert(rule)
        if len(self) < CACHE_LIMIT:
            self[rule] = template
        return template


def gunicorn_workers() -> int | None:
    """How many workers the gunicorn running this code starts (its settings, from the command line, the config file
    or GUNICORN_CMD_ARGS), read from the gunicorn object loading the app up the stack; None outside gunicorn."""
    if "gunicorn" not in sys.modules:
        return None
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if owner is not None and type(owner).__module__.startswith("gunicorn."):
            workers = getattr(getattr(owner, "cfg", None), "workers", None)
            if isinstance(workers, int):
                return workers
        frame = frame.f_back
    return None


def check_workers(moneypath) -> None:
    """At an integration's start: several gunicorn workers without a multi-process directory each keep counters of
    their own, so every rate is wrong. Logged once and counted in instrumentation_errors_total; drills and `moneypath
    status` see the alternating counters in Prometheus (moneypath.check.counter_resets)."""
    from moneypath.instrument._prometheus_backend import multiprocess_dir

    if getattr(moneypath.backend, "name", None) != "prometheus" or multiprocess_dir() is not None:
        return
    workers = gunicorn_workers()
    if workers is not None and workers > 1:
        moneypath._several_processes(f"gunicorn runs {workers} workers")
