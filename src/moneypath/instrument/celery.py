"""Celery prefork workers in prometheus-client's multiprocess mode (opt-in: `pip install moneypath[celery]`).

Call `instrument_worker(metrics_port=...)` where the Celery app is defined (the main process and every pool
child import it, and so do web processes that queue tasks), with PROMETHEUS_MULTIPROC_DIR set in the worker's
environment; a worker started without it exits with one line. Then:

- `worker_init` (main process, before the pool starts): a new run in the directory, anchored on it;
- `worker_process_init` (each pool child, after the fork): the child joins the run and names its files by its
  own PID and start time (prometheus-client re-opens its values for the new PID at the first write);
- `worker_process_shutdown` (a child exiting, e.g. after `--max-tasks-per-child`): its live gauges stop counting;
- `worker_ready` (main process): `/metrics` served from a thread on `addr:metrics_port`, every child's values
  summed; dead children's files folded into archives at each scrape.

Tasks record with the MoneyPath methods (`mp.record_provider_call`, ...), as any code does.
"""

from __future__ import annotations

import os

try:
    from celery import signals
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("moneypath.instrument.celery needs Celery: pip install 'moneypath[celery]'") from exc

from moneypath.instrument import _multiproc as multiproc
from moneypath.instrument._prometheus_backend import multiprocess_dir


def instrument_worker(metrics_port: int | None = None, addr: str = "127.0.0.1") -> None:
    """Connect the worker signals; `metrics_port`: serve /metrics from the main process there (None: not).
    Only a worker needs PROMETHEUS_MULTIPROC_DIR: a web process or `manage.py` importing the app does not."""
    path = multiprocess_dir()

    def worker_init(**_):
        if path is None:  # SystemExit, not an error Celery would log and start the worker anyway
            raise SystemExit("moneypath: set PROMETHEUS_MULTIPROC_DIR in the Celery worker's environment "
                             "(before it starts): its pool children's values cannot be summed without it")
        multiproc.start_run(path)

    def process_init(**_):
        if path is not None:
            multiproc.attach(path)

    def process_shutdown(**_):
        if path is not None:
            multiproc.drop_live_gauges(os.getpid(), path)

    def worker_ready(**_):
        from prometheus_client import CollectorRegistry

        from moneypath.instrument.exposition import start_metrics_server

        start_metrics_server(CollectorRegistry(), metrics_port, addr)

    signals.worker_init.connect(worker_init, weak=False)
    signals.worker_process_init.connect(process_init, weak=False)
    signals.worker_process_shutdown.connect(process_shutdown, weak=False)
    if metrics_port is not None:
        signals.worker_ready.connect(worker_ready, weak=False)
