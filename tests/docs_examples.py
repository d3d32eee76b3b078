"""The code examples of the README and the docs site (docs/**/*.md), and what proves each one.

A shell or Python example is true only if something runs it. The line just above its fence says what:

- `<!-- example: run -->`: tests/unit/test_docs.py runs its `moneypath` commands in process (a `console`
  example's `$` lines, whose shown output must appear in what the command prints);
- `<!-- example: tests/<path>.py::<test> -->`: that test runs it (it starts a whole stack, a service or
  Locust), reading the example from the page with `code_block` where it can (test_footprint.py does);
- `<!-- example: Makefile -->`: `make` targets, and tools the Makefile's recipes run.

tests/unit/test_docs.py holds every page to this; `code_block` is how a test reads an example from a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_LANGS = {"sh", "shell", "bash", "console", "python"}
MARKER = re.compile(r"^<!-- example: (.+?) -->$")
FENCE = re.compile(r"^```(\w*)\s*$")
HEADING = re.compile(r"^(#{1,6}) (.+)$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    heading: str  # the nearest heading above it, without its #s
    proof: str | None  # the marker above the fence

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(page: Path) -> list[Block]:
    """Every fenced block of a page, with the heading it sits under and the marker above it."""
    found, lines = [], page.read_text().splitlines()
    heading, i = "", 0
    while i < len(lines):
        line = lines[i]
        if (h := HEADING.match(line)) is not None:
            heading = h.group(2).strip()
        fence = FENCE.match(line)
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        above = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(above)
        found.append(Block(page, i + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n", heading,
                           marker.group(1) if marker else None))
        i = end + 1
    return found


def code_block(page: str, heading: str, lang: str = "python") -> str:
    """The first `lang` example under `heading` (its text without #s) in `page` (a path from the repository root)."""
    path = ROOT / page
    for block in blocks(path):
        if block.heading == heading and block.lang == lang:
            return block.text
    raise AssertionError(f"{page} has no ```{lang} example under the heading {heading!r}")
