"""Half the monitoring down mid-incident: a drill's replica_down on the HA stack (`MONEYPATH_HA=1 moneypath drill run`).

While the fault is on, at each kill's `after`, the named part of the stack (from its stack.json: the stack
the drill started, never a process found by name) is SIGKILLed like a crash. The drill keeps reading
Prometheus from the surviving replica, and polls the pager's watchdog: the dead replica's heartbeat must
stop (the pager marks it late) while the other one's goes on. At the end the runner waits, bounded, for
the watchdog to show it, then restarts each killed part with the flags `up` gave it and waits for it to be
ready (and, for a Prometheus, for its heartbeat to come back), so the stack is whole again; a part that
does not come back is said in the report with the command that brings it back.

The judgement: every kill happened mid-incident (replica_down); no alert group was notified twice with the
same content within the repeat interval (paged_once: a duplicate from the pair fails the drill); each
expected page within its single-stack deadline (page_within) plus one evaluation interval (detected, through
DrillContext.page_slack_s); the watchdog showed the dead replica (watchdog); the stack whole again (restored).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from moneypath.catalog import duration_seconds
from moneypath.catalog.conventions import HA_REPLICAS
from moneypath.drills.context import DrillContext
from moneypath.drills.endpoints import DrillPrometheus
from moneypath.drills.journal import GroupPages, HaRecord, HeartbeatReading, ReplicaRecord
from moneypath.drills.watcher import label_text
from moneypath.generate.routing import FAST, RoutingTimings
from moneypath.stack import local as stack
from moneypath.stack.state import replica_part

# Why a pair may notify twice when a node dies: said with the failure, so the team knows what it saw.
AT_LEAST_ONCE = ("; Alertmanager's cluster delivers at least once: a node killed right after it notified, before it "
                 "gossiped that to its peer, leaves the peer to notify again (the drill killed one while a "
                 "notification was in flight)")
REPEAT_MARGIN = 0.9  # Alertmanager repeats a notification no sooner than its repeat interval; a receive-time jitter


class ReplicaKills:
    def __init__(self, ctx: DrillContext, injected_at: Callable[[], float | None], fault_on: Callable[[], bool]):
        self.ctx, self.injected_at, self.fault_on = ctx, injected_at, fault_on
        self.records = [ReplicaRecord(component=k.component, replica=k.replica, part=_part(k.component, k.replica),
                                      after_s=ctx.s(k.after)) for k in ctx.drill.replica_down]
        self.state = None
        if self.records and ctx.target.stack_dir:
            self.state = stack.load_state(Path(ctx.target.stack_dir))
        self.evaluation_s = duration_seconds(self.state.evaluation_interval) if self.state else 0.0
        timings = FAST if self.state is not None and self.state.fast else RoutingTimings()
        self.repeat_s = duration_seconds(timings.page_repeat_interval)
        self.watchdog_timeout_s: float | None = None
        self.survivor_late: dict[str, float] = {}  # replica → when its heartbeat went late though it was not killed
        if self.records:
            ctx.page_slack_s = self.evaluation_s  # one evaluation interval: what losing a replica may cost a page

    @property
    def killed(self) -> list[ReplicaRecord]:
        return [r for r in self.records if r.killed_at is not None]

    # ------------------------------------------------------------ every tick

    def watch(self) -> None:
        """Kill what is due while the fault is on; then follow the heartbeats at the pager."""
        injected = self.injected_at()
        now = self.ctx.clock()
        for rec in self.records:
            if rec.killed_at is None and rec.error is None and injected is not None and now >= injected + rec.after_s:
                if self.fault_on():
                    self._kill(rec)
                else:
                    rec.error = (f"the incident was over (the fault cleared) before the kill at "
                                 f"T+{rec.after_s:.0f} s: make replica_down.after shorter")
        if self.killed:
            self._poll_watchdog(now)

    def _kill(self, rec: ReplicaRecord) -> None:
        ctx = self.ctx
        if self.state is None or not self.state.ha:
            rec.error = "the drill's stack is not the HA pair (MONEYPATH_HA=1 moneypath drill run)"
            ctx.event("note", f"replica_down: {rec.component} {rec.replica} not killed: {rec.error}")
            return
        at = ctx.clock()  # SIGKILL goes now; kill_part returns once the process is gone
        try:
            part = stack.kill_part(Path(self.state.state_dir), rec.part)
        except stack.StackError as exc:
            rec.error = str(exc)
            ctx.event("note", f"replica_down: {rec.part} not killed: {exc}")
            return
        rec.pid, rec.killed_at = part.pid, at
        ctx.event("replica", f"KILLED {rec.component} replica {rec.replica} ({rec.part}, pid {part.pid}) mid-incident",
                  {"part": rec.part, "pid": part.pid}, t=at)
        self._read_from_survivor(part.url, rec)

    def _read_from_survivor(self, dead_url: str, rec: ReplicaRecord) -> None:
        """The drill's own reading must not die with the replica: Prometheus queries (and Alertmanager, when it
        is the page source) go to the other one from now on."""
        ctx = self.ctx
        other = next(p for p in self.state.parts if p.name == _part(rec.component, _other(rec.replica)))
        if rec.component == "prometheus" and ctx.prom.url == dead_url.rstrip("/"):
            ctx.prom.close()
            ctx.prom = DrillPrometheus(other.url)
            ctx.event("note", f"the drill reads Prometheus replica {_other(rec.replica)} ({other.url}) from now on")
        elif rec.component == "alertmanager" and ctx.pages_source.alertmanager == dead_url.rstrip("/"):
            ctx.pages_source.alertmanager = other.url.rstrip("/")

    def _poll_watchdog(self, now: float) -> None:
        beat = self._watchdog()
        if beat is None:
            return
        self.watchdog_timeout_s = beat.get("timeout_s")
        replicas = beat.get("replicas") or {}
        dead = {r.replica for r in self.killed if r.component == "prometheus"}
        for rec in self.killed:
            if rec.component != "prometheus" or rec.replica not in replicas:
                continue
            seen = replicas[rec.replica]
            last = now - float(seen.get("age_s") or 0)
            if rec.restarted_at is None:
                # max: Alertmanager keeps sending a dead replica's heartbeat until the alert's endsAt passes
                rec.last_beat_at = last if rec.last_beat_at is None else max(rec.last_beat_at, last)
                if seen.get("status") == "late" and rec.late_at is None:
                    rec.late_at = now
                    self.ctx.event("watchdog", f"WATCHDOG: no heartbeat from Prometheus replica {rec.replica} for "
                                               f"{seen.get('age_s')} s: the pager shows it late")
            elif last > rec.restarted_at and rec.beat_again_at is None:
                rec.beat_again_at = now
                self.ctx.event("watchdog", f"heartbeat from Prometheus replica {rec.replica} again after its restart")
        for name, seen in replicas.items():
            if name not in dead and seen.get("status") == "late" and name not in self.survivor_late:
                self.survivor_late[name] = now
                self.ctx.event("watchdog", f"WATCHDOG: replica {name}, which was not killed, went silent too")

    def _watchdog(self) -> dict | None:
        if not self.ctx.target.pager:
            return None
        try:
            r = self.ctx.http.get(f"{self.ctx.target.pager.rstrip('/')}/watchdog", timeout=5)
            r.raise_for_status()
            return r.json()
        except (httpx.HTTPError, ValueError):
            return None  # a pager that does not answer once is the watcher's to report

    # ------------------------------------------------------------ the end of the drill

    def settle(self, wait: bool = True) -> None:
        """Give the watchdog its timeout to show each dead Prometheus (unless `wait` is False: Ctrl-C), then
        restart what was killed, so the stack is whole again."""
        ctx = self.ctx
        dead_proms = [r for r in self.killed if r.component == "prometheus"]
        if wait and dead_proms and ctx.target.pager:
            self._poll_watchdog(ctx.clock())
            timeout = self.watchdog_timeout_s or 0.0
            # Alertmanager sends the dead replica's heartbeat until its alert's endsAt, then the next repeat
            # leaves it out: its last beat comes up to a timeout after the kill, late a timeout after that
            until = max(r.killed_at for r in dead_proms) + 2 * timeout
            if any(r.late_at is None for r in dead_proms) and until > ctx.clock():
                ctx.event("phase", f"waiting up to {until - ctx.clock():.0f} s for the watchdog to show the dead "
                                   f"replica (late after {timeout:g} s without its heartbeat)")
                ctx.sleep_ticking(until - ctx.clock(), until=lambda: all(r.late_at for r in dead_proms))
        for rec in self.killed:
            try:
                stack.restart_part(Path(self.state.state_dir), rec.part)
            except stack.StackError as exc:
                rec.error = f"not restarted: {exc}"
                rec.restore = (f"moneypath down --state-dir {self.state.state_dir}, then moneypath up --ha again "
                               f"(the {rec.part} log: {Path(self.state.state_dir) / 'logs' / (rec.part + '.log')})")
                ctx.event("note", f"{rec.part} did not come back: {exc}")
                continue
            rec.restarted_at = ctx.clock()
            ctx.event("replica", f"restarted {rec.component} replica {rec.replica} ({rec.part}): ready again")
        back = [r for r in self.killed if r.component == "prometheus" and r.restarted_at]
        if wait and back and ctx.target.pager:
            ctx.sleep_ticking(self.watchdog_timeout_s or 0.0, until=lambda: all(r.beat_again_at for r in back))

    # ------------------------------------------------------------ judgement

    def judge(self, pages: list[dict], expected_for: Callable[[dict], object]) -> HaRecord | None:
        """The objectives of a drill with replica_down, and what the report shows of it; None without one.
        `expected_for(record)` is the drill's expected alert a page record answers, or None."""
        if not self.records:
            return None
        ctx, injected = self.ctx, self.injected_at()
        for rec in self.records:
            if rec.killed_at is None and rec.error is None:
                rec.error = "the fault was never injected" if injected is None else "the drill ended before it"
        missed = [r for r in self.records if r.killed_at is None]
        ctx.objective("replica_down", not missed,
                      "; ".join(f"{r.component} {r.replica} NOT killed: {r.error}" for r in missed) if missed else
                      "; ".join(f"{r.component} replica {r.replica} killed T+{r.killed_at - injected:.0f} s (pid "
                                f"{r.pid})" for r in self.records))
        groups = self._groups(pages, injected, expected_for)
        doubled = [g for g in groups if g.duplicates]
        expected = [g for g in groups if g.expected]
        ctx.objective("paged_once", not doubled,
                      "; ".join(f"{g.alert}{label_text(g.labels)} → {g.receiver}: the same notification again "
                                f"{len(g.duplicates)} time(s) within the repeat interval (a duplicate from the pair)"
                                for g in doubled) + (AT_LEAST_ONCE if any(
                                    r.component == "alertmanager" for r in self.killed) else "") if doubled else
                      "; ".join(f"{g.alert}{label_text(g.labels)} → {g.receiver}: paged once" for g in expected)
                      or "no alert group was notified twice")
        heartbeats = self._heartbeats()
        if heartbeats:
            ctx.objective("watchdog", all(h.ok for h in heartbeats.values()),
                          "; ".join(f"replica {name}: {h.text}" for name, h in heartbeats.items()))
        down = [r for r in self.killed if r.restarted_at is None]
        ctx.objective("restored", not down,
                      "; ".join(f"{r.part} is DOWN: {r.error}; bring it back: {r.restore}" for r in down) if down else
                      "; ".join(f"{r.part} restarted and ready" + (
                          f", its heartbeat back {r.beat_again_at - r.restarted_at:.0f} s later" if r.beat_again_at
                          else "") for r in self.killed) or "nothing was killed")
        return HaRecord(evaluation_interval_s=self.evaluation_s, repeat_interval_s=self.repeat_s, kills=self.records,
                        groups=groups, watchdog_timeout_s=self.watchdog_timeout_s, heartbeats=heartbeats)

    def _groups(self, pages: list[dict], injected: float | None, expected_for) -> list[GroupPages]:
        """Per alert group and receiver: its notifications, and those that repeat the one before them sooner
        than Alertmanager's repeat interval could (what a pair without dedup sends)."""
        notifications: dict[tuple[str, str], dict[float, set]] = {}
        first: dict[tuple[str, str], dict] = {}
        for p in pages:
            key = (str(p.get("group_key") or f"{p.get('alertname')}{label_text(p.get('labels') or {})}"),
                   str(p.get("receiver")))
            t = float(p.get("received_at") or 0)
            notifications.setdefault(key, {}).setdefault(t, set()).add(
                (p.get("fingerprint") or tuple(sorted((p.get("labels") or {}).items())), p.get("status", "firing")))
            if p.get("status", "firing") == "firing":
                first.setdefault(key, p)
        out = []
        for key, sent in notifications.items():
            if key not in first:
                continue  # only resolves: their page came before the drill
            duplicates, last = [], None
            for t in sorted(sent):
                if last is not None and sent[t] == sent[last] and t - last < self.repeat_s * REPEAT_MARGIN:
                    duplicates.append(t)
                last = t
            page = first[key]
            labels = {k: v for k, v in (page.get("labels") or {}).items() if k not in ("alertname", "severity",
                                                                                       "service", "money_loss")}
            exp = expected_for(page)
            firing = sum(1 for alerts in sent.values() if any(status == "firing" for _, status in alerts))
            row = GroupPages(alert=str(page.get("alertname")), labels=labels, receiver=key[1], group=key[0],
                             firing=firing, duplicates=duplicates, expected=exp is not None)
            if exp is not None and injected is not None:
                times = [t for t, alerts in sent.items() if t >= injected and any(s == "firing" for _, s in alerts)]
                row.paged_s = round(min(times) - injected, 1) if times else None
                row.single_stack_s = self.ctx.s(exp.page_within)
                row.allowed_s = row.single_stack_s + self.evaluation_s
            out.append(row)
        return sorted(out, key=lambda g: (not g.expected, g.alert, g.receiver))

    def _heartbeats(self) -> dict[str, HeartbeatReading]:
        """Per Prometheus replica: a killed one's heartbeat must have stopped (late at the pager), the other's
        must not. Empty without a pager to ask."""
        if self.watchdog_timeout_s is None:
            return {}
        injected = self.injected_at() or 0.0
        out = {}
        dead = {r.replica: r for r in self.killed if r.component == "prometheus"}
        for name in HA_REPLICAS:
            rec = dead.get(name)
            if rec is not None:
                ok = rec.late_at is not None
                text = (f"killed T+{rec.killed_at - injected:.0f} s; its last heartbeat "
                        + (f"T+{rec.last_beat_at - injected:.0f} s" if rec.last_beat_at else "unknown")
                        + (f"; the pager showed it late T+{rec.late_at - injected:.0f} s (timeout "
                           f"{self.watchdog_timeout_s:g} s)" if ok else
                           f"; the pager never showed it late (timeout {self.watchdog_timeout_s:g} s)"))
            elif name in self.survivor_late:
                late = self.survivor_late[name] - injected
                ok, text = False, f"not killed, but its heartbeat stopped too (late T+{late:.0f} s)"
            else:
                ok, text = True, "kept beating" + (" (through the surviving Alertmanager)" if any(
                    r.component == "alertmanager" for r in self.killed) else "")
            out[name] = HeartbeatReading(ok=ok, text=text)
        return out


def _part(component: str, replica: str) -> str:
    try:
        return replica_part(component, replica)
    except stack.StackError:
        return f"{component}-{replica}"  # the drill-file check refuses it before a run


def _other(replica: str) -> str:
    return next(r for r in HA_REPLICAS if r != replica)
