"""The Celery app: `celery -A djangoshop.celery worker --pool prefork --concurrency 2` from tests/foreign.
Broker and result backend are REDIS_URL (settings.CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoshop.settings")

app = Celery("djangoshop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
