# The Flask shop's gunicorn config, as docs/instrumenting.md's "Flask" writes it (PROMETHEUS_MULTIPROC_DIR set).
from moneypath.instrument.exposition import prepare_multiprocess_dir


def on_starting(server):
    prepare_multiprocess_dir()
