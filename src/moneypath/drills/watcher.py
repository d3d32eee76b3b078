"""The watcher: Prometheus' alerts and the pages on-call got (pager or Alertmanager), polled every tick of a
drill, and what they add up to: when each alert first fired, paged and resolved, whether every expected
page reached its receivers, and the alert matrix the drill is judged on.

An alert already firing (or paged) before the fault was injected is the steady state not being clean, not
the fault's detection: `already_firing` names them, and only pages that arrive once the fault is on count
as detecting it.

A target whose counters go backwards (several workers behind one port without multiprocess mode,
moneypath.check.counter_resets) makes every rate, and every alert on rates, not data: `counters_not_data`
names it, for the checks and objectives that read rates to be not measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from moneypath.catalog.conventions import WATCHDOG_SEVERITY
from moneypath.check.counter_resets import counter_names, find
from moneypath.check.drill_files import receivers_for
from moneypath.drills.context import DrillContext
from moneypath.drills.endpoints import TargetError
from moneypath.drills.journal import AlertRow
from moneypath.formats.drill import ExpectedAlert

COUNTER_WINDOW_S = 120.0  # the least history the counter-reset check reads
COUNTER_EVERY_S = 5.0


@dataclass
class AlertSeen:
    alertname: str
    labels: dict[str, str]
    first_pending: float | None = None
    first_firing: float | None = None
    last_firing: float | None = None
    gone_at: float | None = None  # no longer firing or pending at Prometheus


class Watcher:
    def __init__(self, ctx: DrillContext, injected_at: Callable[[], float | None], known: dict[str, dict]):
        self.ctx = ctx
        self.injected_at = injected_at  # when the fault went on (None: not yet, or a drill without one)
        self.known = known  # the catalog's generated alerts by name (moneypath.check.drill_files.alert_names)
        self.seen: dict[tuple, AlertSeen] = {}
        self.pages: list[dict] = []  # the page records of this drill, firing and resolved, in the order seen
        self._page_keys: set[tuple] = set()
        self._paged: set[tuple] = set()  # (alert, receiver, labels) of the firing records seen, for their resolves
        self._counters: tuple[float, str | None] | None = None  # (when asked, why the counters are not data)
        self._counter_names = counter_names(ctx.catalog)

    def poll(self, now: float) -> None:
        """Raises TargetError when Prometheus or the page source does not answer."""
        self._poll_alerts(now)
        self._poll_pages(now)

    def _poll_alerts(self, now: float) -> None:
        present = set()
        for alert in self.ctx.prom.alerts():
            if alert["labels"].get("severity") == WATCHDOG_SEVERITY:
                continue  # the heartbeat fires always: not part of any incident
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
                    # one timeline line per alert name, however many label sets fire
                    if not any(s.first_firing for k, s in self.seen.items() if k != key and k[0] == key[0]):
                        self.ctx.event("alert_firing", f"firing at Prometheus: {key[0]}{label_text(labels)}",
                                       {"alert": key[0], "labels": labels})
                seen.last_firing = now
        for key, seen in self.seen.items():
            if key not in present and seen.gone_at is None:
                seen.gone_at = now

    def _poll_pages(self, now: float) -> None:
        # in time order, a page before its resolve when both came at once (one notification can carry both)
        records = sorted(self.ctx.pages_source.records(now), key=lambda r: (
            float(r.get("received_at") or now), r.get("status", "firing") != "firing"))
        for record in records:
            if float(record.get("received_at") or 0) < self.ctx.started_at - 1:
                continue  # before this drill (a stack shared with earlier work)
            if (record.get("labels") or {}).get("severity") == WATCHDOG_SEVERITY:
                continue  # the heartbeat, when pages are read from Alertmanager instead of the pager
            key = (record.get("received_at"), record.get("receiver"), record.get("status"),
                   record.get("fingerprint") or tuple(sorted(record.get("labels", {}).items())))
            if key in self._page_keys:
                continue
            self._page_keys.add(key)
            self.pages.append(record)
            status = record.get("status", "firing")
            labels = record.get("labels", {})
            notified = (record.get("alertname"), record.get("receiver"), tuple(sorted(labels.items())))
            why = ""
            if status == "firing":
                self._paged.add(notified)
                kind = "page" if is_page(record) else "ticket"
            else:
                kind = "resolved"
                if notified not in self._paged:  # its page was sent before this drill started (and left out)
                    why = "; its notification came before this drill started"
            self.ctx.event(kind, f"{kind.upper()} {record.get('alertname')}{label_text(labels)} → "
                                 f"{record.get('receiver')} ({labels.get('severity', '?')}{why})",
                           {"alert": record.get("alertname"), "receiver": record.get("receiver"), "labels": labels},
                           t=float(record.get("received_at") or now))

    def counters_not_data(self) -> str | None:
        """Why the target's rates are not data (its counters went backwards since the drill started, at least over
        COUNTER_WINDOW_S), or None; asked of Prometheus at most every COUNTER_EVERY_S, named once in the timeline.
        A Prometheus that does not answer: None (the checks themselves say it)."""
        now = self.ctx.clock()
        if self._counters is not None and (self._counters[1] or now - self._counters[0] < COUNTER_EVERY_S):
            return self._counters[1]
        window = f"{max(COUNTER_WINDOW_S, now - self.ctx.started_at):.0f}s"
        try:
            found = find(self.ctx.prom.query, self._counter_names, window)
        except TargetError:
            found = []
        why = "; ".join(t.reason() for t in found) or None
        self._counters = (now, why)
        if why:
            self.ctx.event("note", f"counters not data: {why}", {"targets": [t.instance for t in found]})
        return why

    # ------------------------------------------------------------ what the alerts and pages add up to

    def expected_receivers(self, alert: str, given: list[str] | None) -> list[str]:
        return list(given) if given else receivers_for(alert, self.ctx.catalog, self.known)

    def matching_pages(self, alert: str, labels: dict[str, str], status: str = "firing") -> list[dict]:
        return [p for p in self.pages if p.get("alertname") == alert and p.get("status", "firing") == status
                and all(p.get("labels", {}).get(k) == v for k, v in labels.items())]

    def _after_fault(self, t) -> bool:
        injected = self.injected_at()
        return injected is None or float(t or 0) >= injected

    def detecting_pages(self, alert: str, labels: dict[str, str]) -> list[dict]:
        """The pages that can be the fault's detection: those that arrived once it was on."""
        return [p for p in self.matching_pages(alert, labels) if self._after_fault(p.get("received_at"))]

    def already_firing(self) -> list[str]:
        """Alerts firing at Prometheus, or paged, before the fault went on (the steady state was not clean);
        [] before the fault or without one."""
        if self.injected_at() is None:
            return []
        names = {s.alertname for s in self.seen.values() if s.first_firing and not self._after_fault(s.first_firing)}
        names |= {p.get("alertname") for p in self.firing_pages() if not self._after_fault(p.get("received_at"))}
        return sorted(n for n in names if n)

    def _firing_before_fault(self, page: dict) -> bool:
        """The page came before the fault, or is for a label set firing or paged before it (a repeat)."""
        if not self._after_fault(page.get("received_at")):
            return True
        name, labels = page.get("alertname"), page.get("labels") or {}
        paged_before = any(not self._after_fault(p.get("received_at")) for p in self.matching_pages(name, labels))
        return paged_before or any(s.alertname == name and s.first_firing and not self._after_fault(s.first_firing)
                                   and all(labels.get(k) == v for k, v in s.labels.items()) for s in self.seen.values())

    def matching_seen(self, alert: str, labels: dict[str, str]) -> list[AlertSeen]:
        return [s for s in self.seen.values() if s.alertname == alert
                and all(s.labels.get(k) == v for k, v in labels.items())]

    def all_expected_paged(self) -> bool:
        for exp in self.ctx.drill.alerts.expected:
            got = {p.get("receiver") for p in self.detecting_pages(exp.alert, exp.labels)}
            if not set(self.expected_receivers(exp.alert, exp.receivers)) <= got:
                return False
        return True

    def first_expected_page(self) -> float | None:
        """The classification: when the first expected page arrived."""
        times = [float(p["received_at"]) for exp in self.ctx.drill.alerts.expected
                 for p in self.detecting_pages(exp.alert, exp.labels)]
        return min(times) if times else None

    def expected_resolved(self) -> bool:
        for exp in self.ctx.drill.alerts.expected:
            seen = self.matching_seen(exp.alert, exp.labels)
            if any(s.gone_at is None for s in seen):
                return False
        return True

    def firing_pages(self) -> list[dict]:
        return [p for p in self.pages if p.get("status", "firing") == "firing"]

    def alert_matrix(self, injected: float | None) -> list[AlertRow]:
        """A row per expected alert (did it page its receivers by its deadline after `injected`, the fault
        injection?), then a row per alert allowed, forbidden or paging though nobody listed it."""
        alerts = self.ctx.drill.alerts
        rows = [self._expected_row(exp, injected) for exp in alerts.expected]
        listed = {exp.alert for exp in alerts.expected}
        allowed = set(alerts.allowed)
        forbidden = set(alerts.must_not_page)
        if "*" in forbidden:
            forbidden = (set(self.known) - listed - allowed) | (forbidden - {"*"})
        paged_names = sorted({p.get("alertname") for p in self.firing_pages()})
        for name in sorted(allowed | forbidden | set(paged_names)):
            if name in listed:
                continue  # an expected alert paging with other labels is not a second row
            row = self._other_row(name, allowed, forbidden)
            if row is not None:
                rows.append(row)
        return rows

    def _expected_row(self, exp: ExpectedAlert, injected: float | None) -> AlertRow:
        want = self.expected_receivers(exp.alert, exp.receivers)
        pages = self.detecting_pages(exp.alert, exp.labels)
        before = len(self.matching_pages(exp.alert, exp.labels)) > len(pages)
        seen = self.matching_seen(exp.alert, exp.labels)
        before |= any(s.first_firing and not self._after_fault(s.first_firing) for s in seen)
        firing = [s.first_firing for s in seen if s.first_firing and self._after_fault(s.first_firing)]
        resolved = [float(p["received_at"]) for p in self.matching_pages(exp.alert, exp.labels, "resolved")]
        gone = [s.gone_at for s in seen if s.first_firing and s.gone_at]
        got = sorted({p.get("receiver") for p in pages})
        deadline = self.ctx.page_deadline(exp.page_within)
        slack = f" = {self.ctx.s(exp.page_within):.0f} s + {self.ctx.page_slack_s:g} s with a replica down" \
            if self.ctx.page_slack_s else ""
        paged_at = min((float(p["received_at"]) for p in pages), default=None)
        all_paged_at = max((min(float(p["received_at"]) for p in pages if p.get("receiver") == r)
                            for r in want if r in got), default=None)
        if injected is None:
            ok, reason = False, "the fault was never injected"
        elif paged_at is None and before:
            ok, reason = False, ("already firing before the fault (the steady state was not clean): no page after "
                                 "the fault to count as its detection")
        elif paged_at is None:
            ok = False
            reason = (f"fired at Prometheus {min(firing) - injected:.0f} s after the fault, but no page reached "
                      f"{', '.join(want)}" if firing else
                      f"never fired within {deadline:.0f} s (is the rule loaded? does the fault move its signal?)")
        elif not set(want) <= set(got):
            ok, reason = False, f"paged {', '.join(got)}, but not {', '.join(sorted(set(want) - set(got)))}"
        elif all_paged_at - injected > deadline:
            ok, reason = False, f"paged {all_paged_at - injected:.0f} s after the fault, deadline {deadline:.0f} s{slack}"
        else:
            ok, reason = True, f"paged {', '.join(got)} {all_paged_at - injected:.0f} s after the fault " \
                               f"(deadline {deadline:.0f} s{slack})"
        if before and paged_at is not None:
            reason += "; it was already firing before the fault, so this page may not be the fault's"
        # resolved: the resolve notification, else when Prometheus stopped showing it (if every series did)
        resolved_at = min(resolved) if resolved else (max(gone) if gone and not any(
            s.gone_at is None for s in seen) else None)
        return AlertRow(alert=exp.alert, labels=dict(exp.labels), expectation="expected", deadline_s=deadline,
                        first_firing_at=min(firing) if firing else None, paged_at=paged_at, resolved_at=resolved_at,
                        receivers=got, ok=ok, reason=reason)

    def _other_row(self, name: str, allowed: set[str], forbidden: set[str]) -> AlertRow | None:
        pages = [p for p in self.firing_pages() if p.get("alertname") == name]
        seen = [s for s in self.seen.values() if s.alertname == name]
        firing = [s.first_firing for s in seen if s.first_firing]
        resolved = [float(p["received_at"]) for p in self.pages
                    if p.get("alertname") == name and p.get("status") == "resolved"]
        got = sorted({p.get("receiver") for p in pages})
        # A page is a notification of severity page; a ticket waits for the next business day and is
        # shown, not judged (an SLO's slow-burn ticket on a minutes-old history is noise, not an incident).
        paging = [p for p in pages if is_page(p)]
        first_page = min((float(p["received_at"]) for p in paging), default=None)  # a ticket pages no one
        # A page for what was firing before the fault (an earlier incident still burning) is the steady
        # state not being clean, which the timeline says; it is not the fault's false alarm.
        judged = [p for p in paging if not self._firing_before_fault(p)]
        receivers = ", ".join(sorted({p.get("receiver") for p in judged}))
        if paging and not judged:
            not_judged = (f" since the fault (paged {', '.join(sorted({p.get('receiver') for p in paging}))} for "
                          "what was firing before it: not judged)")
        else:
            not_judged = "" if paging or not pages else f" (a ticket to {', '.join(got)}, not a page)"
        if name in allowed:
            expectation, ok = "allowed", True
            reason = (f"allowed as a consequence of the fault; notified {', '.join(got)}" if pages else
                      "allowed; did not page")
        elif name in forbidden:
            expectation, ok = "must_not_page", not judged
            reason = f"must not page, but paged {receivers}" if judged else f"did not page{not_judged}"
        else:
            expectation, ok = "unexpected", not judged
            reason = (f"not expected by this drill, but paged {receivers}" if judged else
                      f"not expected by this drill{not_judged}; not judged")
        if not pages and not firing and expectation != "must_not_page":
            return None
        if name in self.already_firing():
            reason += "; it was already firing before the fault"
        return AlertRow(alert=name, expectation=expectation, deadline_s=None,
                        first_firing_at=min(firing) if firing else None, paged_at=first_page,
                        resolved_at=min(resolved) if resolved else None, receivers=got, ok=ok, reason=reason)


def is_page(record: dict) -> bool:
    return (record.get("labels") or {}).get("severity", record.get("severity")) != "ticket"


def label_text(labels: dict[str, str]) -> str:
    keep = {k: v for k, v in labels.items() if k not in ("alertname", "severity", "service", "money_loss")}
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(keep.items())) + "}" if keep else ""
