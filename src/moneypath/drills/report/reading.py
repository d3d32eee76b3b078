"""The drill journal as the report reads it: loaded from its file, read leniently (what a failed run left)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from moneypath._common.verdict import Outcome
from moneypath.catalog.currencies import ISO_4217_EXPONENTS, format_money
from moneypath.drills.journal import Objective, objectives_verdict
from moneypath.drills.report.formatting import num, relative

if TYPE_CHECKING:
    from moneypath.catalog import Catalog
    from moneypath.drills.money import Money


class ReportError(Exception):
    """The journal cannot be read or the report cannot be written; the message is one line for the CLI."""


class JournalReading:
    def __init__(self, j: dict, catalog: Catalog | None = None):
        if not isinstance(j, dict):
            raise ReportError(f"a drill journal is a JSON object, got {type(j).__name__}")
        self.j = j
        # money in each currency's own exponent: the catalog's (its overrides too), else ISO 4217's
        self.money: Money = catalog.money if catalog is not None else format_money
        self.exponent = catalog.exponent if catalog is not None else (lambda cur: ISO_4217_EXPONENTS.get(cur, 2))
        self.drill = str(j.get("drill") or "drill")
        self.fault = j.get("fault") or {}
        self.started_at = num(j.get("started_at"))
        self.finished_at = num(j.get("finished_at"))
        self.injected_at = num(self.fault.get("injected_at"))
        self.cleared_at = num(self.fault.get("cleared_at"))
        self.zero = self.injected_at if self.injected_at is not None else self.started_at
        self.alerts = [a for a in j.get("alerts") or [] if isinstance(a, dict)]
        self.objectives = [o for o in j.get("objectives") or [] if isinstance(o, dict)]
        # the first EXPECTED page (the runner's classification time), not a ticket or an allowed alert's page
        self.first_page = num(j.get("classification_at"))
        resolved = [t for a in self.alerts if (t := num(a.get("resolved_at"))) is not None]
        self.resolved = max(resolved) if resolved else None

    def list(self, key: str) -> list[dict]:
        return [x for x in self.j.get(key) or [] if isinstance(x, dict)]

    @property
    def verdict(self) -> str:
        v = self.j.get("verdict")
        if v in tuple(Outcome):
            return v
        return objectives_verdict([Objective.read(o) for o in self.objectives])  # an older journal: from them

    def rel(self, t) -> str:
        return relative(t, self.zero)


def load_journal(path: Path) -> dict:
    try:
        journal = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(journal, dict) or "schema" not in journal or "drill" not in journal:
        raise ReportError(f"{path}: not a drill journal (no schema/drill keys)")
    return journal
