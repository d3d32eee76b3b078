"""Drill histories for tests, written as the history's contract says (docs/readiness.md): one record per run under
`<dir>/records/<seq, 8 digits>.json`, canonical JSON (sorted keys, no spaces, UTF-8), each naming the sha256 of
the record before (`"0" * 64` for the first). Written here, not through moneypath.drills.history, so the
readiness tests hold against the contract itself; records are back-dated as given."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

DAY = 86400.0


def canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    """The records of `runs` in order, chained; returns them as written."""
    records_dir = Path(history_dir) / "records"
    records_dir.mkdir(parents=True, exist_ok=True)
    prev, out = "0" * 64, []
    for seq, fields in enumerate(runs, start=1):
        record = {**fields, "seq": seq, "prev": prev}
        data = canonical(record)
        with open(records_dir / f"{seq:08d}.json", "xb") as f:
            f.write(data)
        prev = hashlib.sha256(data).hexdigest()
        out.append(record)
    return out


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
