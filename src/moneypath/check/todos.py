"""The TODOs `moneypath init` leaves where only the team can write (runbook sections, drill checkpoints, the
request template, the locustfile's body, cost figures in the catalog): counted per file, so the lint shows the
work still to do. They are the team's work list, not mistakes: a TODO never fails the lint."""

from __future__ import annotations

import re
from pathlib import Path

TODO = "TODO"
_MARKER = re.compile(rf"\b{TODO}\b")
# Where init writes TODOs, relative to the project root.
_FILES = ("moneypath.yaml", "runbooks/*.md", "runbooks/drills/*.yaml", "runbooks/drills/requests/*.yaml",
          "loadtests/*.py", "loadtests/*.yaml")


def count_todos(root: Path) -> dict[str, int]:
    """Relative path → how many TODOs it still holds, for each file init writes them into that has any."""
    counts: dict[str, int] = {}
    for pattern in _FILES:
        for path in sorted(root.glob(pattern)):
            try:
                n = len(_MARKER.findall(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError):
                continue  # unreadable files are the other checks' to report
            if n:
                counts[path.relative_to(root).as_posix()] = n
    return counts
