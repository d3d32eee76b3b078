"""The drill report: report.md, index.html and PNG plots rendered from the drill journal alone.

The journal (journal.json, schema 1, written by the runner) is the only input, so a report can
be re-rendered offline (`moneypath drill report JOURNAL.json`) and tested without a stack. Every
section tolerates what a failed run leaves behind: missing series, null timings, no pages.

Both formats come from one document (moneypath._common.report: sections of tables of typed
cells), so markdown and HTML say the same thing; HTML escapes every string from the journal,
markdown escapes what would break a table or turn into markup. Files are rendered into a
temporary sibling directory and moved into place only when complete: a crash never leaves a
half-written report.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from moneypath._common.report import Cell, Document, Para, Section, publishing, stage
from moneypath.drills.report.charts import render_plots
from moneypath.drills.report.reading import (  # callers import the last two from here
    JournalReading,
    ReportError,
    load_journal,
)
from moneypath.drills.report.report_map import MAP_FILE, map_section
from moneypath.drills.report.sections import build_sections

if TYPE_CHECKING:
    from moneypath.catalog import Catalog

REPORT = "report.md"
PAGE = "index.html"
JOURNAL = "journal.json"


def _runbook_href(journal: dict, out_dir: Path) -> str | None:
    """The runbook page as a link relative to the report: the journal's "runbook" is relative to the repository
    root, which is the journal's "root" (the runner records it) or, for an older journal, a directory above the
    report (reports/<drill>-<time>/ in the repository). Never the current directory. None when not found."""
    runbook = str(journal.get("runbook") or "")
    if not runbook:
        return None
    if re.match(r"^[a-z][a-z0-9+.-]*://", runbook, re.IGNORECASE):
        return runbook
    out_dir = Path(out_dir).resolve()
    path = Path(runbook)
    if path.is_absolute():
        candidates = [path]
    else:
        bases = [Path(str(journal["root"]))] if journal.get("root") else []
        candidates = [base / path for base in [*bases, *out_dir.parents]]
    found = next((c for c in candidates if c.is_file()), None)
    return Path(os.path.relpath(found, out_dir)).as_posix() if found else None


def document(jn: JournalReading, sections: list[Section]) -> Document:
    """The report: the sections, and a footer naming the journal (the markdown also says how to re-render)."""
    title = str(jn.j.get("title") or "")
    schema = jn.j.get("schema", "?")
    footer = Section("", [
        Para([Cell(f"Rendered from {JOURNAL} (schema {schema}); re-render with "),
              Cell(f"moneypath drill report {JOURNAL}", "code"), Cell(".")], "note", only="md"),
        Para([Cell("Rendered from "), Cell(JOURNAL, "link", JOURNAL), Cell(f" (schema {schema}).")], "note",
             only="html")])
    return Document(f"Drill report: {jn.drill}" + (f" — {title}" if title else ""), [*sections, footer],
                    verdict=("PASS", True) if jn.verdict == "pass" else
                    ("NOT MEASURED", False) if jn.verdict == "not measured" else ("FAIL", False),
                    page_title=f"Drill {jn.drill}: {jn.verdict.upper()}")


def render(journal: dict, out_dir: Path, catalog: Catalog | None = None) -> Path:
    """Write report.md, index.html, one PNG per series and the money-path map (map.svg) into out_dir; return the
    report.md path.

    Money reads in each currency's exponent from `catalog` (the drill's), or from ISO 4217 without one; the map is
    the catalog's `money_path:` (moneypath.drills.report.report_map).

    Everything is rendered into a temporary sibling directory first. A new out_dir appears whole
    by one rename; into an existing one (where the runner put journal.json) each finished file is
    moved with os.replace, report.md last. On any error the temporary directory is removed and
    out_dir is left as it was. journal.json is written too when out_dir has none.
    """
    jn = JournalReading(journal, catalog)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"{out_dir} exists and is not a directory")
    try:
        tmp = stage(out_dir)
    except OSError as exc:
        raise ReportError(f"cannot write the report under {out_dir.parent}: {exc.strerror or exc}") from exc
    with publishing(tmp, out_dir, merge=True, last=REPORT):
        images = render_plots(jn, tmp)
        drawn = map_section(jn, catalog)
        if drawn.svg is not None:
            (tmp / MAP_FILE).write_text(drawn.svg, encoding="utf-8")
        doc = document(jn, build_sections(jn, images, _runbook_href(journal, out_dir), drawn.section))
        (tmp / PAGE).write_text(doc.to_html(), encoding="utf-8")
        (tmp / REPORT).write_text(doc.to_markdown(), encoding="utf-8")
        if not (out_dir / JOURNAL).exists():
            (tmp / JOURNAL).write_text(json.dumps(journal, indent=1, default=str) + "\n", encoding="utf-8")
    return out_dir / REPORT



def rerender(journal_path: Path, out_dir: Path | None = None, catalog: Catalog | None = None) -> Path:
    """`moneypath drill report JOURNAL.json [--out DIR]`: render again from a saved journal (default: beside it)."""
    journal_path = Path(journal_path)
    journal = load_journal(journal_path)
    return render(journal, Path(out_dir) if out_dir is not None else journal_path.parent, catalog)
