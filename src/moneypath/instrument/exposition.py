"""Serving `/metrics` without stalling payments, and multi-process collection.

Rendering is pure Python and grows with the sample lines, so a large exposition rendered
inside the event loop stalls every in-flight request
(docs/decisions/0004-metrics-off-the-request-loop.md). `metrics_app` renders in a worker thread;
`start_metrics_server` serves from a separate thread with its own HTTP server.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import weakref
from collections.abc import Callable

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from moneypath.instrument import _procfs
from moneypath.instrument._prometheus_backend import multiprocess_dir


def render(registry: Collector, accept: str = "") -> tuple[bytes, str]:
    """Exposition for an Accept header: OpenMetrics (with exemplars) when asked, else text."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


_RENDER_SWITCH_INTERVAL_S = 0.0005
_renders_lock = threading.Lock()
_renders_active = 0
_saved_switch_interval = sys.getswitchinterval()


class YieldingCollector(Collector):
    """Wraps a registry so that rendering it in a thread does not stall the event loop.

    Rendering is pure Python and holds the GIL; with the default 5 ms switch interval the
    event loop waits up to 5 ms each time it wants the GIL back, several times per request.
    While any collection runs (the encoder formats families as they are yielded), the
    interval is lowered to 0.5 ms; it is restored when the last one finishes.
    """

    def __init__(self, registry: Collector, source: Collector | None = None):
        self.registry = registry
        self.source = source if source is not None else registry  # the MoneyPath's own registry

    def restricted_registry(self, names):
        """`?name[]=` filtering, as prometheus-client's HTTP server asks for it."""
        return YieldingCollector(self.registry.restricted_registry(names), self.source)

    def collect(self):
        global _renders_active, _saved_switch_interval
        if _checked_pid != os.getpid():
            _check_shared_port(self.source)
        with _renders_lock:
            if _renders_active == 0:
                _saved_switch_interval = sys.getswitchinterval()
                sys.setswitchinterval(min(_saved_switch_interval, _RENDER_SWITCH_INTERVAL_S))
            _renders_active += 1
        try:
            yield from self.registry.collect()
        finally:
            with _renders_lock:
                _renders_active -= 1
                if _renders_active == 0:
                    sys.setswitchinterval(_saved_switch_interval)


def collection_registry(registry: Collector) -> Collector:
    """What to serve: the given registry, or every worker's values in multi-process mode."""
    path = multiprocess_dir()
    if path is None:
        return YieldingCollector(registry)
    from moneypath.instrument import _multiproc as multiproc

    merged = CollectorRegistry()
    merged.register(multiproc.collector(path))
    return YieldingCollector(merged, registry)


# Several workers behind one port, each with its own registry (no multi-process directory): each scrape reads one
# of them, and their counters go backwards. Checked at the first collection in each process, never on the hot path.
_reporters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # registry → its MoneyPath's report
_checked_pid = 0


def report_shared_port(registry: Collector, report: Callable[[], None]) -> None:
    """Call `report` when this registry is served by a process that shares its listening port with a sibling."""
    _reporters[registry] = report


def _check_shared_port(registry: Collector) -> None:
    global _checked_pid
    _checked_pid = os.getpid()
    report = _reporters.get(registry)
    try:
        if report is not None and multiprocess_dir() is None and shares_listening_socket():
            report()
    except Exception:  # noqa: BLE001 - serving /metrics must not fail on a diagnosis
        pass


def shares_listening_socket() -> bool:
    """Whether another child of this process's parent holds one of this process's listening TCP sockets (gunicorn's
    or uvicorn's workers accepting on one port); False where /proc cannot tell (not Linux)."""
    mine = _procfs.socket_inodes("self") & _procfs.listening_inodes(tcp_only=True)
    if not mine:
        return False
    me, parent = os.getpid(), os.getppid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (me, parent):
            continue
        if _procfs.parent_of(entry) == parent and _procfs.socket_inodes(entry) & mine:
            return True
    return False


class MetricsApp:
    """ASGI app serving a registry at any path, rendering in a worker thread.

    A class rather than a function so that Starlette's `Route("/metrics", app)` treats it
    as an ASGI app, not as a request handler.
    """

    def __init__(self, registry: Collector):
        self.registry = collection_registry(registry)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _reply(send, 405, b"method not allowed\n", "text/plain; charset=utf-8")
            return
        accept = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept"), "")
        body, content_type = await asyncio.to_thread(render, self.registry, accept)
        await _reply(send, 200, b"" if scope["method"] == "HEAD" else body, content_type)


async def _reply(send, status: int, body: bytes, content_type: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def start_metrics_server(registry: Collector, port: int, addr: str = "127.0.0.1"):
    """Serve /metrics from its own thread and HTTP server; returns (server, thread)."""
    return start_http_server(port, addr=addr, registry=collection_registry(registry))


def prepare_multiprocess_dir(path: str | None = None) -> str:
    """Start a run in the multi-process directory, anchored on this process (the process manager: gunicorn's
    `on_starting`, Celery's main process): files that dead processes left are deleted, never counted. Without
    it, the first worker starts the run itself, anchored on its supervisor (uvicorn's), or on itself when nothing
    supervises it (a single-process server)."""
    from moneypath.instrument import _multiproc as multiproc

    path = path or multiprocess_dir()
    if not path:
        raise ValueError("set PROMETHEUS_MULTIPROC_DIR (before importing prometheus_client) or pass a path")
    return multiproc.start_run(path)


def mark_process_dead(pid: int) -> None:
    """A worker exited: its live gauges stop counting now. Optional (gunicorn's child_exit): the next
    collection folds every dead worker's files by itself."""
    from moneypath.instrument import _multiproc as multiproc

    multiproc.drop_live_gauges(pid, multiprocess_dir())
