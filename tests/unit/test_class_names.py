"""A public class name names one class: no two modules under src/moneypath define a top-level class (no leading
underscore) of the same name, but for the few on REVIEWED, each with the reason it stays."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "moneypath"
MAX_REVIEWED = 10

# name -> why two classes keep it. Each must still repeat: a name that no longer does comes off the list.
REVIEWED = {
    "MoneyPath": "the instrument library's public recording API, and the catalog's `money_path:` model, whose class "
                 "name is its heading in the generated catalog reference (docs/reference/catalog.md)",
    "Payment": "the payment a locustfile's user gets back (moneypath.loadtest.in_locust.user's API, "
               "docs/load-tests.md), and the reference service's payment body, whose class name is its schema's name "
               "in /openapi.json",
    "Problem": "the refusal raised under a request (moneypath._common.problem), and its RFC 9457 body in the reference "
               "service's OpenAPI document, whose schema is named Problem",
}


def repeated(root: Path) -> dict[str, list[str]]:
    """Public top-level class name -> the modules (relative to `root`) defining it, for names defined more than once."""
    where = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                where[node.name].append(str(path.relative_to(root)))
    return {name: paths for name, paths in where.items() if len(paths) > 1}


def test_no_public_class_name_repeats_but_the_reviewed():
    assert {name: paths for name, paths in repeated(SRC).items() if name not in REVIEWED} == {}


def test_every_reviewed_name_still_repeats():
    assert len(REVIEWED) <= MAX_REVIEWED
    assert sorted(set(REVIEWED) - set(repeated(SRC))) == []


def test_the_scanner_finds_a_planted_repeat(tmp_path):
    (tmp_path / "a.py").write_text("class Target:\n    pass\n\n\nclass _Private:\n    pass\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "b.py").write_text("class Target:\n    pass\n\n\nclass _Private:\n    pass\n\n\n"
                                          "def f():\n    class Inner:\n        pass\n")
    (tmp_path / "pkg" / "c.py").write_text("class Inner:\n    pass\n")
    assert repeated(tmp_path) == {"Target": ["a.py", "pkg/b.py"]}
