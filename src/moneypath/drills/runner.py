"""Run one drill against a target and write its journal (and, through moneypath.drills.report, its report).

The phases, each a line of progress and a timeline entry:

1. baseline load (payments through the public API) and the steady-state checks;
2. the fault, through the fault API, while a watcher polls every second: Prometheus' alerts,
   the pages (pager or Alertmanager), the fault's declared duration (the fault is cleared when it
   ends), the halt conditions and the blast-radius cap (either clears the fault at once and fails
   the drill); the drill waits for every expected page or its deadline;
3. the runbook's diagnosis steps, executed (PromQL on Prometheus, SQL read-only on the ledger)
   until every one returns the evidence the drill expects, or the diagnosis deadline;
4. mitigation (clear the fault unless mitigation.clear_fault is false, remediation calls), then the
   recovery checks until they hold or the recovery deadline, then the steady state again;
5. the ledger (balanced per currency, nothing acknowledged lost), the money impact, the key
   series for the plots, the journal (atomic write) and the report.

A drill without a fault runs its peak load instead of 2-4 and checks that nothing pages.
Times are wall-clock; the drill file's durations are stretched by `scale` when the target's
rules are less compressed than the local drill stack's (see moneypath.check.drill_files).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key
from moneypath.check.drill_files import LOCAL_TIME_FACTOR, Check, Drill, alert_names, receivers_for
from moneypath.check.expect import Expect, check_all, describe_all
from moneypath.drills import money
from moneypath.drills.load import Load, Mix
from moneypath.drills.targets import Pages, Prometheus, Target, TargetError
from moneypath.generate.compress import format_duration, scale_expr

SCHEMA = 1
TICK_S = 1.0


@dataclass
class AlertSeen:
    alertname: str
    labels: dict[str, str]
    first_pending: float | None = None
    first_firing: float | None = None
    last_firing: float | None = None
    gone_at: float | None = None  # no longer firing or pending at Prometheus


@dataclass
class Result:
    """What run_drill hands back for the summary table."""

    drill: str
    verdict: str
    timings: dict
    report: str
    journal: dict = field(repr=False, default_factory=dict)
    interrupted: bool = False  # Ctrl-C: the remaining drills are not run


class DrillRun:
    def __init__(self, drill: Drill, catalog: Catalog, target: Target, reports_dir: Path,
                 say: Callable[[str], None] = print, interactive: bool = False, ask=input, clock=time.time):
        self.drill, self.catalog, self.target = drill, catalog, target
        self.reports_dir, self._say, self.interactive, self.ask, self.clock = reports_dir, say, interactive, ask, clock
        self.scale = LOCAL_TIME_FACTOR / target.time_factor
        self.prom = Prometheus(target.prometheus)
        self.pages_source = Pages(target.pager, target.alertmanager)
        self.db = money.LedgerReader(target.db_url) if target.db_url else None
        self.http = httpx.Client(timeout=10)
        self.known = alert_names(catalog)
        self.started_at = clock()
        self.timeline: list[dict] = []
        self.objectives: list[dict] = []
        self.seen: dict[tuple, AlertSeen] = {}
        self.pages: list[dict] = []
        self._page_keys: set[tuple] = set()
        self.fault_active = False
        self.fault_end: float | None = None  # injection + the declared duration: tick() clears the fault then
        self.fault_state = {"where": drill.fault.where if drill.fault else None,
                            "name": drill.fault.name if drill.fault else None,
                            "params": dict(drill.fault.params) if drill.fault else {},
                            "target": drill.fault.target if drill.fault else None,
                            "injected_at": None, "cleared_at": None, "halted": None}
        self.evidence: list[dict] = []
        self.load: Load | None = None
        self.diagnosed_at: float | None = None
        self.recovered_at: float | None = None
        self.window_end: float | None = None  # end of the fault (or peak) window
        self.interrupted = False  # Ctrl-C during the phases: the journal covers what happened so far

    # ------------------------------------------------------------ helpers

    def s(self, seconds: float) -> float:
        """A drill-file duration in this target's wall-clock seconds."""
        return seconds * self.scale

    def q(self, expr: str) -> str:
        """A drill-file PromQL expression with its ranges stretched for this target."""
        return scale_expr(expr, 1 / self.scale) if self.scale != 1 else expr

    def event(self, kind: str, text: str, detail: dict | None = None, t: float | None = None) -> None:
        t = self.clock() if t is None else t
        entry = {"t": t, "kind": kind, "text": text}
        if detail:
            entry["detail"] = detail
        self.timeline.append(entry)
        self._say(f"[{t - self.started_at:6.1f} s] {text}")

    def objective(self, name: str, ok: bool, reason: str) -> None:
        self.objectives.append({"name": name, "ok": bool(ok), "reason": reason})

    def sleep_ticking(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        """Wait, polling the watcher every tick; stop early when `until()` is true."""
        end = self.clock() + seconds
        while True:
            self.tick()
            if until is not None and until():
                return
            left = end - self.clock()
            if left <= 0:
                return
            time.sleep(min(TICK_S, left))

    # ------------------------------------------------------------ the watcher

    def tick(self) -> None:
        now = self.clock()
        try:
            self._watch_alerts(now)
            self._watch_pages(now)
        except TargetError as exc:
            self.event("note", f"watcher: {exc}")
        if self.fault_active and self.fault_end is not None and self.clock() >= self.fault_end:
            self.event("note", f"fault duration ({self.s(self.drill.fault.duration):.0f} s) reached")
            self.clear("duration reached")
        if self.fault_active:
            self._watch_cap_and_halt()

    def _watch_alerts(self, now: float) -> None:
        present = set()
        for alert in self.prom.alerts():
            labels = {k: v for k, v in alert["labels"].items() if k != "alertstate"}
            key = (labels.get("alertname", ""), tuple(sorted(labels.items())))
            present.add(key)
            seen = self.seen.get(key)
            if seen is None:
                seen = self.seen[key] = AlertSeen(key[0], labels)
            seen.gone_at = None
            if alert["state"] == "pending" and seen.first_pending is None:
                seen.first_pending = now
            if alert["state"] == "firing":
                if seen.first_firing is None:
                    seen.first_firing = now
                    if not any(s.first_firing for k, s in self.seen.items() if k != key and k[0] == key[0]):
                        self.event("alert_firing", f"firing at Prometheus: {key[0]}{_label_text(labels)}",
                                   {"alert": key[0], "labels": labels})
                seen.last_firing = now
        for key, seen in self.seen.items():
            if key not in present and seen.gone_at is None:
                seen.gone_at = now

    def _watch_pages(self, now: float) -> None:
        for record in self.pages_source.records(now):
            if float(record.get("received_at") or 0) < self.started_at - 1:
                continue  # before this drill (a stack shared with earlier work)
            key = (record.get("received_at"), record.get("receiver"), record.get("status"),
                   record.get("fingerprint") or tuple(sorted(record.get("labels", {}).items())))
            if key in self._page_keys:
                continue
            self._page_keys.add(key)
            self.pages.append(record)
            status = record.get("status", "firing")
            labels = record.get("labels", {})
            word = "PAGE" if status == "firing" else "RESOLVED"
            self.event("page" if status == "firing" else "resolved",
                       f"{word} {record.get('alertname')}{_label_text(labels)} → {record.get('receiver')} "
                       f"({labels.get('severity', '?')})",
                       {"alert": record.get("alertname"), "receiver": record.get("receiver"), "labels": labels},
                       t=float(record.get("received_at") or now))

    def _watch_cap_and_halt(self) -> None:
        fault = self.drill.fault
        for check in fault.halt_when:
            ok, reason = self.run_check(check)
            if ok:
                self.halt(f"halt condition {check.name!r} holds: {reason}")
                return
        cap = fault.cap
        if cap.payments_affected is None and cap.duplicate_minor is None:
            return
        injected = self.fault_state["injected_at"]
        breaks = self._breaks(injected)
        outcomes = self.load.snapshot() if self.load else []
        affected = money.affected_payments(outcomes, injected, None, breaks)
        duplicates = money.duplicate_amounts(breaks) if self.db else self._prom_duplicates(self.clock() - injected)
        reason = money.cap_exceeded(len(affected), duplicates, cap.payments_affected, cap.duplicate_minor)
        if reason:
            self.halt(reason)

    def _breaks(self, since: float | None) -> list[dict]:
        if self.db is None or since is None:
            return []
        try:
            return self.db.breaks_since(since)
        except Exception as exc:  # noqa: BLE001 - a locked or missing table is reported, not fatal
            self.event("note", f"ledger database: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}")
            return []

    def _prom_duplicates(self, seconds: float) -> dict[str, int]:
        m = self.catalog.metric(Key.DUPLICATE_CHARGED_MINOR_TOTAL)
        window = format_duration(max(seconds, 1))
        try:
            series = self.prom.query(f"sum by (currency) (increase({m}[{window}]))")
        except TargetError:
            return {}
        return {labels.get("currency", "?"): round(v) for labels, v in series if not math.isnan(v) and v > 0}

    # ------------------------------------------------------------ faults

    def _fault_url(self) -> str:
        fault = self.drill.fault
        base = self.target.service if fault.where == "service" else self.target.providersim
        return f"{base.rstrip('/')}/admin/faults/{fault.name}"

    def _admin(self) -> dict:
        return {"authorization": f"Bearer {self.target.admin_token}"}

    def inject(self) -> None:
        from moneypath.check.drill_files import _fault_specs

        fault = self.drill.fault
        spec = _fault_specs(fault.where)[fault.name]
        body = dict(fault.params)
        if spec.target:
            body[spec.target] = fault.target
        try:
            r = self.http.put(self._fault_url(), json=body, headers=self._admin())
        except httpx.HTTPError as exc:
            raise TargetError(f"PUT {self._fault_url()}: {type(exc).__name__}: {exc}") from None
        if r.status_code != 200:
            raise TargetError(f"PUT {self._fault_url()}: {r.status_code} {_detail(r)}")
        self.fault_active = True
        self.fault_state["injected_at"] = self.clock()
        self.fault_end = self.fault_state["injected_at"] + self.s(fault.duration)
        params = ", ".join(f"{k}={v}" for k, v in fault.params.items())
        self.event("fault", f"FAULT {fault.name}({params}) on {fault.where}"
                            f"{' for ' + fault.target if fault.target else ''}", {"body": body})

    def clear(self, why: str) -> bool:
        if not self.fault_active:
            return True
        fault = self.drill.fault
        from moneypath.check.drill_files import _fault_specs

        spec = _fault_specs(fault.where)[fault.name]
        params = {spec.target: fault.target} if spec.target and fault.target else None
        if params and fault.where == "service":
            params = {"target": fault.target}
        try:
            r = self.http.delete(self._fault_url(), params=params, headers=self._admin())
            ok = r.status_code == 200
            detail = f"{r.status_code}" if ok else f"{r.status_code} {_detail(r)}"
        except httpx.HTTPError as exc:
            ok, detail = False, f"{type(exc).__name__}"
        if ok:
            self.fault_active = False
            self.fault_state["cleared_at"] = self.clock()
            if self.load and self.drill.load.peak and self.drill.fault:
                self.load.set_rate(self.drill.load.rate)
        self.event("fault" if ok else "note", f"{'CLEAR' if ok else 'could not clear'} {fault.name} ({why}): {detail}")
        return ok

    def halt(self, reason: str) -> None:
        self.fault_state["halted"] = reason
        self.event("halt", f"HALT: {reason}")
        self.clear("halted")

    # ------------------------------------------------------------ checks and evidence

    def run_check(self, check: Check) -> tuple[bool, str]:
        try:
            series = self.prom.query(self.q(check.promql))
        except TargetError as exc:
            return False, str(exc)
        return check_all(check.expect, series)

    def poll_checks(self, checks: list[Check], within: float, label: str) -> tuple[bool, str, float | None]:
        """Poll until every check holds or `within` runs out: (ok, reason, when it held)."""
        deadline = self.clock() + within
        while True:
            results = [(c, *self.run_check(c)) for c in checks]
            failing = [(c, reason) for c, ok, reason in results if not ok]
            if not failing:
                return True, "; ".join(f"{c.name}: {reason}" for c, _, reason in results), self.clock()
            if self.clock() >= deadline:
                c, reason = failing[0]
                return False, f"{c.name}: {reason} (still after {within:.0f} s)", None
            self.sleep_ticking(TICK_S)

    def steady_state(self, name: str) -> bool:
        ok, reason, _ = self.poll_checks(self.drill.steady_state, self.s(self.drill.steady_state_within), name)
        self.objective(name, ok, ("holds: " if ok else "does not hold: ") + reason)
        self.event("check", f"steady state {'holds' if ok else 'DOES NOT hold'}"
                            f"{'' if ok else ': ' + reason}", {"ok": ok, "reason": reason})
        return ok

    def run_step(self, step_name: str, expects: list[Expect]) -> dict:
        step = self.drill.runbook_steps[step_name]
        kind = "promql" if step.get("promql") else "sql"
        query = step.get("promql") or step.get("sql")
        entry = {"step": step_name, "kind": kind, "query": query,
                 "expect": f"{step.get('expect')} — checked: {describe_all(expects)}", "at": self.clock()}
        try:
            if kind == "promql":
                items = self.prom.query(query)
                entry["result"] = _render_series(items)
            elif self.db is None:
                entry.update(result="not run: no ledger database (--db-url)", ok=False)
                return entry
            else:
                items = self.db.rows(query)
                entry["result"] = _render_rows(items)
        except Exception as exc:  # noqa: BLE001 - a failing query is evidence not found, with its reason
            entry.update(result=f"error: {' '.join(str(exc).split())[:200]}", ok=False)
            return entry
        entry["ok"], entry["reason"] = check_all(expects, items)
        return entry

    def diagnose(self) -> None:
        steps = self.drill.diagnosis.steps
        first_page = self.first_expected_page()
        base = first_page if first_page is not None else self.clock()
        deadline = base + self.s(self.drill.diagnosis.within)
        latest: dict[str, dict] = {}
        self.event("phase", f"diagnosis: {len(steps)} step(s) of {self.drill.runbook_page}")
        while True:
            for step in steps:
                if latest.get(step.step, {}).get("ok"):
                    continue
                entry = self.run_step(step.step, step.expect)
                before = latest.get(step.step)
                latest[step.step] = entry
                if before is None or entry["ok"]:
                    self.event("diagnosis", f"{'evidence' if entry['ok'] else 'no evidence yet'}: {step.step} → "
                                            f"{entry['result'][:120]}", {"ok": entry["ok"]})
            if all(e["ok"] for e in latest.values()):
                self.diagnosed_at = self.clock()
                break
            if self.clock() >= deadline:
                break
            self.sleep_ticking(min(2.0, max(0.1, deadline - self.clock())))
        self.evidence = [latest[s.step] for s in steps]
        missing = [e for e in self.evidence if not e["ok"]]
        if missing:
            e = missing[0]
            self.objective("diagnosed", False, f"{len(missing)} of {len(steps)} runbook step(s) found no evidence by the "
                                               f"deadline ({self.s(self.drill.diagnosis.within):.0f} s); first: "
                                               f"{e['step']!r}: {e.get('reason') or e['result']}")
        else:
            self.objective("diagnosed", True, f"all {len(steps)} runbook step(s) returned the expected evidence "
                                              f"{self.diagnosed_at - base:.0f} s after "
                                              f"{'the page' if first_page else 'the diagnosis started'}")

    # ------------------------------------------------------------ alerts and pages

    def expected_receivers(self, alert: str, given: list[str] | None) -> list[str]:
        return list(given) if given else receivers_for(alert, self.catalog, self.known)

    def matching_pages(self, alert: str, labels: dict[str, str], status: str = "firing") -> list[dict]:
        return [p for p in self.pages if p.get("alertname") == alert and p.get("status", "firing") == status
                and all(p.get("labels", {}).get(k) == v for k, v in labels.items())]

    def matching_seen(self, alert: str, labels: dict[str, str]) -> list[AlertSeen]:
        return [s for s in self.seen.values() if s.alertname == alert
                and all(s.labels.get(k) == v for k, v in labels.items())]

    def all_expected_paged(self) -> bool:
        for exp in self.drill.alerts.expected:
            got = {p.get("receiver") for p in self.matching_pages(exp.alert, exp.labels)}
            if not set(self.expected_receivers(exp.alert, exp.receivers)) <= got:
                return False
        return True

    def first_expected_page(self) -> float | None:
        times = [float(p["received_at"]) for exp in self.drill.alerts.expected
                 for p in self.matching_pages(exp.alert, exp.labels)]
        return min(times) if times else None

    def expected_resolved(self) -> bool:
        for exp in self.drill.alerts.expected:
            seen = self.matching_seen(exp.alert, exp.labels)
            if any(s.gone_at is None for s in seen):
                return False
        return True

    def alert_matrix(self) -> list[dict]:
        injected = self.fault_state["injected_at"]
        rows: list[dict] = []
        listed: set[str] = set()
        for exp in self.drill.alerts.expected:
            listed.add(exp.alert)
            want = self.expected_receivers(exp.alert, exp.receivers)
            pages = self.matching_pages(exp.alert, exp.labels)
            seen = self.matching_seen(exp.alert, exp.labels)
            firing = [s.first_firing for s in seen if s.first_firing]
            resolved = [float(p["received_at"]) for p in self.matching_pages(exp.alert, exp.labels, "resolved")]
            gone = [s.gone_at for s in seen if s.first_firing and s.gone_at]
            got = sorted({p.get("receiver") for p in pages})
            deadline = self.s(exp.page_within)
            paged_at = min((float(p["received_at"]) for p in pages), default=None)
            all_paged_at = max((min(float(p["received_at"]) for p in pages if p.get("receiver") == r)
                                for r in want if r in got), default=None)
            if injected is None:
                ok, reason = False, "the fault was never injected"
            elif paged_at is None:
                ok = False
                reason = (f"fired at Prometheus {min(firing) - injected:.0f} s after the fault, but no page reached "
                          f"{', '.join(want)}" if firing else
                          f"never fired within {deadline:.0f} s (is the rule loaded? does the fault move its signal?)")
            elif not set(want) <= set(got):
                ok, reason = False, f"paged {', '.join(got)}, but not {', '.join(sorted(set(want) - set(got)))}"
            elif all_paged_at - injected > deadline:
                ok, reason = False, f"paged {all_paged_at - injected:.0f} s after the fault, deadline {deadline:.0f} s"
            else:
                ok, reason = True, f"paged {', '.join(got)} {all_paged_at - injected:.0f} s after the fault " \
                                   f"(deadline {deadline:.0f} s)"
            rows.append({"alert": exp.alert, "labels": dict(exp.labels), "expectation": "expected", "deadline_s": deadline,
                         "first_firing_at": min(firing) if firing else None, "paged_at": paged_at,
                         "resolved_at": min(resolved) if resolved else (max(gone) if gone and not any(
                             s.gone_at is None for s in seen) else None),
                         "receivers": got, "ok": ok, "reason": reason})
        allowed = set(self.drill.alerts.allowed)
        forbidden = set(self.drill.alerts.must_not_page)
        if "*" in forbidden:
            forbidden = (set(self.known) - listed - allowed) | (forbidden - {"*"})
        paged_names = sorted({p.get("alertname") for p in self.pages if p.get("status", "firing") == "firing"})
        for name in sorted(allowed | forbidden | set(paged_names)):
            if name in listed:
                continue  # an expected alert paging with other labels is not a second row
            pages = [p for p in self.pages if p.get("alertname") == name and p.get("status", "firing") == "firing"]
            seen = [s for s in self.seen.values() if s.alertname == name]
            firing = [s.first_firing for s in seen if s.first_firing]
            resolved = [float(p["received_at"]) for p in self.pages
                        if p.get("alertname") == name and p.get("status") == "resolved"]
            got = sorted({p.get("receiver") for p in pages})
            first_page = min((float(p["received_at"]) for p in pages), default=None)
            # A page is a notification of severity page; a ticket waits for the next business day and is
            # shown, not judged (an SLO's slow-burn ticket on a minutes-old history is noise, not an incident).
            paging = [p for p in pages if _is_page(p)]
            tickets = "" if paging or not pages else f" (a ticket to {', '.join(got)}, not a page)"
            if name in allowed:
                expectation, ok = "allowed", True
                reason = (f"allowed as a consequence of the fault; notified {', '.join(got)}" if pages else
                          "allowed; did not page")
            elif name in forbidden:
                expectation, ok = "must_not_page", not paging
                reason = (f"must not page, but paged {', '.join(sorted({p.get('receiver') for p in paging}))}"
                          if paging else f"did not page{tickets}")
            else:
                expectation, ok = "unexpected", not paging
                reason = (f"not expected by this drill, but paged "
                          f"{', '.join(sorted({p.get('receiver') for p in paging}))}" if paging else
                          f"not expected by this drill{tickets}; not judged")
            if not pages and not firing and expectation != "must_not_page":
                continue
            rows.append({"alert": name, "expectation": expectation, "deadline_s": None,
                         "first_firing_at": min(firing) if firing else None, "paged_at": first_page,
                         "resolved_at": min(resolved) if resolved else None, "receivers": got, "ok": ok,
                         "reason": reason})
        return rows

    # ------------------------------------------------------------ the run

    def run(self) -> dict:
        drill = self.drill
        self.event("phase", f"drill {drill.name}: {drill.title} (rehearses {drill.runbook_alert})")
        if self.scale != 1:
            self.event("note", f"the target's rules run {self.target.time_factor:g}x production speed: drill "
                               f"durations and ranges are stretched {self.scale:g}x")
        try:
            self._run_phases()
        except KeyboardInterrupt:
            self.interrupted = True
            self.event("note", "interrupted (Ctrl-C): the fault is cleared; the journal and report keep what "
                               "happened so far")
            self.objective("interrupted", False, "the drill was interrupted (Ctrl-C) before it finished")
        except (TargetError, httpx.HTTPError) as exc:
            self.event("note", f"drill stopped: {exc}")
            self.objective("runner", False, f"the drill could not continue: {exc}")
        except Exception as exc:  # noqa: BLE001 - a bug must not leave a fault in place or lose the journal
            self.event("note", f"drill stopped by an error: {type(exc).__name__}: {exc}")
            self.objective("runner", False, f"the runner failed: {type(exc).__name__}: {exc}")
        finally:
            if self.fault_active:
                self.clear("cleanup")
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - best effort: the target may be gone
                pass
            if self.load is not None:
                self.load.stop()
        return self.finish()

    def _run_phases(self) -> None:
        drill = self.drill
        mix = Mix(drill.load.providers, drill.load.currencies, dict(drill.load.methods), drill.load.amounts.min,
                  drill.load.amounts.max, drill.load.capture)
        self.load = Load(self.target.service, self.target.payments_token, mix, drill.load.rate,
                         drill.load.concurrency, prefix=f"drill-{drill.name}")
        self.load.start()
        self.event("load", f"baseline load: {drill.load.rate:g} payments/s "
                           f"({', '.join(drill.load.providers)}; {drill.load.capture:.0%} captured) "
                           f"for {self.s(drill.load.baseline):.0f} s")
        self.sleep_ticking(self.s(drill.load.baseline))
        if not self.steady_state("steady_state_before"):
            self.event("note", "the steady state does not hold: no fault injected (fix the baseline first)")
            return
        if drill.fault is None:
            self._peak_only()
            return
        if drill.fault.after:
            self.sleep_ticking(self.s(drill.fault.after))
        self.inject()
        injected = self.fault_state["injected_at"]
        if drill.load.peak:
            self.load.set_rate(drill.load.peak.rate)
            self.event("load", f"load raised to {drill.load.peak.rate:g} payments/s")
        longest = max((self.s(e.page_within) for e in drill.alerts.expected), default=0.0)
        self.event("phase", f"waiting for {len(drill.alerts.expected)} expected page(s) (deadline up to {longest:.0f} s)")
        self.sleep_ticking(max(0.0, min(injected + longest, self.fault_end) - self.clock()),
                           until=lambda: self.all_expected_paged() or not self.fault_active)
        self.diagnose()
        self.tick()  # the fault's end time, the halt conditions and the cap, once more before mitigating
        mitigated_at = self.mitigate()
        self.event("phase", f"recovery: checks must hold within {self.s(drill.recovery.within):.0f} s")
        self._recover(mitigated_at)
        self.steady_state("steady_state_after")

    def mitigate(self) -> float:
        """Clear the fault (unless mitigation.clear_fault is false: then it stays until its duration ends or the
        drill finishes) and call the remediation actions; the "mitigated" objective; returns when it was done."""
        mitigation = self.drill.mitigation
        self.event("phase", "mitigation")
        mitigated = True
        reasons = []
        if mitigation.clear_fault:
            if self.fault_active:
                mitigated &= self.clear("mitigation")
            reasons.append("fault cleared" if mitigated else "the fault could not be cleared")
        elif self.fault_active:
            left = max(0.0, (self.fault_end or self.clock()) - self.clock())
            reasons.append(f"fault left on (mitigation.clear_fault: false): it ends with its duration, in {left:.0f} s")
        for action in mitigation.actions:
            ok, text = self.act(action)
            mitigated &= ok
            reasons.append(text)
        mitigated_at = self.clock()
        self.window_end = mitigated_at
        self.objective("mitigated", mitigated, "; ".join(reasons) or "nothing to do")
        return mitigated_at

    def _recover(self, mitigated_at: float) -> None:
        rec = self.drill.recovery
        within = self.s(rec.within)
        ok, reason, when = self.poll_checks(rec.checks, within, "recovery")
        if ok and rec.alerts_resolved:
            left = mitigated_at + within - self.clock()
            self.sleep_ticking(max(0.0, left), until=self.expected_resolved)
            if not self.expected_resolved():
                ok = False
                reason = f"recovery checks hold, but the expected alerts still fire {within:.0f} s after mitigation"
            else:
                when = self.clock()
        elif ok:
            self.tick()
        if ok:
            self.recovered_at = when
            self.objective("recovered", True, f"recovered {when - mitigated_at:.0f} s after mitigation "
                                              f"(deadline {within:.0f} s): {reason}")
        else:
            self.objective("recovered", False, reason)
        self.event("check", f"recovery {'holds' if ok else 'FAILED'}: {reason[:160]}", {"ok": ok})

    def _peak_only(self) -> None:
        peak = self.drill.load.peak
        self.load.set_rate(peak.rate)
        self.event("load", f"peak load: {peak.rate:g} payments/s for {self.s(peak.duration):.0f} s; nothing may page")
        self.sleep_ticking(self.s(peak.duration))
        self.diagnose()
        self.window_end = self.clock()
        self.load.set_rate(self.drill.load.rate)
        self.event("load", f"back to {self.drill.load.rate:g} payments/s")
        self.steady_state("steady_state_after")

    def act(self, action) -> tuple[bool, str]:
        base = self.target.service if action.where == "service" else self.target.providersim
        if not base:
            return False, f"{action.name}: no {action.where} target"
        try:
            r = self.http.request(action.method, f"{base.rstrip('/')}{action.path}", json=action.json_body,
                                  headers=self._admin())
            ok = r.status_code in action.expect_status
            text = f"{action.name}: {action.method} {action.path} → {r.status_code}"
        except httpx.HTTPError as exc:
            ok, text = False, f"{action.name}: {type(exc).__name__}"
        self.event("mitigation", text, {"ok": ok})
        return ok, text

    # ------------------------------------------------------------ the end: ledger, money, series, journal

    def finish(self) -> dict:
        drill = self.drill
        outcomes = self.load.snapshot() if self.load else []
        injected, cleared = self.fault_state["injected_at"], self.fault_state["cleared_at"]
        matrix = self.alert_matrix()
        if drill.alerts.expected and injected is not None:
            bad = [r for r in matrix if r["expectation"] == "expected" and not r["ok"]]
            self.objective("detected", not bad,
                           f"{bad[0]['alert']}: {bad[0]['reason']}" if bad else
                           f"every expected alert paged its receivers in time ({len(drill.alerts.expected)})")
        unexpected = [r for r in matrix if r["expectation"] in ("must_not_page", "unexpected") and not r["ok"]]
        firing = [p for p in self.pages if p.get("status", "firing") == "firing"]
        tickets = sum(1 for p in firing if not _is_page(p))
        self.objective("no_unexpected_pages", not unexpected,
                       "; ".join(f"{r['alert']}: {r['reason']}" for r in unexpected) if unexpected else
                       f"nothing paged that should not ({len(firing) - tickets} page(s) and {tickets} ticket(s) "
                       "in all)")
        if self.fault_state["halted"]:
            self.objective("halted", False, f"the drill was stopped: {self.fault_state['halted']}")
        money_impact, lost_lines = self._money(outcomes, injected, cleared)
        self._ledger_objective(money_impact, lost_lines)
        self._order_objectives()
        first_firing = min((r["first_firing_at"] for r in matrix if r["expectation"] == "expected"
                            and r["first_firing_at"]), default=None)
        classification_at = self.first_expected_page()
        timings = {
            "detect_s": _since(first_firing, injected),
            "page_s": _since(classification_at, injected),
            "diagnose_s": _since(self.diagnosed_at, injected),
            "recover_s": _since(self.recovered_at, injected),
        }
        series = self._series()
        finished_at = self.clock()
        roles = [{"role": role, "checkpoint": card.checkpoint, "due_s": card.due, "answered_by": None, "answer": None,
                  "answered_at": None, "ok": None} for role, card in drill.tabletop.roles.items()]
        clock_base = classification_at or injected or self.started_at
        if self.interactive and not self.interrupted:
            roles = self._tabletop(roles, clock_base)
            missed = [r["role"] for r in roles if r.get("ok") is False]
            self.objective("tabletop", not missed,
                           f"checkpoint not met or late: {', '.join(missed)}" if missed else
                           f"every role met its first-hour checkpoint ({len(roles)})")
        awareness = first_firing or classification_at
        regulatory = []
        for clock in drill.tabletop.regulatory:
            start = classification_at if clock.start == "classification" else awareness
            regulatory.append({
                "regime": clock.regime,
                "basis": f"{clock.hours:g} h from {clock.start}" if clock.hours else "no fixed deadline",
                "due_at": start + clock.hours * 3600 if clock.hours and start else None,
                "applies": clock.applies})
        verdict = "pass" if self.objectives and all(o["ok"] for o in self.objectives) else "fail"
        self.event("phase", f"verdict: {verdict.upper()}")
        journal = {
            "schema": SCHEMA, "drill": drill.name, "file": drill.path, "title": drill.title,
            "runbook": drill.runbook_page, "root": str(Path(self.catalog.path).resolve().parent),
            "alert": drill.runbook_alert, "narrative": drill.tabletop.narrative,
            "target": self.target.describe(), "time_factor": self.target.time_factor, "duration_scale": self.scale,
            "started_at": self.started_at, "finished_at": finished_at, "fault": self.fault_state,
            "classification_at": classification_at, "awareness_at": awareness,
            "timeline": sorted(self.timeline, key=lambda e: e["t"]),
            "objectives": self.objectives, "timings": timings, "money": money_impact, "writes_lost_detail": lost_lines[:20],
            "alerts": matrix, "evidence": self.evidence, "roles": roles, "regulatory": regulatory, "series": series,
            "load": {"rate": drill.load.rate, "peak": drill.load.peak.rate if drill.load.peak else None,
                     "started": self.load.stats.started if self.load else 0,
                     "acknowledged": self.load.stats.acknowledged if self.load else 0,
                     "failed": self.load.stats.failed if self.load else 0,
                     "captured": self.load.stats.captured if self.load else 0,
                     "behind": self.load.stats.behind if self.load else 0,
                     "statuses": dict(self.load.stats.statuses) if self.load else {}},
            "pages_source": self.pages_source.source,
            "interrupted": self.interrupted,
            "verdict": verdict,
        }
        return journal

    def _order_objectives(self) -> None:
        order = ["interrupted", "steady_state_before", "halted", "detected", "diagnosed", "mitigated", "recovered",
                 "no_unexpected_pages", "ledger_balanced", "steady_state_after"]
        self.objectives.sort(key=lambda o: order.index(o["name"]) if o["name"] in order else len(order))

    def _money(self, outcomes, injected, cleared) -> tuple[dict, list[str]]:
        settle = 5.0 * self.scale
        start = injected
        end = (cleared or self.window_end or self.clock()) + settle if injected is not None else None
        breaks = self._breaks(self.started_at) if self.db else []
        affected = money.affected_payments(outcomes, start, end, breaks)
        duplicates = money.duplicate_amounts(breaks) if self.db else self._prom_duplicates(self.clock() - self.started_at)
        unreconciled = money.unreconciled_amounts(breaks) if self.db else None  # only the ledger database knows
        acked, acked_captures = money.acknowledged(outcomes)
        lost: list[str] = []
        if self.db is not None:
            try:
                stored, booked = self.db.stored(acked)
                lost = money.writes_lost(acked, acked_captures, stored, booked)
            except Exception as exc:  # noqa: BLE001
                lost = [f"could not check the ledger: {type(exc).__name__}: {exc}"]
        else:
            lost = self._lost_via_api(acked, acked_captures)
        impact = {"payments_affected": len(affected), "duplicate_amount_minor": duplicates,
                  "unreconciled_minor": unreconciled, "writes_lost": len(lost),
                  "acknowledged_payments": len(acked), "acknowledged_captures": len(acked_captures)}
        self.event("note", f"money: {len(affected)} payment(s) affected, duplicates {duplicates or 0}, unreconciled "
                           f"{'not measured (no --db-url)' if unreconciled is None else unreconciled or 0}, "
                           f"writes lost {len(lost)} of {len(acked)} acknowledged")
        return impact, lost

    def _lost_via_api(self, acked: set[str], acked_captures: set[str]) -> list[str]:
        lost = []
        headers = {"authorization": f"Bearer {self.target.payments_token}"}
        for pid in sorted(acked):
            try:
                r = self.http.get(f"{self.target.service.rstrip('/')}/v1/payments/{pid}", headers=headers)
            except httpx.HTTPError as exc:
                lost.append(f"payment {pid}: could not check ({type(exc).__name__})")
                continue
            if r.status_code == 404:
                lost.append(f"payment {pid} acknowledged, not found")
            elif r.status_code == 200 and pid in acked_captures and r.json().get("state") not in ("captured", "refunded"):
                lost.append(f"capture of {pid} acknowledged, payment is {r.json().get('state')}")
        return lost

    def _ledger_objective(self, impact: dict, lost_lines: list[str]) -> None:
        problems = []
        detail = ""
        if self.db is not None:
            try:
                sums = self.db.imbalance()
                off = {c: v for c, v in sums.items() if v != 0}
                if off:
                    problems.append(f"postings do not sum to 0: {off}")
                detail = f"postings sum to 0 in {', '.join(sorted(sums)) or 'every currency'}"
            except Exception as exc:  # noqa: BLE001
                problems.append(f"could not read the ledger: {type(exc).__name__}: {exc}")
        gauge = self.catalog.metric(Key.LEDGER_IMBALANCE_MINOR)
        try:
            series = self.prom.query(f"max by (currency) (abs({gauge}))")
            off = {s.get("currency", "?"): v for s, v in series if v != 0}
            if off:
                problems.append(f"{gauge} is not 0: {off}")
            elif not detail:
                detail = f"{gauge} is 0 in every currency"
        except TargetError as exc:
            if self.db is None:
                problems.append(str(exc))
        if lost_lines:
            problems.append(f"{len(lost_lines)} acknowledged write(s) lost, e.g. {lost_lines[0]}")
        ok = not problems
        self.objective("ledger_balanced", ok, "; ".join(problems) if problems else
                       f"{detail}; all {impact['acknowledged_payments']} acknowledged payments and "
                       f"{impact['acknowledged_captures']} captures are in the ledger")

    def _series(self) -> dict:
        c = self.catalog
        w = format_duration(10 * self.scale)
        auth, req = c.metric(Key.AUTHORIZATIONS_TOTAL), c.metric(Key.PROVIDER_REQUESTS_TOTAL)
        hist = c.metric(Key.AUTHORIZATION_DURATION_SECONDS)
        panels = [("Authorizations by outcome", f"sum by (outcome) (rate({auth}[{w}]))", "reqps"),
                  ("Provider call failure share",
                   f'sum by (provider) (rate({req}{{outcome=~"error|timeout|circuit_open"}}[{w}])) '
                   f"/ sum by (provider) (rate({req}[{w}]))", "percentunit"),
                  ("Authorization latency p99",
                   f"histogram_quantile(0.99, sum by (le, provider) (rate({hist}_bucket[{w}])))", "s")]
        panels += [(p.title, self.q(p.promql), p.unit) for p in self.drill.plots]
        end = self.clock()
        step = max(1.0, round((end - self.started_at) / 300))
        out = {}
        for title, query, unit in panels:
            try:
                points = self.prom.query_range(query, self.started_at, end, step)
            except TargetError as exc:
                self.event("note", f"series {title!r}: {exc}")
                points = {}
            out[title] = {"query": query, "unit": unit, "points": points}
        return out

    def _tabletop(self, roles: list[dict], started_at: float) -> list[dict]:
        from moneypath.drills.tabletop import run_tabletop

        self.event("phase", "tabletop: each role answers its first-hour checkpoint")
        answered = run_tabletop(roles, started_at, ask=self.ask, say=self._say, clock=self.clock,
                                narrative=self.drill.tabletop.narrative)
        for r in answered:
            if r.get("answered_at"):
                self.timeline.append({"t": r["answered_at"], "kind": "answer",
                                      "text": f"{r.get('role')}: {r.get('answered_by') or '?'} answered: "
                                              f"{str(r.get('answer') or '')[:120]}"})
        return answered

    def close(self) -> None:
        self.prom.close()
        self.pages_source.close()
        self.http.close()
        if self.db is not None:
            self.db.close()


# ---------------------------------------------------------------- journal and report


def write_journal(journal: dict, reports_dir: Path) -> Path:
    """reports/<drill>-<YYYYmmdd-HHMMSS>/journal.json, written to a temp file and renamed."""
    stamp = datetime.fromtimestamp(journal["started_at"], UTC).strftime("%Y%m%d-%H%M%S")
    out = reports_dir / f"{journal['drill']}-{stamp}"
    n = 1
    while out.exists():
        n += 1
        out = reports_dir / f"{journal['drill']}-{stamp}-{n}"
    out.mkdir(parents=True)
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".journal.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(journal, f, indent=1, sort_keys=False, allow_nan=False, default=str)
            f.write("\n")
        os.replace(tmp, out / "journal.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out / "journal.json"


def run_drill(drill: Drill, catalog: Catalog, target: Target, reports_dir: Path, say=print,
              interactive: bool = False, ask=input) -> Result:
    run = DrillRun(drill, catalog, target, reports_dir, say, interactive, ask)
    try:
        journal = run.run()
    finally:
        run.close()
    journal = _finite(journal)
    path = write_journal(journal, reports_dir)
    report = str(path)
    try:
        from moneypath.drills.report import render

        report = str(render(journal, path.parent))
    except Exception as exc:  # noqa: BLE001 - the journal is the record; a report can be rendered again
        say(f"           report not rendered ({type(exc).__name__}: {exc}); the journal is {path}")
    say(f"           report: {report}")
    return Result(drill.name, journal["verdict"], journal["timings"], report, journal, run.interrupted)


def _finite(value):
    """NaN and infinities become None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _since(t: float | None, base: float | None) -> float | None:
    return round(t - base, 1) if t is not None and base is not None else None


def _is_page(record: dict) -> bool:
    return (record.get("labels") or {}).get("severity", record.get("severity")) != "ticket"


def _label_text(labels: dict[str, str]) -> str:
    keep = {k: v for k, v in labels.items() if k not in ("alertname", "severity", "service", "money_loss")}
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(keep.items())) + "}" if keep else ""


def _render_series(series: list[tuple[dict, float]], limit: int = 240) -> str:
    if not series:
        return "(empty)"
    parts = []
    for labels, value in series:
        text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
        parts.append(f"{{{text}}} {value:.4g}" if text else f"{value:.4g}")
    out = "; ".join(parts)
    return out if len(out) <= limit else out[:limit - 1] + "…"


def _render_rows(rows: list[dict], limit: int = 240) -> str:
    if not rows:
        return "0 rows"
    first = "; ".join(", ".join(f"{k}={v}" for k, v in row.items()) for row in rows[:3])
    out = f"{len(rows)} row(s): {first}" + (" …" if len(rows) > 3 else "")
    return out if len(out) <= limit else out[:limit - 1] + "…"


def _detail(r: httpx.Response) -> str:
    try:
        return str(r.json().get("detail", ""))[:200]
    except ValueError:
        return r.text[:200]


# ---------------------------------------------------------------- several drills, the local stack


def local_stack(catalog: Catalog, state_dir: Path, say=print):
    """Start a fresh local stack (services, faults, rules compressed by LOCAL_TIME_FACTOR) and a Target for it."""
    import shutil

    from moneypath._common.tokens import issue
    from moneypath.stack import local as stack

    state_dir = state_dir.resolve()
    stack.down(state_dir, progress=lambda *_: None)  # an earlier run interrupted hard
    shutil.rmtree(state_dir, ignore_errors=True)  # fresh history: no pages or alert state from before
    started = time.time()
    state = stack.up(catalog, state_dir, [], fast=True, services=True, faults=True, progress=lambda *_: None,
                     time_factor=LOCAL_TIME_FACTOR)
    secret = stack.read_secrets(state_dir)["token_secret"].encode()
    target = Target(service=state.url("refservice"), prometheus=state.url("prometheus"),
                    providersim=state.url("providersim"), alertmanager=state.url("alertmanager"),
                    pager=state.url("pager"), db_url=f"sqlite:///{state_dir / 'ledger.db'}",
                    payments_token=issue(secret, "drill_merchant", ["payments:write", "payments:read"], ttl_s=3600),
                    admin_token=issue(secret, "drill_operator", ["admin:faults"], ttl_s=3600),
                    started_stack=True, time_factor=LOCAL_TIME_FACTOR)
    _warm_up(target)
    say(f"stack up in {time.time() - started:.1f} s (Prometheus {target.prometheus}, pages {target.pager}/pages; "
        f"rules {LOCAL_TIME_FACTOR}x faster, see moneypath.generate.compress)")
    return target


def _warm_up(target: Target, payments: int = 12) -> None:
    """A few payments one at a time before the drill's clock starts: a fresh service's first requests
    (connection pools, first writes) are slow, and on a history of seconds they alone would burn the latency SLO."""
    headers = {"authorization": f"Bearer {target.payments_token}"}
    with httpx.Client(base_url=target.service, headers=headers, timeout=10) as client:
        for i in range(payments):
            try:
                r = client.post("/v1/payments/authorize", headers={"idempotency-key": f"warm-up-{i}-{time.time()}"},
                                json={"amount_minor": 1000, "currency": "EUR", "provider": ("acme", "globex")[i % 2],
                                      "reference": f"warm-up-{i}"})
                if r.status_code == 201 and r.json().get("state") == "authorized":
                    client.post(f"/v1/payments/{r.json()['id']}/capture",
                                headers={"idempotency-key": f"warm-up-capture-{i}-{time.time()}"})
            except httpx.HTTPError:
                return


def run_drills(drills: list[Drill], catalog: Catalog, reports_dir: Path, target: Target | None = None,
               state_dir: Path = Path(".moneypath/drills"), say=print, interactive: bool = False,
               ask=input) -> list[Result]:
    """Run each drill; without a target each gets its own fresh local stack, stopped afterwards
    (also on Ctrl-C or an error). A stack that does not start fails its drill and the next one runs;
    Ctrl-C ends the drill at hand (journal and report kept) and runs no further one."""
    from moneypath.stack import local as stack

    results = []
    for drill in drills:
        say(f"=== {drill.name}: {drill.title}")
        if target is not None:
            result = run_drill(drill, catalog, target, reports_dir, say, interactive, ask)
        else:
            own = state_dir / drill.name
            try:
                try:
                    local = local_stack(catalog, own, say)
                except Exception as exc:  # noqa: BLE001 - StackError, a port in use...: this drill fails, not the run
                    reason = f"stack did not start: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                    say(f"           {reason}")
                    results.append(Result(drill.name, "fail", {}, reason))
                    continue
                result = run_drill(drill, catalog, local, reports_dir, say, interactive, ask)
            finally:
                stack.down(own.resolve(), progress=lambda *_: None)
        results.append(result)
        if result.interrupted:
            left = len(drills) - len(results)
            if left:
                say(f"interrupted: {left} drill(s) not run")
            break
    return results


def summary_rows(results: list[Result]) -> list[list[str]]:
    def secs(v):
        return "—" if v is None else f"{v:.0f} s"

    return [[r.drill, "INTERRUPTED" if r.interrupted else r.verdict.upper(), secs(r.timings.get("detect_s")),
             secs(r.timings.get("page_s")), secs(r.timings.get("diagnose_s")), secs(r.timings.get("recover_s")),
             r.report] for r in results]


SUMMARY_HEADERS = ["drill", "verdict", "detect", "page", "diagnose", "recover", "report"]


def print_summary(results: list[Result], out=print) -> None:
    """One row per drill; rich's table when the output is a terminal-capable console, plain text otherwise."""
    rows = summary_rows(results)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency; plain text if someone strips it
        Console = None
    if Console is not None and out is print:
        table = Table(title="drills (times from fault injection)")
        for h in SUMMARY_HEADERS:
            table.add_column(h, no_wrap=True)  # a report path stays one line, to copy
        for row in rows:
            style = "green" if row[1] == "PASS" else "red"
            table.add_row(row[0], f"[{style}]{row[1]}[/{style}]", *row[2:])
        needed = sum(max(len(h), *(len(r[i]) for r in rows)) + 3 for i, h in enumerate(SUMMARY_HEADERS)) + 1
        Console(width=max(needed, Console().width)).print(table)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(SUMMARY_HEADERS)]
    out("  ".join(h.ljust(w) for h, w in zip(SUMMARY_HEADERS, widths)))
    for row in rows:
        out("  ".join(c.ljust(w) for c, w in zip(row, widths)))
