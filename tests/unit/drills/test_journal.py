"""The drill journal (moneypath.drills.journal): written whole, finite numbers only."""

from __future__ import annotations

import math

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, jsonable
from moneypath.drills.journal import Objective, objectives_verdict, write_journal


def test_journal_is_written_whole_andfinite(tmp_path):
    journal = jsonable({"drill": "x", "started_at": 1795355415.0, "timings": {"detect_s": math.nan}, "v": [math.inf]})
    path = write_journal(journal, tmp_path)
    again = write_journal(journal, tmp_path)
    assert path.parent != again.parent  # two runs in one second do not overwrite each other
    assert path.read_text().count("null") == 2
    assert [p.name for p in path.parent.iterdir()] == ["journal.json"]


def test_an_objective_is_ok_only_when_it_passed_and_old_journals_read_the_same():
    skipped = Objective(name="diagnosed", ok=True, reason="x", status="not measured", if_not_measured="pass")
    assert (skipped.ok, skipped.status) == (False, NOT_MEASURED)  # a skipped check never reads pass
    assert jsonable(skipped) == skipped.to_dict() == {"name": "diagnosed", "ok": False, "reason": "x",
                                                      "status": "not measured", "if_not_measured": "pass"}
    assert Objective.read({"name": "detected", "ok": True, "reason": "paged"}).status is PASS  # before `status`
    assert Objective.read({"name": "detected", "ok": True, "reason": "", "status": "skip"}).status is FAIL
    assert objectives_verdict([skipped]) == NOT_MEASURED  # nothing but a skip is no evidence
    assert objectives_verdict([skipped, Objective(name="detected", ok=True, reason="")]) == PASS
    assert objectives_verdict([]) == FAIL
