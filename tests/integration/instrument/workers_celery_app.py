"""A tiny Celery app for the worker-model test, on the ticket shop's catalog: `capture` records one capture
against komoju, `open_circuit` opens knet's circuit in the child that runs it; both return the child's PID.
Broker and results on REDIS_URL; /metrics from the main process on METRICS_PORT."""

import os

from celery import Celery

from moneypath.instrument import MoneyPath
from moneypath.instrument.celery import instrument_worker

app = Celery("mpworkers", broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
app.conf.worker_prefetch_multiplier = 1
mp = MoneyPath.from_catalog(os.environ["MONEYPATH_CATALOG"])
instrument_worker(metrics_port=int(os.environ["METRICS_PORT"]))


@app.task
def capture() -> int:
    mp.record_provider_call("komoju", "capture", "success", 0.02)
    return os.getpid()


@app.task
def open_circuit() -> int:
    mp.set_circuit_state("knet", "open")
    return os.getpid()
