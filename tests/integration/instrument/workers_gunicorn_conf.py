"""gunicorn's config for the worker-model test: the run starts in the arbiter, before any worker."""

from moneypath.instrument.exposition import prepare_multiprocess_dir


def on_starting(server):
    prepare_multiprocess_dir()
