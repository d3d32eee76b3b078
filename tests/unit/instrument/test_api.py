"""The library's surface is its `__all__` and its modules without a leading underscore, exactly as
docs/instrumenting.md's "The API" lists them; the internal modules' old names still import for one release,
with a DeprecationWarning, and nothing of moneypath's own imports them any more."""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys

import pytest

import moneypath.instrument as library
from moneypath.instrument._moved import MOVED
from tests.conftest import ROOT

PAGE = ROOT / "docs" / "instrumenting.md"
SELF = ROOT / "tests" / "unit" / "instrument" / "test_api.py"


def listed() -> tuple[list[str], list[str]]:
    """The first cell of every table row under "## The API": names, and dotted module names."""
    section = re.search(r"^## The API\n(.*?)^## ", PAGE.read_text(), re.S | re.M).group(1)
    cells = re.findall(r"^\| `([\w.]+)` \|", section, re.M)
    return [c for c in cells if "." not in c], [c for c in cells if "." in c]


def public_modules() -> set[str]:
    return {f"{library.__name__}.{m.name}" for m in pkgutil.iter_modules(library.__path__)
            if not m.name.startswith("_") and m.name not in MOVED}


def test_the_page_lists_all_of_the_api_and_nothing_else():
    names, modules = listed()
    assert len(names) == len(set(names)) and len(modules) == len(set(modules))
    assert set(names) == set(library.__all__), "docs/instrumenting.md 'The API' and moneypath.instrument.__all__"
    assert set(modules) == public_modules(), "docs/instrumenting.md 'The API' and the modules without a leading _"
    for name in library.__all__:
        assert getattr(library, name) is not None


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_name_warns_and_is_the_internal_module(old, monkeypatch):
    internal = importlib.import_module(f"moneypath.instrument.{MOVED[old]}")
    monkeypatch.delitem(sys.modules, f"moneypath.instrument.{old}", raising=False)
    with pytest.warns(DeprecationWarning, match=rf"moneypath\.instrument\.{old} is internal now "
                                                rf"\(moneypath\.instrument\.{MOVED[old]}\)") as caught:
        __import__(f"moneypath.instrument.{old}")  # as an import statement does
    assert sys.modules[f"moneypath.instrument.{old}"] is internal is getattr(library, old)
    assert caught[0].filename == __file__  # the warning points at the import, not at the library
    monkeypatch.delitem(sys.modules, f"moneypath.instrument.{old}")
    with pytest.warns(DeprecationWarning):
        exec(f"from moneypath.instrument.{old} import *", {})


def test_every_old_name_is_a_shim_and_every_internal_module_exists():
    folder = ROOT / "src" / "moneypath" / "instrument"
    for old, new in MOVED.items():
        assert (folder / f"{new}.py").exists()
        assert "moved(__name__)" in (folder / f"{old}.py").read_text()


def test_nothing_of_moneypaths_own_imports_an_old_name():
    old = "|".join(MOVED)
    pattern = re.compile(rf"moneypath\.instrument\.({old})\b|from moneypath\.instrument import .*\b({old})\b")
    shims = {ROOT / "src" / "moneypath" / "instrument" / f"{name}.py" for name in MOVED}
    found = []
    for top in ("src", "tests", "benchmarks", "scripts", "docs", "loadtests"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in (".py", ".md") or path in shims or path == SELF:
                continue
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                code = path.suffix == ".py" or re.match(r"\s*(from|import) |::: ", line)  # a page's prose may name them
                if code and pattern.search(line) and "import _" not in line:
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "old module names (import the internal module or the library's __all__):\n" + "\n".join(found)
