#!/usr/bin/env python
"""Django's command-line utility for the shop: `python djangoshop/manage.py migrate` from tests/foreign."""

import os
import sys
from pathlib import Path


def main() -> None:
    # The directory holding the project package, instead of this one (where `celery` would be djangoshop/celery.py).
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoshop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
