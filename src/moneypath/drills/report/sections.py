"""What the drill report says: its sections (objectives, timeline, signals, pages, impact, HA) as typed cells."""

from __future__ import annotations

from moneypath._common.report import Cell, Image, Para, Section, Table
from moneypath.drills.journal import PAYMENTS_AFFECTED, SCHEMA
from moneypath.drills.report.formatting import (
    fmt_duration,
    fmt_utc,
    money_text,
    not_checked,
    num,
    ok_cell,
    relative,
    status_cell,
    verdict_cell,
)
from moneypath.drills.report.impact_section import impact_section
from moneypath.drills.report.reading import JournalReading

OBJECTIVE_TEXT = {
    "interrupted": "interrupted (Ctrl-C stopped the drill)",
    "headroom": "headroom (the target carries the peak)",
    "steady_state_before": "steady state before the fault",
    "halted": "halted (a halt condition or the blast-radius cap stopped the drill)",
    "detected": "detected (expected alerts fired)",
    "diagnosed": "diagnosed (runbook evidence found)",
    "mitigated": "mitigated",
    "recovered": "recovered",
    "no_unexpected_pages": "no unexpected pages",
    "ledger_balanced": "ledger balanced afterwards",
    "money_kept": "money kept (acknowledged payments stored, captured once, refunds within captures)",
    "steady_state_after": "steady state after recovery",
    "replica_down": "monitoring replica killed mid-incident",
    "paged_once": "paged once per alert group (no duplicate from the pair)",
    "watchdog": "watchdog shows the dead replica",
    "restored": "stack whole again (killed replica restarted)",
}


def build_sections(jn: JournalReading, images: list[Image], runbook_href: str | None,
                   money_map: Section | None = None) -> list[Section]:
    """The report's sections; `money_map` (moneypath.drills.report.report_map) follows the alerts."""
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
        [Cell("verdict"), verdict_cell(jn.verdict)],
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
    rows += _load_rows(j.get("load") or {})
    rows += conservation_rows(j.get("conservation") or [])
    summary = Section("Drill", [Table(["", ""], rows)])
    already = [str(a) for a in j.get("already_firing") or []]
    if already:  # first: every time below reads differently when the fault met alerts already firing
        summary.blocks.insert(0, Para(f"Steady state not clean: already firing before the fault: {', '.join(already)}; "
                                      "their pages before it are not counted as its detection.", "bad"))
    if j.get("narrative"):
        summary.blocks.append(Para(str(j["narrative"]), "quote"))
    if (num(j.get("schema")) or 0) > SCHEMA:
        summary.blocks.append(Para(f"journal schema {j.get('schema')} is newer than this renderer ({SCHEMA}); "
                                   "fields it does not know are left out", "note"))
    out.append(summary)

    out.append(Section("Objectives", [Table(
        ["objective", "verdict", "reason"],
        [[Cell(OBJECTIVE_TEXT.get(str(o.get("name")), str(o.get("name")))), status_cell(o),
          Cell(str(o.get("reason") or ""))] for o in jn.objectives],
        "no objective was evaluated (the run stopped early)")]))

    timings = j.get("timings") or {}
    timing_rows = []
    for label, key in (("detect", "detect_s"), ("page", "page_s"), ("diagnose", "diagnose_s"), ("recover", "recover_s")):
        v = num(timings.get(key))
        timing_rows.append([Cell(label), Cell("—" if v is None else f"{v:.1f}"),
                            Cell("not reached", "na") if v is None else Cell(fmt_duration(v))])
    out.append(Section("Times (from fault injection)", [Table(["time to", "seconds", ""], timing_rows)]))

    money = j.get("money") or {}
    lost = num(money.get("writes_lost"))
    unchecked = money.get("not_checked") or {}
    unreconciled = money.get("unreconciled_minor")
    money_rows = [
        [Cell("payments affected"), Cell(str(money.get("payments_affected", "—")))],
        [Cell("of which refused (never acknowledged)"), Cell(str(money.get("payments_refused", 0)))],
        [Cell("duplicate amount"), not_checked(unchecked.get("duplicates")) if unchecked.get("duplicates") else
         Cell(money_text(money.get("duplicate_amount_minor"), jn.money))],
        [Cell("unreconciled difference"),
         not_checked(unchecked.get("unreconciled")) if unreconciled is None else Cell(money_text(unreconciled, jn.money))],
        [Cell("writes lost (must be 0)"),
         not_checked(unchecked.get("writes_lost")) if lost is None else
         Cell(f"{int(lost)}", "bad" if lost else "ok")],
    ]
    money_sec = Section("Money impact", [Table(["", ""], money_rows),
                                         Para(f"Payments affected: {PAYMENTS_AFFECTED}.", "note")])
    if lost:
        money_sec.blocks.insert(0, Para(f"{int(lost)} acknowledged write(s) LOST: money the platform "
                                        "confirmed is not in its records.", "bad"))
    out.append(money_sec)

    out.append(Section("Alerts: expected vs actual", [Table(
        ["alert", "expectation", "deadline", "first firing", "paged", "resolved", "receivers", "ok", "reason"],
        [[Cell(str(a.get("alert") or "?"), "code"), Cell(str(a.get("expectation") or "")),
          Cell(fmt_duration(a.get("deadline_s"))), Cell(jn.rel(a.get("first_firing_at"))),
          Cell(jn.rel(a.get("paged_at"))), Cell(jn.rel(a.get("resolved_at"))),
          Cell(", ".join(str(r) for r in a.get("receivers") or []) or "—"), ok_cell(a.get("ok"), "ok", "FAIL"),
          Cell(str(a.get("reason") or ""))] for a in jn.alerts],
        "no alert expected and none fired")]))
    if money_map is not None:
        out.append(money_map)

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
          Cell(str(e.get("expect") or "")), Cell(str(e.get("result") or "")),
          ok_cell(e.get("ok"), "ok", "FAIL", "not measured")]
         for e in jn.list("evidence")],
        "no diagnosis step ran")]))

    role_rows = []
    for r in jn.list("roles"):
        due = f"T+{fmt_duration(r.get('due_s'))}" if num(r.get("due_s")) is not None else "—"
        if r.get("ok") is None and not r.get("answered_by") and not r.get("answer"):
            role_rows.append([Cell(str(r.get("role") or "")), Cell(str(r.get("checkpoint") or "")), Cell(due),
                              Cell(str(r.get("note") or "not run interactively"), "na"), Cell(""), Cell(""),
                              ok_cell(None)])
            continue
        when = relative(r.get("answered_at"), r.get("due_from", jn.started_at))
        if r.get("late"):
            when += " LATE"
        answer = Cell(str(r["answer"]) + (f" ({r['note']})" if r.get("note") else "")) if r.get("answer") else \
            Cell(str(r.get("note") or "no answer"), "na")
        role_rows.append([Cell(str(r.get("role") or "")), Cell(str(r.get("checkpoint") or "")), Cell(due),
                          Cell(str(r.get("answered_by") or "—")), answer,
                          Cell(when, "bad" if r.get("late") else "text"), ok_cell(r.get("ok"), "met", "not met")])
    bases = {num(r.get("due_from", jn.started_at)) for r in jn.list("roles")} - {None}
    role_note = Para("Due and answer times count from " + (
        ", ".join(fmt_utc(b) for b in sorted(bases)) if bases else "the drill start") +
        (" (the drill start)." if bases == {jn.started_at} else "."), "note")
    out.append(Section("Roles: first-hour checklist", [role_note, Table(
        ["role", "checkpoint", "due", "answered by", "answer", "when", "ok"], role_rows,
        "no role cards")]))

    classified = num(j.get("classification_at"))
    reg_rows = []
    for r in jn.list("regulatory"):  # due_at is the runner's (finish()): basis hours from classification/awareness
        due = num(r.get("due_at"))
        due_text = fmt_utc(due) if due is not None else "not classified" if classified is None else "—"
        reg_rows.append([Cell(str(r.get("regime") or "")), Cell(str(r.get("basis") or "")), Cell(due_text),
                         Cell(str(r.get("applies") or ""))])
    reg = Section("Regulatory clocks", [Para(
        f"Classified at {fmt_utc(classified)} (first expected page)." if classified is not None
        else "The incident was not classified in this run (no expected page), so no clock started.", "note"),
        Table(["regime", "basis", "due at (UTC)", "applies"], reg_rows, "no regulatory clock applies")])
    out.append(reg)
    if (scenario := impact_section(jn)) is not None:
        out.append(scenario)

    out.append(Section("Timeline", [Table(
        ["time (UTC)", "from fault", "kind", "what happened"],
        [[Cell(fmt_utc(e.get("t"), with_date=False)),
          Cell("—" if jn.zero is None or num(e.get("t")) is None else
               ("T+" if num(e.get("t")) >= jn.zero else "T−") + fmt_duration(abs(num(e.get("t")) - jn.zero))),
          Cell(str(e.get("kind") or ""), "bad" if e.get("kind") == "halt" else "text"), Cell(str(e.get("text") or ""))]
         for e in sorted(jn.list("timeline"), key=_in_time_order)],
        "empty")]))
    return out


def _load_rows(load: dict) -> list[list[Cell]]:
    """The drill's load per flow and per step: how many started, in flight at most, why flows failed."""
    if not load.get("started"):
        return []
    flow = str(load.get("flow") or "payment")
    cap = f" (cap {load['in_flight_cap']})" if load.get("in_flight_cap") else ""
    acked, answered = load.get("acknowledged", 0), load.get("answered", 0)
    other = f" (and {answered - acked} answered in a state not approved)" if answered > acked else ""
    rows = [[Cell("load"), Cell(f"{load.get('rate')} {flow}s/s: {load['started']} started, {acked} acknowledged{other}, "
                                f"{load.get('failed', 0)} failed, {load.get('behind', 0)} not started "
                                f"(all slots busy); at most {load.get('most_in_flight', 0)} in flight{cap}")]]
    steps = load.get("steps") or {}
    if len(steps) > 1:
        rows.append([Cell("steps"), Cell(", ".join(f"{name} {c.get('sent', 0)} ({c.get('failed', 0)} failed)"
                                                   for name, c in steps.items()))])
    for reason, n in sorted((load.get("failures") or {}).items(), key=lambda kv: -kv[1])[:5]:
        rows.append([Cell(f"{flow}s failed"), Cell(f"{n} × {reason}", "bad")])
    return rows


def conservation_rows(records: list) -> list[list[Cell]]:
    """Each stretch's conservation of counts (sent against counted, per address): the line, pass or not."""
    return [[Cell(f"counted ({r.get('phase')}, {r.get('target')})"),
             Cell(f"{r.get('status')}: {r.get('line')}", "ok" if r.get("status") == "pass" else "bad")]
            for r in records if isinstance(r, dict)]


def _ha_section(jn: JournalReading, ha: dict) -> Section:
    """replica_down: which replica died when, each alert group's pages (once, or a duplicate from the pair), the
    time to page against the single-stack deadline, the heartbeats, and whether the stack is whole again."""
    evaluation = num(ha.get("evaluation_interval_s"))
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
        paged, allowed = num(g.get("paged_s")), num(g.get("allowed_s"))
        if g.get("expected"):
            timing = (f"T+{fmt_duration(paged)}; single stack ≤ {fmt_duration(g.get('single_stack_s'))}, "
                      f"allowed ≤ {fmt_duration(allowed)}" if paged is not None else "no page after the fault")
            in_time = paged is not None and allowed is not None and paged <= allowed
        else:
            timing, in_time = "not expected (not timed)", None
        group_rows.append([Cell(name, "code"), Cell(str(g.get("receiver") or "")), Cell(str(g.get("firing", 0))),
                           Cell(f"{len(dups)} DUPLICATE(S) from the pair", "bad") if dups else
                           Cell("exactly once" if g.get("firing") == 1 else "once per change, no duplicate", "ok"),
                           Cell(timing), ok_cell(in_time, "in time", "LATE")])
    beats = ha.get("heartbeats") if isinstance(ha.get("heartbeats"), dict) else {}
    beat_rows = [[Cell(f"replica {name}"), Cell(str((b or {}).get("text") or "")), ok_cell((b or {}).get("ok"))]
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
    return num(event.get("t")) or 0.0, event.get("kind") == "resolved"
