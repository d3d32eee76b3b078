"""One drill against a target, phase by phase (DrillRun); each phase a line of progress and a timeline entry:

1. baseline load (payments through the public API) and the steady-state checks;
2. the fault (moneypath.drills.fault_switch), while the watcher (moneypath.drills.watcher) polls every second:
   Prometheus' alerts, the pages (pager or Alertmanager), the fault's declared duration (the fault is
   cleared when it ends), the halt conditions and the blast-radius cap (either clears the fault at once
   and fails the drill); the drill waits for every expected page or its deadline;
3. the runbook's diagnosis steps (moneypath.drills.diagnosis), executed until every one returns the
   evidence the drill expects, or the diagnosis deadline;
4. mitigation (clear the fault unless mitigation.clear_fault is false, remediation calls), then the
   recovery checks until they hold or the recovery deadline, then the steady state again;
5. the ledger and the money impact (moneypath.drills.impact), the key series for the plots
   (moneypath.drills.series), the tabletop when interactive, and the journal (moneypath.drills.journal).

A drill with replica_down (the HA stack only) also kills those monitoring replicas while the fault is on, and
at the end waits for the watchdog to show them, then restarts them (moneypath.drills.replicas).

A drill without a fault runs its peak load instead of 2-4 and checks that nothing pages. A drill whose fault
must page nobody (no expected alert, must_not_page "*": a fault the service should absorb, like a spike it
sheds) holds the fault for the peak's duration (else the fault's) instead of waiting for a page.
Times are wall-clock; the drill file's durations are stretched by `scale` when the target's
rules are less compressed than the local drill stack's (see moneypath.formats.drill).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from moneypath._common.interrupt import Terminated
from moneypath._common.verdict import FAIL, PASS, Check, Outcome, Verdict, register
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key
from moneypath.check import instrumentation_errors
from moneypath.check.drill_files import alert_names
from moneypath.drills import headroom, hooks, impact, tolerance
from moneypath.drills.baseline_load import Load, LoadStats, Mix, major_text
from moneypath.drills.conservation_phase import Conservation
from moneypath.drills.context import TICK_S, DrillContext
from moneypath.drills.diagnosis import Diagnosis
from moneypath.drills.endpoints import Target, TargetError
from moneypath.drills.fault_switch import FaultSwitch
from moneypath.drills.journal import (
    AlertRow,
    Event,
    Journal,
    LoadSummary,
    RegulatoryDue,
    Timings,
    objectives_verdict,
    order_objectives,
)
from moneypath.drills.replicas import ReplicaKills
from moneypath.drills.series import key_series
from moneypath.drills.watcher import Watcher, is_page
from moneypath.formats.drill import Action, CheckSpec, Drill


class DrillRun(DrillContext):
    def __init__(self, drill: Drill, catalog: Catalog, target: Target, say: Callable[[str], None] = print,
                 ask: Callable[[str], str] | None = None, clock=time.time, alerts: dict[str, dict] | None = None):
        """`ask`: who answers the tabletop (input, at a terminal); None runs the drill without one."""
        super().__init__(drill, catalog, target, say, clock)
        self.interactive, self.ask = ask is not None, ask
        # The catalog's generated alerts by name (what pages are judged by, and each one's severity): the runner
        # builds them once per run of several drills, a run alone here.
        self.alerts = alert_names(catalog) if alerts is None else alerts
        self.watcher = Watcher(self, lambda: self.faults.record.injected_at, self.alerts)
        self.conservation = Conservation(self)  # sent against counted: its line makes the rates not data too
        self.counters_not_data = self.conservation.counters_not_data(self.watcher.counters_not_data)
        self.faults = FaultSwitch(self)
        self.replicas = ReplicaKills(self, lambda: self.faults.record.injected_at, lambda: self.faults.active)
        self.diagnosis = Diagnosis(self)
        self.recovered_at: float | None = None
        self.peak_rate = drill.load.peak.rate if drill.load and drill.load.peak else None  # after the headroom probe
        self.window_end: float | None = None  # end of the fault (or peak) window
        self.guard_windows: list[str] = []  # an expected page that did not come: its event floor's window held
        self.floor_short: dict[str, str] = {}  # expected alert -> why the drill's delivered load could not page it
        self.interrupted = False  # Ctrl-C during the phases: the journal covers what happened so far

    def alert_matrix(self) -> list[AlertRow]:
        return self.watcher.alert_matrix(self.faults.record.injected_at)

    def tick(self) -> None:
        """One poll: the replicas due to die (before the watcher reads), alerts and pages, then the fault's end
        time, its halt conditions and its cap."""
        self.replicas.watch()
        try:
            self.watcher.poll(self.clock())
        except TargetError as exc:
            self.event("note", f"watcher: {exc}")
        self.faults.watch()

    # ------------------------------------------------------------ the run

    def run(self) -> dict:
        """The phases, then the journal (as journal.json has it). Whatever ends the phases, the fault is
        cleared, the load stopped and the journal kept."""
        drill = self.drill
        self.event("phase", f"drill {drill.name}: {drill.title} (rehearses {drill.runbook_alert})")
        if self.scale != 1:
            self.event("note", f"the target's rules run {self.target.time_factor:g}x production speed: drill "
                               f"durations and ranges are stretched {self.scale:g}x")
        try:
            self._run_phases()
        except KeyboardInterrupt as exc:
            self.interrupted = True
            how = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
            self.event("note", f"interrupted ({how}): the fault is cleared; the journal and report keep what "
                               "happened so far")
            self.objective("interrupted", False, f"the drill was interrupted ({how}) before it finished")
        except (TargetError, httpx.HTTPError) as exc:
            self.event("note", f"drill stopped: {exc}")
            self.objective("runner", False, f"the drill could not continue: {exc}")
        except Exception as exc:  # noqa: BLE001 - a bug must not leave a fault in place or lose the journal
            self.event("note", f"drill stopped by an error: {type(exc).__name__}: {exc}")
            self.objective("runner", False, f"the runner failed: {type(exc).__name__}: {exc}")
        finally:
            self.faults.clear("cleanup")  # nothing to do unless the fault is still on
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - best effort: the target may be gone
                pass
            if self.load is not None:
                self.load.stop()
            if self.replicas.killed:
                self._settle_replicas()
        return self.finish()

    def _settle_replicas(self) -> None:
        """The watchdog's view of the dead replica, then the stack whole again (also after Ctrl-C, without the wait)."""
        try:
            self.replicas.settle(wait=not self.interrupted)
        except KeyboardInterrupt:
            self.interrupted = True
            self.replicas.settle(wait=False)
        except Exception as exc:  # noqa: BLE001 - the journal must still be written; restored fails below
            self.event("note", f"replicas not settled: {type(exc).__name__}: {exc}")

    def _run_phases(self) -> None:
        drill = self.drill
        peak = self._peak_after_headroom()
        baseline_from = self.clock()
        self._start_load()
        self.sleep_ticking(self.s(drill.load.baseline))
        self.conservation.stretch("baseline", baseline_from)
        self._instrumentation_note()
        if not self.steady_state("steady_state_before"):
            self.event("note", "the steady state does not hold: no fault injected (fix the baseline first)")
            return
        if drill.fault is None:
            if peak is not None:
                self._peak_only(peak)
            return
        if drill.fault.after:
            self.sleep_ticking(self.s(drill.fault.after))
        self.faults.inject()
        injected = self.faults.record.injected_at
        if already := self.watcher.already_firing():
            self.event("note", f"steady state not clean: already firing before the fault: {', '.join(already)} "
                               "(their pages before it are not its detection)")
        if drill.load.peak:
            self.load.set_rate(drill.load.peak.rate)
            self.event("load", f"load raised to {drill.load.peak.rate:g} payments/s")
        if drill.alerts.expected:
            longest = max(self.page_deadline(e.page_within) for e in drill.alerts.expected)
            self.event("phase", f"waiting for {len(drill.alerts.expected)} expected page(s) (deadline up to "
                                f"{longest:.0f} s)")
            self.sleep_ticking(max(0.0, min(injected + longest, self.faults.end) - self.clock()),
                               until=lambda: self.watcher.all_expected_paged() or not self.faults.active)
            if not self.watcher.all_expected_paged():
                self._guard_windows()
        else:  # the service must absorb the fault: hold it (and the peak) and watch that nothing pages
            hold = self.s(drill.load.peak.duration if drill.load.peak else drill.fault.duration)
            self.event("phase", f"holding the fault {hold:.0f} s: nothing may page")
            self.sleep_ticking(max(0.0, min(injected + hold, self.faults.end) - self.clock()),
                               until=lambda: not self.faults.active)
        self.conservation.stretch("fault", injected)
        self.diagnosis.run(self.watcher.first_expected_page())
        self.tick()  # the fault's end time, the halt conditions and the cap, once more before mitigating
        mitigated_at = self.mitigate()
        self.event("phase", f"recovery: checks must hold within {self.s(drill.recovery.within):.0f} s")
        self._recover(mitigated_at)
        self.steady_state("steady_state_after")

    def _guard_windows(self) -> None:
        """An expected page that did not come: what its alert's event floor saw, the events its compressed window
        held at the deadline (moneypath.drills.event_guards), in the timeline and the `detected` reason."""
        from moneypath.drills import floor_reach
        from moneypath.drills.event_guards import held_counts

        missing = [e for e in self.drill.alerts.expected
                   if not set(self.watcher.expected_receivers(e.alert, e.receivers))
                   <= {p.get("receiver") for p in self.watcher.detecting_pages(e.alert, e.labels)}]
        found = held_counts(self.drill, self.catalog, self.target.time_factor, missing, self.prom.query)
        self.guard_windows = list(dict.fromkeys(h.line for h in found))
        for line in self.guard_windows:
            self.event("note", line)
        if found and self.load is not None:  # what the drill delivered: did it bring the floors? (floor_reach)
            got = floor_reach.delivered(self.load.snapshot(), self.load.rate, self.faults.record.injected_at,
                                        self.clock())
            self.floor_short = floor_reach.unreached(self.drill, found, got, self.drill.load.requests.name)
            for line in self.floor_short.values():
                self.event("note", line)

    def _start_load(self) -> None:
        spec = self.drill.load
        mix = Mix(spec.providers, spec.currencies, dict(spec.methods), *spec.amount_range, spec.capture)
        self.load = self.conservation.track(Load(self.target.services, self.api_headers(), spec.requests, mix,
                                                 spec.rate, major_text(self.catalog), spec.in_flight_cap,
                                                 prefix=f"drill-{self.drill.name}"))
        self.load.start()
        steps = spec.requests.steps
        flow = f"; each {len(steps)} steps: {' → '.join(s.name for s in steps)}" if len(steps) > 1 else ""
        self.event("load", f"baseline load: {spec.rate:g} {spec.requests.name}s/s ({', '.join(spec.providers)}; "
                           f"{spec.capture:.0%} captured; at most {spec.in_flight_cap} in flight{flow}) "
                           f"for {self.s(spec.baseline):.0f} s")

    def poll_checks(self, checks: list[CheckSpec], within: float) -> tuple[bool | None, str, float | None]:
        """Poll until every check holds or `within` runs out: (True, False, or None when it rests on a check
        that measured nothing and says `if_not_measured: fail`; reason; when it held)."""
        deadline = self.clock() + within
        while True:
            ok, reason = judge_checks([(c, *self.run_check(c)) for c in checks])
            if ok:
                return True, reason, self.clock()
            if self.clock() >= deadline:
                return ok, f"{reason} (still after {within:.0f} s)", None
            self.sleep_ticking(TICK_S)

    def _instrumentation_note(self) -> None:
        """Before the fault: a target that counted instrumentation errors records what the drill reads wrongly or
        not at all (moneypath.check.instrumentation_errors); named in the timeline, once."""
        window = f"{max(60.0, self.clock() - self.started_at):.0f}s"
        try:
            found = instrumentation_errors.counted(self.prom.query, self.catalog, window)
        except TargetError:
            return  # the checks say Prometheus did not answer
        check = instrumentation_errors.judge(found, self.catalog.metric(Key.INSTRUMENTATION_ERRORS_TOTAL), window)
        if check.outcome is FAIL:
            self.event("note", f"instrumentation errors before the fault: {check.why}", dict(check.figures))

    def steady_state(self, name: str) -> bool:
        ok, reason, _ = self.poll_checks(self.drill.steady_state, self.s(self.drill.steady_state_within))
        self.objective(name, ok, ("holds: " if ok else "does not hold: " if ok is False else "") + reason)
        self.event("check", f"steady state {'holds' if ok else 'DOES NOT hold' if ok is False else 'NOT MEASURED'}"
                            f"{'' if ok else ': ' + reason}", {"ok": ok, "reason": reason})
        return bool(ok)

    def mitigate(self) -> float:
        """Clear the fault (unless mitigation.clear_fault is false: then it stays until its duration ends or the
        drill finishes) and call the remediation actions; the "mitigated" objective; returns when it was done."""
        mitigation = self.drill.mitigation
        self.event("phase", "mitigation")
        mitigated = True
        reasons = []
        if mitigation.clear_fault:
            if self.faults.active:
                mitigated &= self.faults.clear("mitigation")
            reasons.append("fault cleared" if mitigated else "the fault could not be cleared")
        elif self.faults.active:
            left = max(0.0, (self.faults.end or self.clock()) - self.clock())
            reasons.append(f"fault left on (mitigation.clear_fault: false): it ends with its duration, in {left:.0f} s")
        for action in mitigation.actions:
            ok, text = self.act(action)
            mitigated &= ok
            reasons.append(text)
        mitigated_at = self.clock()
        self.window_end = self.phase_at = mitigated_at  # recovery and the steady state after: judged from here
        self.objective("mitigated", mitigated, "; ".join(reasons) or "nothing to do")
        return mitigated_at

    def act(self, action: Action) -> tuple[bool, str]:
        """A remediation call; ok when it answers one of the statuses the drill expects."""
        if action.url:
            ok, detail = hooks.call(self.http, action.method, action.url, action.headers, action.json_body,
                                    action.expect_status)
        else:
            base = getattr(self.target, action.where)
            if not base:
                return False, f"{action.name}: no {action.where} target"
            ok, detail = hooks.call(self.http, action.method, f"{base.rstrip('/')}{action.path}",
                                    self.admin_headers() | action.headers, action.json_body, action.expect_status)
        text = f"{action.name}: {detail}"
        self.event("mitigation", text, {"ok": ok})
        return ok, text

    def _recover(self, mitigated_at: float) -> None:
        rec = self.drill.recovery
        within = self.s(rec.within)
        ok, reason, when = self.poll_checks(rec.checks, within)
        if ok and rec.alerts_resolved:
            left = mitigated_at + within - self.clock()
            self.sleep_ticking(max(0.0, left), until=self.watcher.expected_resolved)
            if not self.watcher.expected_resolved():
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
            self.objective("recovered", ok, reason)
        self.event("check", f"recovery {'holds' if ok else 'FAILED'}: {reason[:160]}", {"ok": ok})

    def _peak_after_headroom(self) -> float | None:
        """The peak's rate once the target's headroom is measured (moneypath.drills.headroom); None: not
        measured, and the drill stops after the baseline. A team's target is probed only when asked."""
        load = self.drill.load
        if load.peak is None or load.peak.headroom is None:
            return load.peak.rate if load.peak else None
        if not (self.target.started_stack or self.target.probe_headroom):
            self.event("note", "headroom not probed (a team's target: --probe-headroom): the peak runs as written")
            return load.peak.rate
        mix = Mix(load.providers, load.currencies, dict(load.methods), *load.amount_range, load.capture)
        self.event("load", f"headroom probe: {load.peak.rate * (1 + load.peak.headroom.spare):g} payments/s for "
                           f"{load.peak.headroom.probe:g} s, at most {load.peak.headroom.in_flight} in flight")
        result = headroom.probe(lambda rate, cap: self.conservation.track(Load(
                                    self.target.services, self.api_headers(), load.requests, mix, rate,
                                    major_text(self.catalog), cap, prefix=f"drill-{self.drill.name}-probe")),
                                load.peak.rate, load.peak.headroom,
                                reconcile=lambda start: self.conservation.stretch("headroom", start))
        decided = headroom.plan(result, load.peak.rate, load.rate, load.peak.headroom)
        self.event("check", decided.reason, {"asked": result.asked, "served": result.served,
                                             "refused": result.refused, "peak": decided.rate})
        self.objective("headroom", True if decided.rate is not None else None, decided.reason)
        self.peak_rate = decided.rate
        return decided.rate

    def _peak_only(self, rate: float) -> None:
        peak = self.drill.load.peak
        self.load.set_rate(rate)
        self.event("load", f"peak load: {rate:g} payments/s for {self.s(peak.duration):.0f} s; nothing may page")
        peak_from = self.clock()
        self.sleep_ticking(self.s(peak.duration))
        self.conservation.stretch("peak", peak_from)
        self.diagnosis.run(self.watcher.first_expected_page())
        self.window_end = self.clock()
        self.load.set_rate(self.drill.load.rate)
        self.event("load", f"back to {self.drill.load.rate:g} payments/s")
        self.steady_state("steady_state_after")

    # ------------------------------------------------------------ the end: verdicts, tabletop, journal

    def finish(self) -> dict:
        """The objectives that need the whole run, the timings, the tabletop, the regulatory clocks, the
        verdict: the journal, as journal.json has it."""
        drill = self.drill
        outcomes = self.load.snapshot() if self.load else []
        injected, cleared = self.faults.record.injected_at, self.faults.record.cleared_at
        matrix = self.alert_matrix()
        self._judge_pages(matrix, injected)
        ha = self.replicas.judge(self.watcher.pages, self._expected_for)
        if self.faults.record.halted:
            self.objective("halted", False, f"the drill was stopped: {self.faults.record.halted}")
        money_impact, lost_lines = impact.money_impact(self, outcomes, injected, cleared, self.window_end)
        impact.ledger_objective(self, money_impact, lost_lines, outcomes)
        order_objectives(self.objectives)
        first_firing = min((r.first_firing_at for r in matrix if r.expectation == "expected"
                            and r.first_firing_at), default=None)
        classification_at = self.watcher.first_expected_page()
        timings = Timings(detect_s=_since(first_firing, injected), page_s=_since(classification_at, injected),
                          diagnose_s=_since(self.diagnosis.diagnosed_at, injected),
                          recover_s=_since(self.recovered_at, injected))
        series = self.conservation.mark_series(key_series(self))
        finished_at = self.clock()
        roles = self._roles(classification_at or injected or self.started_at)
        awareness = first_firing or classification_at
        regulatory = regulatory_clocks(drill, classification_at, awareness)
        settled = ((cleared or self.window_end or finished_at) + 5.0 * self.scale) if injected is not None else None
        traffic = tolerance.DrillTraffic(outcomes, finished_at - self.started_at, self.target.time_factor,
                                         amounts_known=drill.load.amounts is not None)
        scenario = tolerance.impact(self.catalog, drill.business_service, traffic, injected, settled)
        verdict = objectives_verdict(self.objectives)
        self.event("phase", f"verdict: {verdict.upper()}")
        return Journal(
            drill=drill.name, file=drill.path, title=drill.title, runbook=drill.runbook_page,
            root=str(Path(self.catalog.path).resolve().parent), alert=drill.runbook_alert,
            narrative=drill.tabletop.narrative, target=self.target.describe(), time_factor=self.target.time_factor,
            duration_scale=self.scale, started_at=self.started_at, finished_at=finished_at, fault=self.faults.record,
            classification_at=classification_at, awareness_at=awareness, already_firing=self.watcher.already_firing(),
            timeline=sorted(self.timeline, key=lambda e: e.t), objectives=self.objectives, timings=timings,
            money=money_impact, writes_lost_detail=lost_lines[:20], alerts=matrix, evidence=self.diagnosis.steps,
            roles=roles, regulatory=regulatory, series=series,
            load=LoadSummary.of(drill.load.rate, self.peak_rate,
                                self.load.stats if self.load else LoadStats(),  # no load started: all 0
                                drill.load.requests.name, drill.load.in_flight_cap,
                                acknowledged=money_impact.acknowledged_payments),
            conservation=self.conservation.records,
            pages_source=self.pages_source.source, interrupted=self.interrupted, verdict=verdict,
            controls=list(drill.controls), ha=ha, impact=scenario,
        ).to_dict()

    def _expected_for(self, page: dict):
        """The drill's expected alert a page record answers, or None."""
        labels = page.get("labels") or {}
        return next((e for e in self.drill.alerts.expected if e.alert == page.get("alertname")
                     and all(labels.get(k) == v for k, v in e.labels.items())), None)

    def _judge_pages(self, matrix: list[AlertRow], injected: float | None) -> None:
        """detected (when a fault was injected and alerts are expected) and no_unexpected_pages."""
        not_data = self.counters_not_data()  # alerts on rates that are not data: neither pass nor fail
        unread = self.pages_source.unread()  # a page missed is not a page not sent: neither pass nor fail
        if self.drill.alerts.expected and injected is not None:
            bad = [r for r in matrix if r.expectation == "expected" and not r.ok]
            held = f"; {'; '.join(self.guard_windows)}" if bad and self.guard_windows else ""
            short = [self.floor_short[r.alert] for r in bad if r.alert in self.floor_short]
            gone = not_data or (unread if bad else None) or (
                bad and len(short) == len(bad)  # the drill did not bring the floor (floor_reach)
                and "; ".join(s.removeprefix("not measured: ") for s in short))
            self.objective("detected", None if gone else not bad,
                           f"not measured: {gone}" if gone else f"{bad[0].alert}: {bad[0].reason}{held}" if bad else
                           f"every expected alert paged its receivers in time ({len(self.drill.alerts.expected)})")
        unexpected = [r for r in matrix if r.expectation in ("must_not_page", "unexpected") and not r.ok]
        firing = self.watcher.firing_pages()
        tickets = sum(1 for p in firing if not is_page(p))
        not_data = self.counters_not_data() or (unread if not unexpected else None)
        self.objective("no_unexpected_pages", None if not_data else not unexpected,
                       f"not measured: {not_data}" if not_data else
                       "; ".join(f"{r.alert}: {r.reason}" for r in unexpected) if unexpected else
                       f"nothing paged that should not ({len(firing) - tickets} page(s) and {tickets} ticket(s) "
                       "in all)")

    def _roles(self, clock_base: float) -> list[dict]:
        """The journal's roles: the cards as drilled (answered at the tabletop when interactive)."""
        roles = [{"role": role, "checkpoint": card.checkpoint, "due_s": card.due, "answered_by": None, "answer": None,
                  "answered_at": None, "ok": None} for role, card in self.drill.tabletop.roles.items()]
        if self.interactive and not self.interrupted:
            roles = self._tabletop(roles, clock_base)
            missed = [r["role"] for r in roles if r.get("ok") is False]
            self.objective("tabletop", not missed,
                           f"checkpoint not met or late: {', '.join(missed)}" if missed else
                           f"every role met its first-hour checkpoint ({len(roles)})")
        return roles

    def _tabletop(self, roles: list[dict], started_at: float) -> list[dict]:
        from moneypath.drills.tabletop import run_tabletop  # imports the report, and with it matplotlib

        self.event("phase", "tabletop: each role answers its first-hour checkpoint")
        answered = run_tabletop(roles, started_at, ask=self.ask, say=self.say, clock=self.clock,
                                narrative=self.drill.tabletop.narrative)
        for r in answered:
            if r.get("answered_at"):
                self.timeline.append(Event(t=r["answered_at"], kind="answer",
                                           text=f"{r.get('role')}: {r.get('answered_by') or '?'} answered: "
                                                f"{str(r.get('answer') or '')[:120]}"))
        return answered


def regulatory_clocks(drill: Drill, classification_at: float | None, awareness: float | None) -> list[RegulatoryDue]:
    """When each regulatory notification is due: hours from the classification or from awareness."""
    out = []
    for clock in drill.tabletop.regulatory:
        start = classification_at if clock.start == "classification" else awareness
        out.append(RegulatoryDue(regime=clock.regime,
                                 basis=f"{clock.hours:g} h from {clock.start}" if clock.hours else "no fixed deadline",
                                 due_at=start + clock.hours * 3600 if clock.hours and start else None,
                                 applies=clock.applies))
    return out


def _since(t: float | None, base: float | None) -> float | None:
    return round(t - base, 1) if t is not None and base is not None else None


def judge_checks(results: list[tuple[CheckSpec, bool | None, str]]) -> tuple[bool | None, str]:
    """One round of steady-state or recovery checks, each (check, ok, reason): True when every check holds (a
    check with `if_not_measured: pass` that measured nothing is skipped: named, never a pass); else False with
    the first failure, or None (not measured) with the first check that measured nothing and fails on it, or
    when no check held (none to run, or every one skipped: nothing is evidence)."""
    outcome = Verdict(tuple(Check(name=c.name, outcome=Outcome.of(ok), if_not_measured=c.if_not_measured)
                            for c, ok, _ in results)).outcome
    if outcome is PASS:
        return True, "; ".join(f"{c.name}: {reason}{' (skipped)' if ok is None else ''}" for c, ok, reason in results)
    first = next(((c, reason) for c, ok, reason in results if ok is False), None) or next(
        ((c, reason) for c, ok, reason in results if ok is None and c.if_not_measured == "fail"), None)
    if first is not None:
        return (False if outcome is FAIL else None), f"{first[0].name}: {first[1]}"
    if not results:
        return None, "not measured: no check to run"
    return None, "not measured: every check measured nothing (skipped: " + "; ".join(
        f"{c.name}: {reason}" for c, _, reason in results) + ")"


register("drills.checks", judge_checks)
