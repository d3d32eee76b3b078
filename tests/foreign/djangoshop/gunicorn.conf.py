"""gunicorn's config: `gunicorn -c djangoshop/gunicorn.conf.py -w 2 djangoshop.wsgi` from tests/foreign, with
PROMETHEUS_MULTIPROC_DIR set: the arbiter starts the metrics run before any worker, so files an earlier run
left behind are never counted."""

from moneypath.instrument.exposition import prepare_multiprocess_dir


def on_starting(server):
    prepare_multiprocess_dir()
