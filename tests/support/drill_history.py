"""Drill history records for tests: the fields of one (moneypath.drills.history's contract), back-dated as needed,
and a history of several appended at once."""

from __future__ import annotations

from pathlib import Path

from moneypath.drills.history import append, rfc3339

DAY = 86400.0


def fields(drill: str = "duplicate-charge", ended: float = 1_790_000_000.0, verdict: str = "pass",
           alert: str = "MoneyPathDuplicateChargeDetected", time_to_page_s: float | None = 300.0,
           environment: str = "staging", **overrides) -> dict:
    """One record's fields (all but seq and prev): a drill on the local stack (compression 60) that ended at
    `ended` (unix seconds) after 10 minutes, its alert paged `time_to_page_s` after the fault (real time)."""
    base = {
        "kind": "drill", "drill": drill, "drill_file": f"runbooks/drills/{drill}.yaml", "environment": environment,
        "target": "local stack", "started_at": rfc3339(ended - 600), "ended_at": rfc3339(ended), "verdict": verdict,
        "compression": 60.0,
        "alerts": [{"alert": alert, "labels": {}, "expectation": "expected", "severity": "page",
                    "paged": time_to_page_s is not None, "ok": verdict == "pass", "page_deadline_s": 1200.0,
                    "time_to_fire_s": None if time_to_page_s is None else time_to_page_s - 60,
                    "time_to_page_s": time_to_page_s, "time_to_diagnose_s": 1800.0, "time_to_recover_s": 3600.0}],
        "controls": ["PCI-DSS-12.10.2"],
        "roles": [{"role": "engineering", "checkpoint": "T+15m: say where it comes from", "who": "Ana",
                   "asked_at": rfc3339(ended - 60), "answered_at": rfc3339(ended - 30), "late": False, "met": True,
                   "ok": True, "due_s": 900.0}],
        "impact": {}, "report": f"reports/{drill}", "journal_sha256": "ab" * 32,
    }
    return {**base, **overrides}


def history(folder: Path, ends: list[float], **common) -> list[dict]:
    """A history with one record per end time (oldest first), appended in that order; the records as stored."""
    return [append(folder, fields(ended=end, **common)) for end in ends]
