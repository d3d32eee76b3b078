"""A worker's rates from its stats reports, the same where the worker timeline is written (worker_watch, inside
Locust) and where it is judged (moneypath.loadtest.command.worker_health: a worker quiet for STALE_S sends nothing).
Pure; no Locust import."""

from __future__ import annotations

STALE_S = 3.5  # a worker with no stats report for this long sends nothing (its rate is 0)


def rates_at(reports, t: float, window_s: float) -> tuple[float | None, float | None, float | None]:
    """(requests/s, flows/s, time of the last report) of a worker at `t` from its stats reports (time received,
    requests so far, flows so far), over its last reports at least `window_s` apart (all of them when they span less);
    0 once it has sent none for STALE_S; None before two reports."""
    if not reports:
        return None, None, None
    last = reports[-1]
    if t - last[0] > STALE_S:
        return 0.0, 0.0, last[0]
    base = next((r for r in reversed(reports) if last[0] - r[0] >= window_s), reports[0])
    span = last[0] - base[0]
    if span <= 0:
        return None, None, last[0]
    return (last[1] - base[1]) / span, (last[2] - base[2]) / span, last[0]
