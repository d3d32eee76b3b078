"""Drill history records for tests: the fields of one (moneypath.readiness.history's contract), back-dated as needed,
a history of several appended at once, and a quarter of weekly drills as readiness reads them."""

from __future__ import annotations

from pathlib import Path

from moneypath.readiness.history import append, rfc3339

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


def run(drill: str, started: float, alerts: list[dict], verdict: str = "pass", environment: str = "staging",
        roles: list[dict] | None = None, kind: str = "drill", compression: float = 60.0) -> dict:
    """The fields of one record but seq and prev; `alerts` as `alert()` makes them."""
    return {"kind": kind, "drill": drill, "drill_file": f"runbooks/drills/{drill}.yaml", "environment": environment,
            "target": "local", "started_at": rfc3339(started), "ended_at": rfc3339(started + 600),
            "verdict": verdict, "compression": compression, "alerts": alerts, "controls": ["PCI-DSS-12.10.2"],
            "roles": roles if roles is not None else [
                {"role": "incident_commander", "who": "ana", "asked_at": rfc3339(started + 60),
                 "answered_at": rfc3339(started + 120), "late": False},
                {"role": "compliance", "who": "li", "asked_at": rfc3339(started + 60),
                 "answered_at": rfc3339(started + 900), "late": True}],
            "impact": {}, "report": f"reports/{drill}-{int(started)}", "journal_sha256": "0" * 64}


def alert(name: str, page_s: float | None, diagnose_s: float | None = None, recover_s: float | None = None,
          severity: str = "page") -> dict:
    return {"alert": name, "severity": severity, "paged": page_s is not None, "time_to_page_s": page_s,
            "time_to_diagnose_s": diagnose_s, "time_to_recover_s": recover_s}


def write(history_dir: Path, runs: list[dict]) -> list[dict]:
    """The records of `runs` appended in order, back-dated as given; returns them as stored."""
    return [append(history_dir, fields) for fields in runs]


def quarter(now: float, ready: str, lapsing: str, creeping: str, lapse_in_s: float = 0.0,
            policy_days: float = 90) -> list[dict]:
    """A quarter of weekly drills (13 weeks, oldest first) over three paging alerts: `ready` passes every week
    in about 10 minutes; `creeping` passes every week but pages slower in its last three runs (10 min → 20 min);
    `lapsing` passed once, `policy_days` ago less `lapse_in_s` (stale once that much more time has gone), and
    failed every run since."""
    runs = []
    start = now - 13 * 7 * DAY
    for week in range(13):
        t = start + week * 7 * DAY + 3600
        slow = week >= 10
        runs.append(run("weekly-ready", t, [alert(ready, 600 + week, 900, 1800)]))
        runs.append(run("weekly-creeping", t + 7200, [alert(creeping, 1200 + week if slow else 600 + week, 1500,
                                                            2400)]))
    passed_at = now - policy_days * DAY + lapse_in_s - 600  # its ended_at is 600 s later
    runs.append(run("lapsing", passed_at, [alert(lapsing, 700, 1000, 2000)]))
    runs.append(run("lapsing", now - 3 * DAY, [alert(lapsing, None)], verdict="fail"))
    return sorted(runs, key=lambda r: r["started_at"])
