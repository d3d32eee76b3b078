"""Correlation ids that follow a payment across service, adapter, provider and webhook."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from moneypath.catalog.pan import contains_card_number

_VALID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_current: ContextVar[str | None] = ContextVar("moneypath_correlation_id", default=None)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def accept_correlation_id(value: str | None) -> str:
    """A caller's id if it is safe to log and echo, else a fresh one. Digits that could be a
    card number are never accepted, since the id ends up in every log line."""
    if value and _VALID.fullmatch(value) and not contains_card_number(value):
        return value
    return new_correlation_id()


def current_correlation_id() -> str | None:
    return _current.get()


def set_correlation_id(value: str):
    """Bind an id to the current context; returns a token for `reset_correlation_id`."""
    return _current.set(value)


def reset_correlation_id(token) -> None:
    _current.reset(token)
