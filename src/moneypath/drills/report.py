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
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from moneypath._common.plots import Series, draw_lines, finish, pyplot, save, utc
from moneypath._common.report import Cell, Document, Image, Para, Section, Table, publishing, stage
from moneypath.catalog.currencies import ISO_4217_EXPONENTS, format_money
from moneypath.drills.journal import PAYMENTS_AFFECTED, SCHEMA

if TYPE_CHECKING:
    from moneypath.catalog import Catalog
    from moneypath.drills.money import Money

MINOR = "minor"  # a plot's unit for money in minor units, one series per currency (a `currency` label)
REPORT = "report.md"
PAGE = "index.html"
JOURNAL = "journal.json"

OBJECTIVE_TEXT = {
    "interrupted": "interrupted (Ctrl-C stopped the drill)",
    "steady_state_before": "steady state before the fault",
    "halted": "halted (a halt condition or the blast-radius cap stopped the drill)",
    "detected": "detected (expected alerts fired)",
    "diagnosed": "diagnosed (runbook evidence found)",
    "mitigated": "mitigated",
    "recovered": "recovered",
    "no_unexpected_pages": "no unexpected pages",
    "ledger_balanced": "ledger balanced afterwards",
    "steady_state_after": "steady state after recovery",
    "replica_down": "monitoring replica killed mid-incident",
    "paged_once": "paged once per alert group (no duplicate from the pair)",
    "watchdog": "watchdog shows the dead replica",
    "restored": "stack whole again (killed replica restarted)",
}


class ReportError(Exception):
    """The journal cannot be read or the report cannot be written; the message is one line for the CLI."""


def _ok(value: bool | None, yes: str = "pass", no: str = "fail", none: str = "—") -> Cell:
    if value is None:
        return Cell(none, "na")
    return Cell(yes, "ok") if value else Cell(no, "fail")


# ------------------------------------------------------------------ formatting


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def fmt_utc(t, with_date: bool = True) -> str:
    t = _num(t)
    if t is None:
        return "—"
    return utc(t).strftime("%Y-%m-%d %H:%M:%S UTC" if with_date else "%H:%M:%S")


def fmt_duration(s) -> str:
    s = _num(s)
    if s is None:
        return "—"
    sign, s = ("-" if s < 0 else ""), abs(s)
    if s < 60:
        return f"{sign}{s:.0f} s" if s >= 10 or s == int(s) else f"{sign}{s:.1f} s"
    if s < 3600:
        return f"{sign}{int(s // 60)} min {int(s % 60):02d} s"
    return f"{sign}{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def _relative(t, zero) -> str:
    t, zero = _num(t), _num(zero)
    if t is None:
        return "—"
    if zero is None:
        return fmt_utc(t, with_date=False)
    d = t - zero
    return f"T{'+' if d >= 0 else '−'}{fmt_duration(abs(d))} ({fmt_utc(t, with_date=False)})"


def _not_checked(why: str | None) -> Cell:
    """A money measure that could not be taken: never a number, never a loss."""
    return Cell(f"not checked: {why}", "na") if why else Cell("—")


def _money(amounts, money: Money) -> str:
    """Per-currency minor units from the journal in each currency's own exponent: "JPY 6,235, KWD 6.235"."""
    if amounts is None:
        return "— (not measured)"
    if not amounts:
        return "0"
    if not isinstance(amounts, dict):
        return str(amounts)
    return ", ".join(money(v, str(cur)) if (v := _num(raw)) is not None else f"{cur} {raw}"
                     for cur, raw in sorted(amounts.items()))


_CURRENCY = re.compile(r"(?:^|, )currency=([A-Za-z]{3})(?:,|$)")


def _currency(legend: str) -> str | None:
    """The currency a series is in, from its legend (`currency=JPY`, as the runner writes it), or None."""
    m = _CURRENCY.search(legend) or re.fullmatch(r"([A-Z]{3})", legend)
    return m.group(1).upper() if m else None


# ------------------------------------------------------------------ the journal, read leniently


class _Journal:
    def __init__(self, j: dict, catalog: Catalog | None = None):
        if not isinstance(j, dict):
            raise ReportError(f"a drill journal is a JSON object, got {type(j).__name__}")
        self.j = j
        # money in each currency's own exponent: the catalog's (its overrides too), else ISO 4217's
        self.money: Money = catalog.money if catalog is not None else format_money
        self.exponent = catalog.exponent if catalog is not None else (lambda cur: ISO_4217_EXPONENTS.get(cur, 2))
        self.drill = str(j.get("drill") or "drill")
        self.fault = j.get("fault") or {}
        self.started_at = _num(j.get("started_at"))
        self.finished_at = _num(j.get("finished_at"))
        self.injected_at = _num(self.fault.get("injected_at"))
        self.cleared_at = _num(self.fault.get("cleared_at"))
        self.zero = self.injected_at if self.injected_at is not None else self.started_at
        self.alerts = [a for a in j.get("alerts") or [] if isinstance(a, dict)]
        self.objectives = [o for o in j.get("objectives") or [] if isinstance(o, dict)]
        # the first EXPECTED page (the runner's classification time), not a ticket or an allowed alert's page
        self.first_page = _num(j.get("classification_at"))
        resolved = [t for a in self.alerts if (t := _num(a.get("resolved_at"))) is not None]
        self.resolved = max(resolved) if resolved else None

    def list(self, key: str) -> list[dict]:
        return [x for x in self.j.get(key) or [] if isinstance(x, dict)]

    @property
    def verdict(self) -> str:
        v = self.j.get("verdict")
        if v in ("pass", "fail"):
            return v
        return "pass" if self.objectives and all(o.get("ok") is True for o in self.objectives) else "fail"

    def rel(self, t) -> str:
        return _relative(t, self.zero)


# ------------------------------------------------------------------ plots


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:60] or "signal"


def _money_series(jn: _Journal, series: list[Series]) -> set[str | None]:
    """A money plot (unit "minor") in each currency's major unit: JPY 6235 stays 6,235, KWD 6235 becomes 6.235.
    Returns the series' currencies (None: a series without one, left in minor units)."""
    currencies: set[str | None] = set()
    for s in series:
        cur = _currency(s.name)
        currencies.add(cur)
        if cur is None:
            s.name += " (minor units)"
            continue
        per_unit = 10 ** jn.exponent(cur)
        s.name = cur if s.name in (cur, f"currency={cur}") else s.name
        s.values = [v / per_unit for v in s.values]
    return currencies


def _money_axis(jn: _Journal, ax, currencies: set[str | None]) -> None:
    """Ticks in the currency when every series on the axis is in that one ("JPY 6,000", "KWD 6.235")."""
    if len(currencies) == 1 and None not in currencies:
        cur = next(iter(currencies))
        exp = jn.exponent(cur)
        ax.yaxis.set_major_formatter(lambda v, _: f"{cur} {v:,.{exp}f}")


def _plot_signal(jn: _Journal, title: str, entry: dict, path: Path) -> None:
    """One plot of a journal series; money in several currencies gets an axis per currency (JPY 6,235 and
    KWD 6.235 on one scale would flatten the KWD line)."""
    unit = str(entry.get("unit") or "short")
    series = []
    for legend, points in sorted((entry.get("points") or {}).items()):
        pts = [(t, v) for p in points or [] if isinstance(p, list | tuple) and len(p) == 2
               if (t := _num(p[0])) is not None for v in [_num(p[1])]]
        series.append(Series(str(legend), [t for t, _ in pts], [math.nan if v is None else v for _, v in pts]))
    groups: list[tuple[str, list[Series], set[str | None]]] = [(title, series, set())]
    if unit == MINOR:
        currencies = _money_series(jn, series)
        if len(currencies) > 1:
            groups = [(f"{title}: {cur or 'no currency'}", [s for s in series if _currency(s.name) == cur], {cur})
                      for cur in sorted(currencies, key=lambda c: c or "~")]
        else:
            groups = [(title, series, currencies)]
    plt = pyplot()
    fig, axes = plt.subplots(len(groups), 1, figsize=(8.5, 3.2 if len(groups) == 1 else 2.6 * len(groups)),
                             squeeze=False)
    for ax, (name, group, currencies) in zip(axes[:, 0], groups):
        _draw_signal(jn, ax, name, unit, group)
        if unit == MINOR:
            _money_axis(jn, ax, currencies)
    save(fig, path)


def _draw_signal(jn: _Journal, ax, title: str, unit: str, series: list[Series]) -> None:
    drawn = [s for s in series if s.times]
    known = [t for t in (jn.started_at, jn.finished_at, jn.injected_at, jn.first_page, jn.resolved) if t is not None]
    known += [t for s in drawn for t in (min(s.times), max(s.times))]
    draw_lines(ax, drawn, (min(known), max(max(known), min(known) + 1)) if known else None)
    if drawn:  # legend beside the plot, so it hides neither the lines nor the marks
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    values = [v for s in drawn for v in s.values if not math.isnan(v)]
    if values:  # from 0 for non-negative signals, and headroom at the top for the mark labels
        lo, hi = min(min(values), 0.0), max(values)
        ax.set_ylim(lo, hi + max(hi - lo, 1e-9) * 0.45)
    marks = []
    if jn.injected_at is not None:
        end = jn.cleared_at or jn.finished_at or max((t for s in drawn for t in s.times), default=jn.injected_at)
        ax.axvspan(utc(jn.injected_at), utc(max(end, jn.injected_at)), color="#F2495C", alpha=0.12, linewidth=0,
                   label="fault window")
        marks.append((jn.injected_at, "fault injected", "#C4162A"))
    if jn.first_page is not None:
        marks.append((jn.first_page, "first page", "#FF9830"))
    if jn.resolved is not None:
        marks.append((jn.resolved, "resolved", "#37872D"))
    for row, (t, label, color) in enumerate(marks):
        ax.axvline(utc(t), color=color, linestyle="--", linewidth=1)
        if jn.zero is not None and t != jn.zero:
            label += f" T+{fmt_duration(t - jn.zero)}"
        ax.text(utc(t), 0.97 - 0.09 * row, f" {label}", transform=ax.get_xaxis_transform(), va="top", ha="left",
                fontsize=7, color=color, bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0, "pad": 1})
    finish(ax, title, unit, empty=not drawn)


def _plots(jn: _Journal, out: Path) -> list[Image]:
    images = []
    series = jn.j.get("series") or {}
    for i, (title, entry) in enumerate(series.items() if isinstance(series, dict) else [], start=1):
        entry = entry if isinstance(entry, dict) else {}
        name = f"plot-{i:02d}-{_slug(str(title))}.png"
        _plot_signal(jn, str(title), entry, out / name)
        query = str(entry.get("query") or "")
        images.append(Image(str(title), name, [Cell("Query: "), Cell(query, "code")] if query else ""))
    return images


# ------------------------------------------------------------------ sections


def _sections(jn: _Journal, images: list[Image], runbook_href: str | None) -> list[Section]:
    j = jn.j
    out: list[Section] = []
    target = j.get("target") or {}
    fault = jn.fault
    params = ", ".join(f"{k}={v}" for k, v in sorted((fault.get("params") or {}).items()))
    fault_text = " ".join(x for x in (str(fault.get("name") or "—"), f"({params})" if params else "",
                                      f"on {fault.get('where')}" if fault.get("where") else "",
                                      f"for {fault.get('target')}" if fault.get("target") else "") if x)
    runbook = str(j.get("runbook") or "")
    rows = [
        [Cell("verdict"), _ok(jn.verdict == "pass", "PASS", "FAIL")],
        [Cell("drill file"), Cell(str(j.get("file") or "—"), "code")],
        [Cell("runbook"), Cell(runbook, "link", runbook_href) if runbook and runbook_href else Cell(runbook or "—")],
        [Cell("started"), Cell(fmt_utc(jn.started_at))],
        [Cell("finished"), Cell(fmt_utc(jn.finished_at) + (
            f" ({fmt_duration(jn.finished_at - jn.started_at)})" if jn.finished_at and jn.started_at else ""))],
        [Cell("fault"), Cell(fault_text)],
        [Cell("fault injected"), Cell(fmt_utc(jn.injected_at))],
        [Cell("fault cleared"), Cell(jn.rel(jn.cleared_at))],
    ]
    if fault.get("halted"):
        rows.append([Cell("halted"), Cell(str(fault["halted"]), "bad")])
    for key in ("service", "providersim", "prometheus", "alertmanager", "pager"):
        if target.get(key):
            rows.append([Cell(f"target {key}"), Cell(str(target[key]), "code")])
    if "started_stack" in target:
        rows.append([Cell("stack"), Cell("started by the drill" if target["started_stack"] else "running target")])
    summary = Section("Drill", [Table(["", ""], rows)])
    already = [str(a) for a in j.get("already_firing") or []]
    if already:  # first: every time below reads differently when the fault met alerts already firing
        summary.blocks.insert(0, Para(f"Steady state not clean: already firing before the fault: {', '.join(already)}; "
                                      "their pages before it are not counted as its detection.", "bad"))
    if j.get("narrative"):
        summary.blocks.append(Para(str(j["narrative"]), "quote"))
    if (_num(j.get("schema")) or 0) > SCHEMA:
        summary.blocks.append(Para(f"journal schema {j.get('schema')} is newer than this renderer ({SCHEMA}); "
                                   "fields it does not know are left out", "note"))
    out.append(summary)

    out.append(Section("Objectives", [Table(
        ["objective", "verdict", "reason"],
        [[Cell(OBJECTIVE_TEXT.get(str(o.get("name")), str(o.get("name")))), _ok(o.get("ok")),
          Cell(str(o.get("reason") or ""))] for o in jn.objectives],
        "no objective was evaluated (the run stopped early)")]))

    timings = j.get("timings") or {}
    timing_rows = []
    for label, key in (("detect", "detect_s"), ("page", "page_s"), ("diagnose", "diagnose_s"), ("recover", "recover_s")):
        v = _num(timings.get(key))
        timing_rows.append([Cell(label), Cell("—" if v is None else f"{v:.1f}"),
                            Cell("not reached", "na") if v is None else Cell(fmt_duration(v))])
    out.append(Section("Times (from fault injection)", [Table(["time to", "seconds", ""], timing_rows)]))

    money = j.get("money") or {}
    lost = _num(money.get("writes_lost"))
    unchecked = money.get("not_checked") or {}
    unreconciled = money.get("unreconciled_minor")
    money_rows = [
        [Cell("payments affected"), Cell(str(money.get("payments_affected", "—")))],
        [Cell("of which refused (never acknowledged)"), Cell(str(money.get("payments_refused", 0)))],
        [Cell("duplicate amount"), Cell(_money(money.get("duplicate_amount_minor"), jn.money))],
        [Cell("unreconciled difference"),
         _not_checked(unchecked.get("unreconciled")) if unreconciled is None else Cell(_money(unreconciled, jn.money))],
        [Cell("writes lost (must be 0)"),
         _not_checked(unchecked.get("writes_lost")) if lost is None else
         Cell(f"{int(lost)}", "bad" if lost else "ok")],
    ]
    money_sec = Section("Money impact", [Table(["", ""], money_rows),
                                         Para(f"Payments affected: {PAYMENTS_AFFECTED}.", "note")])
    if lost:
        money_sec.blocks.insert(0, Para(f"{int(lost)} acknowledged ledger write(s) LOST: money the platform "
                                        "confirmed is not in the ledger.", "bad"))
    out.append(money_sec)

    out.append(Section("Alerts: expected vs actual", [Table(
        ["alert", "expectation", "deadline", "first firing", "paged", "resolved", "receivers", "ok", "reason"],
        [[Cell(str(a.get("alert") or "?"), "code"), Cell(str(a.get("expectation") or "")),
          Cell(fmt_duration(a.get("deadline_s"))), Cell(jn.rel(a.get("first_firing_at"))),
          Cell(jn.rel(a.get("paged_at"))), Cell(jn.rel(a.get("resolved_at"))),
          Cell(", ".join(str(r) for r in a.get("receivers") or []) or "—"), _ok(a.get("ok"), "ok", "FAIL"),
          Cell(str(a.get("reason") or ""))] for a in jn.alerts],
        "no alert expected and none fired")]))

    ha = j.get("ha")
    if isinstance(ha, dict):
        out.append(_ha_section(jn, ha))

    if images:
        sec = Section("Key signals")
        sec.blocks.append(Para("Fault window shaded; dashed lines: fault injected, first page, last alert resolved.",
                               "note"))
        sec.blocks.extend(images)
        out.append(sec)
    else:
        out.append(Section("Key signals", [Para("no series in the journal (the run stopped before they were "
                                                "fetched, or Prometheus had none)", "note")]))

    out.append(Section("Runbook evidence", [Table(
        ["step", "query", "expected", "got", "ok"],
        [[Cell(str(e.get("step") or "")), Cell(f"{e.get('kind') or ''}: {e.get('query') or ''}".strip(": "), "code"),
          Cell(str(e.get("expect") or "")), Cell(str(e.get("result") or "")), _ok(e.get("ok"), "ok", "FAIL")]
         for e in jn.list("evidence")],
        "no diagnosis step ran")]))

    role_rows = []
    for r in jn.list("roles"):
        due = f"T+{fmt_duration(r.get('due_s'))}" if _num(r.get("due_s")) is not None else "—"
        if r.get("ok") is None and not r.get("answered_by") and not r.get("answer"):
            role_rows.append([Cell(str(r.get("role") or "")), Cell(str(r.get("checkpoint") or "")), Cell(due),
                              Cell(str(r.get("note") or "not run interactively"), "na"), Cell(""), Cell(""),
                              _ok(None)])
            continue
        when = _relative(r.get("answered_at"), r.get("due_from", jn.started_at))
        if r.get("late"):
            when += " LATE"
        answer = Cell(str(r["answer"]) + (f" ({r['note']})" if r.get("note") else "")) if r.get("answer") else \
            Cell(str(r.get("note") or "no answer"), "na")
        role_rows.append([Cell(str(r.get("role") or "")), Cell(str(r.get("checkpoint") or "")), Cell(due),
                          Cell(str(r.get("answered_by") or "—")), answer,
                          Cell(when, "bad" if r.get("late") else "text"), _ok(r.get("ok"), "met", "not met")])
    bases = {_num(r.get("due_from", jn.started_at)) for r in jn.list("roles")} - {None}
    role_note = Para("Due and answer times count from " + (
        ", ".join(fmt_utc(b) for b in sorted(bases)) if bases else "the drill start") +
        (" (the drill start)." if bases == {jn.started_at} else "."), "note")
    out.append(Section("Roles: first-hour checklist", [role_note, Table(
        ["role", "checkpoint", "due", "answered by", "answer", "when", "ok"], role_rows,
        "no role cards")]))

    classified = _num(j.get("classification_at"))
    reg_rows = []
    for r in jn.list("regulatory"):  # due_at is the runner's (finish()): basis hours from classification/awareness
        due = _num(r.get("due_at"))
        due_text = fmt_utc(due) if due is not None else "not classified" if classified is None else "—"
        reg_rows.append([Cell(str(r.get("regime") or "")), Cell(str(r.get("basis") or "")), Cell(due_text),
                         Cell(str(r.get("applies") or ""))])
    reg = Section("Regulatory clocks", [Para(
        f"Classified at {fmt_utc(classified)} (first expected page)." if classified is not None
        else "The incident was not classified in this run (no expected page), so no clock started.", "note"),
        Table(["regime", "basis", "due at (UTC)", "applies"], reg_rows, "no regulatory clock applies")])
    out.append(reg)

    out.append(Section("Timeline", [Table(
        ["time (UTC)", "from fault", "kind", "what happened"],
        [[Cell(fmt_utc(e.get("t"), with_date=False)),
          Cell("—" if jn.zero is None or _num(e.get("t")) is None else
               ("T+" if _num(e.get("t")) >= jn.zero else "T−") + fmt_duration(abs(_num(e.get("t")) - jn.zero))),
          Cell(str(e.get("kind") or ""), "bad" if e.get("kind") == "halt" else "text"), Cell(str(e.get("text") or ""))]
         for e in sorted(jn.list("timeline"), key=_in_time_order)],
        "empty")]))
    return out


def _ha_section(jn: _Journal, ha: dict) -> Section:
    """replica_down: which replica died when, each alert group's pages (once, or a duplicate from the pair), the
    time to page against the single-stack deadline, the heartbeats, and whether the stack is whole again."""
    evaluation = _num(ha.get("evaluation_interval_s"))
    kills = [k for k in ha.get("kills") or [] if isinstance(k, dict)]
    kill_rows = [[Cell(f"{k.get('component')} {k.get('replica')}"), Cell(str(k.get("part") or ""), "code"),
                  Cell(jn.rel(k.get("killed_at")) if k.get("killed_at") else "not killed",
                       "text" if k.get("killed_at") else "bad"),
                  Cell(jn.rel(k.get("last_beat_at")) if k.get("last_beat_at") else "—"),
                  Cell(jn.rel(k.get("late_at")) if k.get("late_at") else "—"),
                  Cell(jn.rel(k.get("restarted_at")) if k.get("restarted_at") else
                       f"DOWN: {k.get('error') or 'not restarted'}" + (f"; {k['restore']}" if k.get("restore") else ""),
                       "text" if k.get("restarted_at") else "bad")]
                 for k in kills]
    group_rows = []
    for g in (g for g in ha.get("groups") or [] if isinstance(g, dict)):
        labels = g.get("labels") or {}
        name = str(g.get("alert") or "?") + ("{" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"
                                             if labels else "")
        dups = g.get("duplicates") or []
        paged, allowed = _num(g.get("paged_s")), _num(g.get("allowed_s"))
        if g.get("expected"):
            timing = (f"T+{fmt_duration(paged)}; single stack ≤ {fmt_duration(g.get('single_stack_s'))}, "
                      f"allowed ≤ {fmt_duration(allowed)}" if paged is not None else "no page after the fault")
            in_time = paged is not None and allowed is not None and paged <= allowed
        else:
            timing, in_time = "not expected (not timed)", None
        group_rows.append([Cell(name, "code"), Cell(str(g.get("receiver") or "")), Cell(str(g.get("firing", 0))),
                           Cell(f"{len(dups)} DUPLICATE(S) from the pair", "bad") if dups else
                           Cell("exactly once" if g.get("firing") == 1 else "once per change, no duplicate", "ok"),
                           Cell(timing), _ok(in_time, "in time", "LATE")])
    beats = ha.get("heartbeats") if isinstance(ha.get("heartbeats"), dict) else {}
    beat_rows = [[Cell(f"replica {name}"), Cell(str((b or {}).get("text") or "")), _ok((b or {}).get("ok"))]
                 for name, b in sorted(beats.items())]
    return Section("Half the monitoring down (replica_down)", [
        Para(f"Killed mid-incident (SIGKILL) on the HA stack; each expected page may take one evaluation interval "
             f"({fmt_duration(evaluation)}) longer than on a single stack; a notification repeating the one before it "
             f"within the repeat interval ({fmt_duration(ha.get('repeat_interval_s'))}) is a duplicate.", "note"),
        Table(["replica", "part", "killed", "last heartbeat", "watchdog late", "restarted"], kill_rows,
              "no replica was to be killed"),
        Table(["alert group", "receiver", "firing notifications", "once?", "time to page", "ok"], group_rows,
              "no alert group was notified"),
        Table(["heartbeat", "what the pager saw", "ok"], beat_rows,
              "heartbeats not followed (no pager, or nothing was killed)")])


def _in_time_order(event: dict) -> tuple[float, bool]:
    """By time; at the same time a resolve after the page it resolves (one notification may carry both)."""
    return _num(event.get("t")) or 0.0, event.get("kind") == "resolved"


# ------------------------------------------------------------------ render, atomically


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


def document(jn: _Journal, sections: list[Section]) -> Document:
    """The report: the sections, and a footer naming the journal (the markdown also says how to re-render)."""
    title = str(jn.j.get("title") or "")
    schema = jn.j.get("schema", "?")
    footer = Section("", [
        Para([Cell(f"Rendered from {JOURNAL} (schema {schema}); re-render with "),
              Cell(f"moneypath drill report {JOURNAL}", "code"), Cell(".")], "note", only="md"),
        Para([Cell("Rendered from "), Cell(JOURNAL, "link", JOURNAL), Cell(f" (schema {schema}).")], "note",
             only="html")])
    return Document(f"Drill report: {jn.drill}" + (f" — {title}" if title else ""), [*sections, footer],
                    verdict=("PASS", True) if jn.verdict == "pass" else ("FAIL", False),
                    page_title=f"Drill {jn.drill}: {jn.verdict.upper()}")


def render(journal: dict, out_dir: Path, catalog: Catalog | None = None) -> Path:
    """Write report.md, index.html and one PNG per series into out_dir; return the report.md path.

    Money reads in each currency's exponent from `catalog` (the drill's), or from ISO 4217 without one.

    Everything is rendered into a temporary sibling directory first. A new out_dir appears whole
    by one rename; into an existing one (where the runner put journal.json) each finished file is
    moved with os.replace, report.md last. On any error the temporary directory is removed and
    out_dir is left as it was. journal.json is written too when out_dir has none.
    """
    jn = _Journal(journal, catalog)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"{out_dir} exists and is not a directory")
    try:
        tmp = stage(out_dir)
    except OSError as exc:
        raise ReportError(f"cannot write the report under {out_dir.parent}: {exc.strerror or exc}") from exc
    with publishing(tmp, out_dir, merge=True, last=REPORT):
        images = _plots(jn, tmp)
        doc = document(jn, _sections(jn, images, _runbook_href(journal, out_dir)))
        (tmp / PAGE).write_text(doc.to_html(), encoding="utf-8")
        (tmp / REPORT).write_text(doc.to_markdown(), encoding="utf-8")
        if not (out_dir / JOURNAL).exists():
            (tmp / JOURNAL).write_text(json.dumps(journal, indent=1, default=str) + "\n", encoding="utf-8")
    return out_dir / REPORT


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


def rerender(journal_path: Path, out_dir: Path | None = None, catalog: Catalog | None = None) -> Path:
    """`moneypath drill report JOURNAL.json [--out DIR]`: render again from a saved journal (default: beside it)."""
    journal_path = Path(journal_path)
    journal = load_journal(journal_path)
    return render(journal, Path(out_dir) if out_dir is not None else journal_path.parent, catalog)
