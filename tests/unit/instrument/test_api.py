"""The library's surface is its `__all__` and its modules without a leading underscore, exactly as
docs/instrumenting.md's "The API" lists them; an internal module has no public twin of the same name."""

from __future__ import annotations

import pkgutil
import re

import pytest

import moneypath.instrument as library
from tests.conftest import ROOT

PAGE = ROOT / "docs" / "instrumenting.md"


def listed() -> tuple[list[str], list[str]]:
    """The first cell of every table row under "## The API": names, and dotted module names."""
    section = re.search(r"^## The API\n(.*?)^## ", PAGE.read_text(), re.S | re.M).group(1)
    cells = re.findall(r"^\| `([\w.]+)` \|", section, re.M)
    return [c for c in cells if "." not in c], [c for c in cells if "." in c]


def public_modules() -> set[str]:
    return {f"{library.__name__}.{m.name}" for m in pkgutil.iter_modules(library.__path__)
            if not m.name.startswith("_")}


def test_the_page_lists_all_of_the_api_and_nothing_else():
    names, modules = listed()
    assert len(names) == len(set(names)) and len(modules) == len(set(modules))
    assert set(names) == set(library.__all__), "docs/instrumenting.md 'The API' and moneypath.instrument.__all__"
    assert set(modules) == public_modules(), "docs/instrumenting.md 'The API' and the modules without a leading _"
    for name in library.__all__:
        assert getattr(library, name) is not None


def test_no_internal_module_has_a_public_twin():
    """`_signals` and `signals` side by side would be two names for one thing (no release ever shipped the
    unprefixed names, so none is kept for compatibility)."""
    names = {m.name for m in pkgutil.iter_modules(library.__path__)}
    twins = sorted(n for n in names if n.startswith("_") and not n.startswith("__") and n[1:] in names)
    assert not twins, twins
    with pytest.raises(ModuleNotFoundError):
        __import__("moneypath.instrument.signals")
