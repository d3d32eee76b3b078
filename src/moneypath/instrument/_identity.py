"""Which process answered: an identity per process, on every answer and in `/metrics`.

The identity is a short random token and the process id (`a1b2c3-4242`), drawn when this module is first
imported and drawn again in a child after a fork (gunicorn --preload, Celery prefork), so two instances on one
machine, or two workers of one, never share it. Every web integration appends the precomputed header tuple
(`ASGI`, `WSGI`) to its answer; the Prometheus backend reports the same identity as the info series
`<namespace>_instance_info{instance_id="..."} 1`, one per live process (a `livemax` gauge in multi-process mode:
a dead worker's series goes with its files). A run compares the two (moneypath.check.scraped_identity).
docs/decisions/0026-instance-identity-header.md
"""

from __future__ import annotations

import os
import weakref

from moneypath.catalog.conventions import INSTANCE_HEADER, INSTANCE_ID_LABEL, INSTANCE_INFO

HEADER = INSTANCE_HEADER
_ASGI_NAME = INSTANCE_HEADER.lower().encode("latin-1")  # ASGI header names are lower-case bytes


def _draw() -> str:
    return f"{os.urandom(3).hex()}-{os.getpid()}"


IDENTITY = _draw()
ASGI = (_ASGI_NAME, IDENTITY.encode("latin-1"))
WSGI = (HEADER, IDENTITY)

INFO_HELP = (f"The process that serves these metrics and answers with the {HEADER} header: its identity (value 1, "
             "one series per live process).")
# registry → its info gauge: one per registry, whatever number of MoneyPaths share it.
_published: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def publish(registry, namespace: str) -> None:
    """Report this process's identity in `registry` (a prometheus-client CollectorRegistry), once."""
    if registry in _published:
        return
    from prometheus_client import Gauge

    gauge = Gauge(f"{namespace}_{INSTANCE_INFO}", INFO_HELP, labelnames=(INSTANCE_ID_LABEL,), registry=registry,
                  multiprocess_mode="livemax")
    gauge.labels(IDENTITY).set(1)
    _published[registry] = gauge


def _renew() -> None:
    """In a forked child: a new identity, on the answers and in each registry the parent published it in."""
    global IDENTITY, ASGI, WSGI
    old, IDENTITY = IDENTITY, _draw()
    ASGI = (_ASGI_NAME, IDENTITY.encode("latin-1"))
    WSGI = (HEADER, IDENTITY)
    for gauge in list(_published.values()):
        try:
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                gauge.labels(old).set(0)  # removal is not implemented there; a 0 is no process's identity
            else:
                gauge.remove(old)
            gauge.labels(IDENTITY).set(1)
        except Exception:  # noqa: BLE001 - the instrumentation never breaks the process it runs in
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew)
