"""The worker-model tests' service as a Flask app instrumented with the extension (tests/integration/instrument/
test_workers_flask.py): `POST /call` records one capture against komoju, `POST /open` opens knet's circuit in the
worker that serves it; both answer with the worker's PID; the extension serves `/metrics`."""

import os

from flask import Flask

from moneypath.instrument.flask import MoneyPathFlask

app = Flask(__name__)
metrics = MoneyPathFlask(app, catalog=os.environ["MONEYPATH_CATALOG"])


@app.post("/call")
def call():
    metrics.mp.record_provider_call("komoju", "capture", "success", 0.01)
    return str(os.getpid())


@app.post("/open")
def open_circuit():
    metrics.mp.set_circuit_state("knet", "open")
    return str(os.getpid())
