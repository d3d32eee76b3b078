"""The tree shows the architecture: a module's name says what it holds, once, and no file grows past a page.

Exempt from unique names: `__init__.py` and `__main__.py` (Python's names), and the folders whose modules mirror a
user-facing name by design: cli/ (one module per command group), generate/dashboards/ (one per dashboard),
generate/export/ (one per platform)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "moneypath"
MAX_LINES = 500
EXEMPT_NAMES = {"__init__.py", "__main__.py"}
EXEMPT_FOLDERS = {SRC / "cli", SRC / "generate" / "dashboards", SRC / "generate" / "export"}


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_two_modules_share_a_name():
    by_name = defaultdict(list)
    for path in SRC.rglob("*.py"):
        if path.name not in EXEMPT_NAMES and path.parent not in EXEMPT_FOLDERS:
            by_name[path.name].append(str(path.relative_to(SRC)))
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}


def test_no_module_is_over_500_lines():
    assert [str(p.relative_to(ROOT)) for p in SRC.rglob("*.py") if _lines(p) > MAX_LINES] == []


def test_no_test_file_is_over_500_lines():
    assert sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*.py") if _lines(p) > MAX_LINES) == []
