"""Reading YAML through libyaml's C parser, which PyYAML's wheels carry: the same documents, nodes and marks as
the pure-Python parser, about ten times faster (a catalog is read by every command and every test). On a syntax
error the text is read again by the pure-Python parser, whose message names what it expected and what it got."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(text: str, how: Callable[[str, type], Any]) -> Any:
    try:
        return how(text, _FAST)
    except yaml.YAMLError:
        return how(text, yaml.SafeLoader)  # raises the clearer error (or, should the parsers differ, reads it)


def load(text: str) -> Any:
    return _read(text, lambda t, loader: yaml.load(t, Loader=loader))  # noqa: S506 - safe loaders only


def load_all(text: str) -> list[Any]:
    return _read(text, lambda t, loader: list(yaml.load_all(t, Loader=loader)))  # noqa: S506 - safe loaders only


def compose(text: str) -> yaml.Node | None:
    return _read(text, lambda t, loader: yaml.compose(t, Loader=loader))
