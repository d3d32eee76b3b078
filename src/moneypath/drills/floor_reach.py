"""Did the drill bring an expected alert's event floor? An expected page that did not come is the alert's failure
only when the drill delivered what the alert's floor needs (moneypath.drills.event_guards).

`drill check` refuses a drill whose *planned* load would miss a floor (docs/decisions/0018). A service that cannot
carry the planned rate (a slow release, its admission limit shedding, a slow provider) delivers less: its guard's
window then holds fewer events than the floor and the alert cannot fire, whatever its rule. That is the drill's
load not arriving, not a detection failure, so the page's objective is not measured, with the delivered rate.

Delivered: the payments the drill sent over the wait for the page (from the fault's injection to the deadline) less
those the service refused before doing any work (429/503 with Retry-After); a payment never started because all
the drill's in-flight slots were busy was not delivered. A payment sent is counted whatever its answer: a failed one
still reached the service, and may have reached its provider (what the guard counts). The events it brings to the
guard's group: the most payments sent in any stretch of the guard's compressed window, times the mix's share of
that group (each payment at least one event, as event_guards counts). Short of the floor there, and the window
held under the floor too: not measured. Either at the floor or above: the page's absence stays a failure.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from moneypath.drills.event_guards import Held, group_share


@dataclass(frozen=True)
class Delivered:
    """What the drill delivered over the wait for the page."""
    sent: int  # payments started and not refused
    planned: int  # the planned rate times the wait
    seconds: float
    planned_rate: float
    times: tuple[float, ...]  # when each delivered payment started, sorted

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def most_in(self, window_s: float) -> int:
        """The most delivered payments that started within any `window_s` seconds."""
        t = self.times
        return max((bisect_right(t, start + window_s) - i for i, start in enumerate(t)), default=0)


def delivered(outcomes, planned_rate: float, since: float, until: float) -> Delivered:
    """The payments (baseline_load.PaymentOutcome) the drill delivered between `since` and `until` (epoch seconds)."""
    times = sorted(o.t for o in outcomes if since <= o.t <= until and not o.refused)
    seconds = max(0.0, until - since)
    return Delivered(len(times), round(planned_rate * seconds), seconds, planned_rate, tuple(times))


def unreached(drill, held: list[Held], got: Delivered, noun: str = "payment") -> dict[str, str]:
    """Expected alert name -> its not-measured line, for each alert in `held` whose every guard the delivered load
    could not bring to its floor, its window holding under the floor too."""
    by_alert: dict[str, list[Held]] = {}
    for h in held:
        by_alert.setdefault(h.expected.alert, []).append(h)
    out = {}
    for alert, found in by_alert.items():
        short = []
        for h in found:
            brought = got.most_in(h.window_s) * group_share(drill, h.guard, h.expected.labels)
            if brought >= h.guard.events or (h.count is not None and h.count >= h.guard.events):
                break  # the drill brought the floor (or the window held it): the page's absence is the alert's
            short.append(h)
        else:
            if short:
                h = min(short, key=lambda x: x.guard.events)
                held_text = ("could not be read" if not h.read else "held no events" if h.count is None
                             else f"held {h.count:.3g} events")
                out[alert] = (f"not measured: the drill delivered {got.sent} of {got.planned} planned {noun}s "
                              f"({got.rate:.2g}/s of {got.planned_rate:g}/s): {h.guard.alert}'s {h.window_s:g} s "
                              f"window {held_text} for {h.group}, under its floor of {h.guard.events:g} — the alert "
                              f"could not fire")
    return out
