"""Code comments and docstrings under src/moneypath say what the code does and why, not how it was found.

Dates, machines, issue numbers, session history and before/after figures belong on the decision pages
(docs/decisions/) and in docs/performance.md; the code links to its decision page instead.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "moneypath"
FIXTURE = Path(__file__).parent / "fixtures" / "notebook_admission_docstring.txt"

ISO_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
VM = re.compile(r"\bVMs?\b|\bon an? (?:slow|slower|fast|faster|quiet|busy|loaded) (?:VM|machine|box)\b")
ISSUE = re.compile(r"\bissues? #?\d+", re.IGNORECASE)
SESSION = re.compile(
    r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\d+(?:st|nd|rd|th)) sessions?\b",
    re.IGNORECASE,
)
MEASURED_AGAINST = re.compile(r"\b[Mm]easured\b.*\bagainst\b")
MEASURED_ARROW = re.compile(r"\b[Mm]easured\b.*\d.*(?:->|→)")  # a figure, then where it went
FIGURE_ARROW = re.compile(r"\d[\d.,]*\s*(?:ms|µs|s|%|/s|MB|MiB|GB|x)\s*(?:->|→)\s*~?\d")
PERFORMANCE_RECORD = re.compile(r"performance-record\.md")

PATTERNS = {
    "ISO date": ISO_DATE,
    "VM mention": VM,
    "issue reference": ISSUE,
    "session reference": SESSION,
    "measured against": MEASURED_AGAINST,
    "measured before -> after": MEASURED_ARROW,
    "figure before -> after": FIGURE_ARROW,
    "link to the performance record": PERFORMANCE_RECORD,
}


def notebook_hits(text: str, first_line: int = 1) -> list[tuple[int, str, str]]:
    """(line, pattern name, matched text) for every line of `text` a pattern refuses; pure."""
    hits = []
    for offset, line in enumerate(text.splitlines()):
        for name, pattern in PATTERNS.items():
            match = pattern.search(line)
            if match:
                hits.append((first_line + offset, name, match.group(0)))
    return hits


def prose(source: str) -> list[tuple[int, str]]:
    """(first line, text) of every comment and docstring in a module's source."""
    found = [
        (tok.start[0], tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    found.append((body[0].lineno, body[0].value.value))
    return found


def tree_hits(root: Path = SRC) -> list[str]:
    """Every refused line under `root`, as "path:line: pattern: match"."""
    out = []
    for path in sorted(root.rglob("*.py")):
        for first_line, text in prose(path.read_text(encoding="utf-8")):
            for line, name, match in notebook_hits(text, first_line):
                out.append(f"{path.relative_to(root.parent)}:{line}: {name}: {match!r}")
    return out


def test_the_checker_rejects_a_lab_notebook_docstring():
    names = {name for _, name, _ in notebook_hits(FIXTURE.read_text(encoding="utf-8"))}
    assert {"ISO date", "VM mention", "issue reference", "link to the performance record"} <= names


def test_the_checker_passes_a_contract_docstring():
    clean = '''"""Refuse above the limit on requests in flight, moved by the event loop's lag.

    Every window (100 ms) the median lag is read; the floor is 32, scrapes come every 1 s, the
    body cap is 10 MB. Why a lag-driven limit: docs/decisions/0001-admission-limit-from-loop-lag.md
    """'''
    assert notebook_hits(clean) == []
    assert notebook_hits("# 2026-11-27, on a slow VM: 42 % -> 35 % (issue 27, the third session)\n") != []


def test_src_comments_and_docstrings_are_not_a_lab_notebook():
    hits = tree_hits()
    assert not hits, "lab-notebook text in src (move it to docs/decisions/):\n" + "\n".join(hits)
