"""The Celery app: `celery -A djangoshop.celery worker --pool prefork --concurrency 2` from tests/foreign.
Broker and result backend are REDIS_URL (settings.CELERY_*). The worker serves its processes' money-path metrics
on 127.0.0.1:$CELERY_METRICS_PORT/metrics (default 9808), summed in its own $PROMETHEUS_MULTIPROC_DIR."""

import os

from celery import Celery

from moneypath.instrument.celery import instrument_worker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoshop.settings")

app = Celery("djangoshop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
instrument_worker(metrics_port=int(os.environ.get("CELERY_METRICS_PORT", "9808")))
