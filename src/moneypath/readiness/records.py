"""A drill run's history record, built from its journal, and the recorder the runner calls after each run.

Times in the record are real time: a drill on a stack whose rules run F times faster than production (the
journal's time_factor, 60 on the local drill stack) measured its times to page, diagnose and recover on
that compressed clock, so they are multiplied by F (`compression` keeps F); started_at and ended_at are the
wall clock, as they happened. Per alert: the expected alerts (each with its labels, its deadline and whether it
paged in time) and the alert whose runbook the drill rehearses; each alert's severity from the map the caller
hands in (`severities`, built once per run from the catalog's generated alerts: nothing here reads the catalog).
Tabletop answers: who answered each role's card, when it was asked and answered, late or not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from moneypath._common.timefactor import TimeFactor
from moneypath._common.verdict import Outcome
from moneypath.formats.drill import Drill
from moneypath.readiness import catalogs
from moneypath.readiness.history import CATALOG_FIELD, HistoryError, append, rfc3339

KIND_GAMEDAY = "gameday"


def _real(seconds: float | None, factor: float) -> float | None:
    return None if seconds is None else round(TimeFactor(factor).real(seconds), 1)


def _since(at: float | None, start: float | None, factor: float) -> float | None:
    return None if at is None or start is None else _real(max(at - start, 0.0), factor)


def _time(at: float | None) -> str | None:
    return None if at is None else rfc3339(at)


def severities(alerts: Mapping[str, Mapping]) -> dict[str, str]:
    """Alert name → its severity, from the generated alerts as moneypath.check.drill_files.alert_names gives them
    (name → {severity, ...}): the plain map a record's alerts take their severity from."""
    return {name: str(info["severity"]) for name, info in alerts.items()}


def alerts_of(journal: dict, severities: Mapping[str, str], factor: float) -> list[dict]:
    """The record's alerts: each expected row of the alert matrix, then the rehearsed runbook alert if no row
    names it (a drill that expects no page still rehearses its runbook); times in real seconds."""
    injected = (journal.get("fault") or {}).get("injected_at")
    timings = journal.get("timings") or {}
    diagnose, recover = _real(timings.get("diagnose_s"), factor), _real(timings.get("recover_s"), factor)
    out = []
    for row in journal.get("alerts") or []:
        if row.get("expectation") != "expected":
            continue
        out.append({"alert": row["alert"], "labels": row.get("labels") or {}, "expectation": "expected",
                    "severity": severities.get(row["alert"], "page"), "paged": row.get("paged_at") is not None,
                    "ok": bool(row.get("ok")), "page_deadline_s": _real(row.get("deadline_s"), factor),
                    "time_to_fire_s": _since(row.get("first_firing_at"), injected, factor),
                    "time_to_page_s": _since(row.get("paged_at"), injected, factor),
                    "time_to_diagnose_s": diagnose, "time_to_recover_s": recover})
    rehearsed = journal.get("alert")
    if rehearsed and all(a["alert"] != rehearsed for a in out):
        out.append({"alert": rehearsed, "labels": {}, "expectation": "runbook",
                    "severity": severities.get(rehearsed, "page"), "paged": False, "ok": None,
                    "page_deadline_s": None, "time_to_fire_s": None, "time_to_page_s": None,
                    "time_to_diagnose_s": diagnose, "time_to_recover_s": recover})
    return out


def roles_of(journal: dict) -> list[dict]:
    """Each role's card as the tabletop left it: who answered (None: nobody was asked), when, late or not."""
    out = []
    for r in journal.get("roles") or []:
        out.append({"role": r.get("role"), "checkpoint": r.get("checkpoint"), "who": r.get("answered_by"),
                    "asked_at": _time(r.get("asked_at")), "answered_at": _time(r.get("answered_at")),
                    "late": bool(r.get("late")), "met": r.get("met"), "ok": r.get("ok"), "due_s": r.get("due_s")})
    return out


def target_of(journal: dict) -> str:
    target = journal.get("target") or {}
    return "local stack" if target.get("started_stack") else str(target.get("service") or "unknown")


def report_of(folder: Path, history_dir: Path) -> str:
    """The report folder relative to the history when inside it, else its absolute path."""
    folder = folder.resolve()
    try:
        return folder.relative_to(history_dir.resolve()).as_posix()
    except ValueError:
        return str(folder)


def record_fields(journal: dict, journal_path: Path, history_dir: Path, environment: str, kind: str,
                  severities: Mapping[str, str] | None = None, controls: list[str] | None = None) -> dict:
    """The fields of a record (all but seq and prev) for a drill run's journal, written at `journal_path`;
    `severities`: alert name → page or ticket (an alert it does not name is recorded as a page)."""
    factor = float(journal.get("time_factor") or 1.0)
    return {
        "kind": kind, "drill": journal["drill"], "drill_file": str(journal.get("file") or ""),
        "title": journal.get("title", ""), "rehearses": journal.get("alert", ""),
        "environment": environment, "target": target_of(journal),
        "started_at": rfc3339(journal["started_at"]), "ended_at": rfc3339(journal["finished_at"]),
        "verdict": journal["verdict"], "interrupted": bool(journal.get("interrupted")),
        "compression": factor,
        "alerts": alerts_of(journal, severities or {}, factor),
        "objectives": {o["name"]: o.get("status") or Outcome.of(bool(o.get("ok"))).value
                       for o in journal.get("objectives") or []},
        "controls": [str(c) for c in controls or []],
        "roles": roles_of(journal),
        "regulatory": [{"regime": r.get("regime"), "basis": r.get("basis"), "due_at": _time(r.get("due_at")),
                        "applies": r.get("applies")} for r in journal.get("regulatory") or []],
        "impact": dict(journal.get("impact") or {}),
        "report": report_of(journal_path.parent, history_dir),
        "journal_sha256": hashlib.sha256(journal_path.read_bytes()).hexdigest(),
    }


def drill_controls(drill: Drill) -> list[str]:
    """What the drill file declares it exercises (`controls:`), as ids."""
    found = getattr(drill, "controls", None) or []
    return [str(getattr(c, "id", c)) for c in found]


@dataclass
class Recorder:
    """Appends a record for each drill run (and signs the new head when a key and a checkpoint directory are
    given). A record that cannot be appended is one line; the journal and the report stay as they are."""

    history_dir: Path
    environment: str
    kind: str | None = None  # None: tabletop for a drill without load, else drill; "gameday" for a game day
    checkpoints: str | None = None
    signing_key: str | None = None

    def record(self, drill: Drill, severities: Mapping[str, str] | None, journal: dict, journal_path: Path,
               say: Callable[[str], None] = print, catalog_path: str | Path | None = None) -> dict | None:
        """Append the run's record (`severities`: alert name → page or ticket, as `record_fields` takes it); with
        `catalog_path`, the record keeps the catalog's sha256 and the history a copy of it (readiness.catalogs)."""
        from moneypath.protocol.audit.checkpoint import CheckpointError
        from moneypath.readiness.checkpoints import sign_head

        kind = self.kind or ("tabletop" if drill.tabletop_only else "drill")
        try:
            fields = record_fields(journal, journal_path, self.history_dir, self.environment, kind, severities,
                                   drill_controls(drill))
            if catalog_path is not None:
                try:
                    fields[CATALOG_FIELD] = catalogs.keep(self.history_dir, catalog_path)
                except OSError as exc:  # the run is recorded all the same; its catalog is "not recorded"
                    say(f"           history: catalog {catalog_path} not kept ({exc.strerror or exc})")
            record = append(self.history_dir, fields)
        except Exception as exc:  # noqa: BLE001 - a record that cannot be made must not lose the run's summary
            why = str(exc) if isinstance(exc, HistoryError) else f"{type(exc).__name__}: {exc}"
            say(f"           history: NOT recorded in {self.history_dir}: {why}; the journal is {journal_path}")
            return None
        line = f"           history: recorded as seq {record['seq']} in {self.history_dir} ({self.environment})"
        if self.checkpoints and self.signing_key:
            try:
                made = sign_head(self.history_dir, self.checkpoints, self.signing_key)
                line += f", signed {made.label()}" if made else ", its head already signed"
            except (HistoryError, CheckpointError) as exc:
                line += f"; NOT signed: {exc}"
        else:
            line += "; not signed (no --signing-key and --checkpoints)"
        say(line)
        return record
