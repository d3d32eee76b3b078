"""DORA's reporting clocks for a major incident (RTS 2025/301 Art. 5(1)): the times they start from, kept in a
state file, the deadlines they give, and the Prometheus exposition `moneypath incident clock serve` exports.

Stored per incident: when the team became aware of it, when it was classified major, when each report was
submitted, when it was closed. Deadlines (the catalog's `dora.clocks`, the regulation's by default):
initial: 4 h after the classification, and no later than 24 h after awareness (a classification later than
that: 4 h after it, Art. 5(2)); intermediate: 72 h after the initial notification was submitted; final: a
calendar month after the latest intermediate report. A deadline not yet fixed (nothing to count from) is
None. The file is written atomically; a reader never sees half of it.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from moneypath._common.atomic import write_json
from moneypath.catalog import Catalog
from moneypath.catalog.business_services import ONE_MONTH, Clocks, seconds
from moneypath.catalog.conventions import INCIDENT_LABEL, INCIDENT_METRICS, REPORT_KINDS, REPORT_LABEL
from moneypath.catalog.moments import parse_moment, rfc3339

STATE_FILE = "incidents.json"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ClockError(Exception):
    """Bad input or a state file that cannot be used; one line."""


def parse_time(text: str, now: float | None = None) -> float:
    """Unix seconds of a time as a person gives it (moneypath.catalog.moments), or ClockError."""
    try:
        return parse_moment(text, time.time() if now is None else now)
    except ValueError as exc:
        raise ClockError(str(exc)) from None


def add_month(t: float) -> float:
    """The same time a calendar month later (31 January → the last day of February)."""
    dt = datetime.fromtimestamp(t, UTC)
    year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day).timestamp()


# ---------------------------------------------------------------- the state file


def state_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / STATE_FILE


def load(path: Path) -> dict:
    """{"incidents": {id: incident}}; an absent file is none yet."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"incidents": {}}
    except (OSError, ValueError) as exc:
        raise ClockError(f"{path}: cannot be read as incident clocks: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("incidents"), dict):
        raise ClockError(f"{path}: not an incident clocks file (no incidents mapping)")
    return data


def save(path: Path, data: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(path), data, indent=1, sort_keys=True)


def _incident(data: dict, incident: str) -> dict:
    if incident not in data["incidents"]:
        known = ", ".join(sorted(data["incidents"])) or "none"
        raise ClockError(f"no incident {incident!r} (started: {known}); `moneypath incident clock start {incident}`")
    return data["incidents"][incident]


def start(data: dict, incident: str, aware_at: float | None, classified_at: float | None,
          classification: dict | None = None) -> dict:
    """Start an incident's clocks (awareness), or set its classification time on one already started."""
    if not _ID.match(incident):
        raise ClockError(f"{incident!r} is not an incident id (letters, digits, . _ -; at most 64)")
    entry = data["incidents"].get(incident)
    if entry is None:
        entry = data["incidents"][incident] = {"aware_at": rfc3339(aware_at if aware_at is not None else time.time()),
                                               "classified_at": None, "reports": {}, "closed_at": None}
    elif aware_at is not None:
        entry["aware_at"] = rfc3339(aware_at)
    if classified_at is not None:
        if classified_at < parse_time(entry["aware_at"]):
            raise ClockError(f"{incident}: classified at {rfc3339(classified_at)}, before the team was aware of it "
                             f"({entry['aware_at']})")
        entry["classified_at"] = rfc3339(classified_at)
    if classification is not None:
        entry["classification"] = classification
    return entry


def submit(data: dict, incident: str, kind: str, at: float) -> dict:
    """Record a report as submitted; intermediate reports may be updated (each is kept)."""
    entry = _incident(data, incident)
    if kind not in REPORT_KINDS:
        raise ClockError(f"{kind!r} is not a report kind ({', '.join(REPORT_KINDS)})")
    reports = entry["reports"]
    before = {"intermediate": "initial", "final": "intermediate"}.get(kind)
    if entry["classified_at"] is None:
        raise ClockError(f"{incident}: not classified major: no report is due (clock start --classified-at T)")
    if before and before not in reports:
        raise ClockError(f"{incident}: the {kind} report follows the {before} one, which is not recorded")
    if kind == "intermediate":
        reports.setdefault("intermediate", []).append(rfc3339(at))
    else:
        reports[kind] = rfc3339(at)
    return entry


def close(data: dict, incident: str, at: float) -> dict:
    entry = _incident(data, incident)
    entry["closed_at"] = rfc3339(at)
    return entry


# ---------------------------------------------------------------- deadlines


def deadlines(entry: dict, clocks: Clocks) -> dict[str, tuple[float | None, str]]:
    """Report kind → (deadline as Unix seconds or None, what it counts from)."""
    aware = parse_time(entry["aware_at"])
    classified = parse_time(entry["classified_at"]) if entry.get("classified_at") else None
    reports = entry.get("reports", {})
    out: dict[str, tuple[float | None, str]] = {}
    after_class, after_aware = seconds(clocks.initial_after_classification), seconds(clocks.initial_after_awareness)
    if classified is None:
        out["initial"] = (None, f"{clocks.initial_after_classification} after the classification as major (none "
                                "yet)")
    elif classified > aware + after_aware:
        out["initial"] = (classified + after_class, f"{clocks.initial_after_classification} after a classification "
                                                    f"later than {clocks.initial_after_awareness} after awareness")
    else:
        out["initial"] = (min(classified + after_class, aware + after_aware),
                          f"{clocks.initial_after_classification} after the classification, at most "
                          f"{clocks.initial_after_awareness} after awareness")
    initial = parse_time(reports["initial"]) if "initial" in reports else None
    out["intermediate"] = ((initial + seconds(clocks.intermediate_after_initial)) if initial is not None else None,
                           f"{clocks.intermediate_after_initial} after the initial notification")
    latest = max((parse_time(t) for t in reports.get("intermediate", [])), default=None)
    final_after = clocks.final_after_intermediate
    out["final"] = ((add_month(latest) if final_after == ONE_MONTH else latest + seconds(final_after))
                    if latest is not None else None, f"{final_after} after the latest intermediate report")
    return out


def pending(entry: dict, clocks: Clocks) -> dict[str, float]:
    """Report kind → deadline, for the reports of an open incident that are due and not yet submitted (after
    the first intermediate report, updates have no fixed deadline: the final report is what is due)."""
    if entry.get("closed_at"):
        return {}
    reports = entry.get("reports", {})
    return {kind: due for kind, (due, _) in deadlines(entry, clocks).items() if due is not None and kind not in reports}


def exposition(catalog: Catalog, data: dict) -> str:
    """The Prometheus text exposition of every open incident's clocks (gauges of Unix seconds)."""
    names = {k: f"{catalog.namespace}_{v}" for k, v in INCIDENT_METRICS.items()}
    helps = {"deadline": "When a DORA report of an open incident is due (RTS 2025/301 Art. 5), while not submitted.",
             "submitted": "When a DORA report of an open incident was submitted (the latest, for intermediate ones).",
             "aware": "When the team became aware of an open incident.",
             "classified": "When an open incident was classified as major."}
    rows: dict[str, list[str]] = {k: [] for k in names}
    for incident, entry in sorted(data["incidents"].items()):
        if entry.get("closed_at"):
            continue
        inc = f'{INCIDENT_LABEL}="{incident}"'
        rows["aware"].append(f"{names['aware']}{{{inc}}} {parse_time(entry['aware_at']):.0f}")
        if entry.get("classified_at"):
            rows["classified"].append(f"{names['classified']}{{{inc}}} {parse_time(entry['classified_at']):.0f}")
        for kind, due in pending(entry, catalog.dora.clocks).items():
            rows["deadline"].append(f'{names["deadline"]}{{{inc},{REPORT_LABEL}="{kind}"}} {due:.0f}')
        for kind, at in entry.get("reports", {}).items():
            latest = max(parse_time(t) for t in at) if isinstance(at, list) else parse_time(at)
            rows["submitted"].append(f'{names["submitted"]}{{{inc},{REPORT_LABEL}="{kind}"}} {latest:.0f}')
    lines = []
    for key, name in names.items():
        lines += [f"# HELP {name} {helps[key]}", f"# TYPE {name} gauge", *rows[key]]
    return "\n".join(lines) + "\n"
