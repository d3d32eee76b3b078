"""ASGI entry point: `uvicorn djangoshop.asgi:application --workers 2` from tests/foreign."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoshop.settings")
application = get_asgi_application()
