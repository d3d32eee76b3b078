"""The evidence pack's control map: each control covered or missing, judged from the drill history's records.

A control is a moneypath._common.verdict.Check: pass (the map's word: covered) where a passed record declares
it (`controls:` in its drill file, copied into the record) and no later run of that drill failed, else not
measured (the map's word: missing), never a fail: a failed or unmeasured record is no evidence, and no evidence
is not a pass.
"""

from __future__ import annotations

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Check, register

COVERED, MISSING = "covered", "missing"  # the map's words for pass and not measured


def control_status(control: str, records: list[dict]) -> Check:
    """Covered (pass) when a passed record among `records` declares `control` (figures: their seqs); else not
    measured: there is no evidence, which is never a pass. A failed run of a drill declaring it is not evidence
    either."""
    declared = [r for r in records if control in (r.get("controls") or [])]
    standing = {r.get("drill") for r in _latest_per_drill(declared) if r.get("verdict") == PASS}
    passed = [r["seq"] for r in declared if r.get("verdict") == PASS and r.get("drill") in standing]
    if passed:
        return Check(name=control, outcome=PASS, why=f"covered by {len(passed)} passed record(s): seq "
                     + ", ".join(map(str, passed)), figures={"records": passed})
    overturned = [r for r in _latest_per_drill(declared) if r.get("verdict") == FAIL
                  and any(p.get("drill") == r.get("drill") and p.get("verdict") == PASS for p in declared)]
    if overturned:
        r = overturned[0]
        why = (f"{sum(p.get('verdict') == PASS for p in declared)} record(s) pass, but the latest run of "
               f"{r.get('drill')} (seq {r['seq']}) failed after it")
    else:
        why = f"{len(declared)} record(s) declare it, none passed" if declared else "no record declares it"
    return Check(name=control, outcome=NOT_MEASURED, why=why, figures={"records": []})


def _latest_per_drill(records: list[dict]) -> list[dict]:
    """Each drill's latest record by start time (as `moneypath readiness` judges: a pass a later run of the same
    drill failed does not stand)."""
    latest: dict[str, dict] = {}
    for r in sorted(records, key=lambda r: (str(r.get("started_at")), r.get("seq", 0))):
        latest[str(r.get("drill"))] = r
    return list(latest.values())


register("readiness.evidence.control", control_status)


def status_word(check: Check) -> str:
    """A control's status as the map writes it: covered, or missing."""
    return COVERED if check.ok else MISSING


def shown_why(check: Check) -> str:
    """A control's why as the map writes it: "covered by …", or "missing: <what is absent>"."""
    return check.why if check.ok else f"{MISSING}: {check.why.removeprefix('not measured: ')}"
