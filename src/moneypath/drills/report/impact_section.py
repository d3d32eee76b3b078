"""The report's "Impact tolerance and DORA classification" section, from the journal's `impact` part
(moneypath.drills.tolerance): each tolerance within or beyond, and the classification the scenario would have had
with every criterion's status and figures."""

from __future__ import annotations

from moneypath._common.report import Cell, Para, Section, Table
from moneypath.drills.report.formatting import verdict_cell
from moneypath.drills.report.reading import JournalReading

_STATUS_KIND = {"pass": "ok", "met": "bad", "fail": "fail", "not met": "ok", "not measured": "na"}


def impact_section(jn: JournalReading) -> Section | None:
    """None for a journal written before the part existed."""
    part = jn.j.get("impact")
    if not isinstance(part, dict):
        return None
    blocks: list = [Para(f"Business service: {part.get('service') or '— (the drill file names none)'}; "
                         f"within tolerance: {part.get('within_tolerance')} — {part.get('reason') or ''}", "note")]
    rows = [[Cell(str(t.get("name") or "").replace("_", " ")), Cell(str(t.get("limit") or "")),
             Cell(str(t.get("measured") or "")), verdict_cell(str(t.get("status"))), Cell(str(t.get("reason") or ""))]
            for t in part.get("tolerances") or [] if isinstance(t, dict)]
    blocks.append(Table(["tolerance", "limit", "measured", "within", "how"], rows, "no tolerance judged"))
    cls = part.get("classification")
    if isinstance(cls, dict):
        blocks.append(Para(f"DORA classification the scenario would have had: {str(cls.get('result')).upper()} — "
                           f"{cls.get('reason') or ''} (real time = drill time × {part.get('real_time_factor', 1):g})",
                           "note"))
        blocks.append(Table(["criterion", "article", "status", "figures"],
                            [[Cell(str(c.get("name"))), Cell(str(c.get("article"))),
                              Cell(str(c.get("status")), _STATUS_KIND.get(str(c.get("status")), "text")),
                              Cell(str(c.get("figures")))]
                             for c in cls.get("criteria") or [] if isinstance(c, dict)], "no criterion"))
    return Section("Impact tolerance and DORA classification", blocks)
