"""The drill journal (moneypath.drills.journal): written whole, finite numbers only."""

from __future__ import annotations

import math

from moneypath._common.verdict import jsonable
from moneypath.drills.journal import write_journal


def test_journal_is_written_whole_andfinite(tmp_path):
    journal = jsonable({"drill": "x", "started_at": 1795355415.0, "timings": {"detect_s": math.nan}, "v": [math.inf]})
    path = write_journal(journal, tmp_path)
    again = write_journal(journal, tmp_path)
    assert path.parent != again.parent  # two runs in one second do not overwrite each other
    assert path.read_text().count("null") == 2
    assert [p.name for p in path.parent.iterdir()] == ["journal.json"]
