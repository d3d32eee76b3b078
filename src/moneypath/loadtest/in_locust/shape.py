"""The load a scenario describes over a run: how long it runs and which part the latency gate leaves out as
warm-up, how many users run at each moment (the spike's window), each user's pace, and the share of each action.

The scenario file itself (its models, reading and checking it) is moneypath.formats.scenarios; this is what the
runner, the Locust harness and the capacity plan compute from it.
"""

from __future__ import annotations

from moneypath.formats.scenarios import ACTIONS, Baseline, Scenario, ScenarioError, ScenarioFile


def warmup_of(baseline: Baseline, duration_s: float) -> float:
    """The warm-up the latency gate leaves out of a run of `duration_s` (0: none, the run is too short)."""
    return baseline.warmup_s if duration_s >= 3 * baseline.warmup_s else 0.0


def duration_of(spec: ScenarioFile, scenario: Scenario, duration_s: float | None = None) -> float:
    return duration_s or scenario.duration_s or spec.baseline.duration_s


def spike_window(scenario: Scenario, duration_s: float) -> tuple[float, float] | None:
    """(start, end) of the spike: it starts a third into the run and lasts its duration, or a
    third of the run when the run is shorter than three times that."""
    if scenario.spike is None:
        return None
    length = min(scenario.spike.duration_s, duration_s / 3)
    start = duration_s / 3
    return start, start + length


def users_at(scenario: Scenario, base_users: int, elapsed_s: float, duration_s: float) -> int | None:
    """How many users should run `elapsed_s` into the run; None once it is over."""
    if elapsed_s >= duration_s:
        return None
    factor = scenario.multiplier
    window = spike_window(scenario, duration_s)
    if window and window[0] <= elapsed_s < window[1]:
        factor = scenario.spike.multiplier
    return max(1, round(base_users * factor))


def max_users(scenario: Scenario, base_users: int) -> int:
    factors = [scenario.multiplier] + ([scenario.spike.multiplier] if scenario.spike else [])
    return max(1, round(base_users * max(factors)))


def pace_per_user(rate: float, users: int) -> float:
    """Requests per second each user sends so that `users` of them send `rate` together."""
    if rate <= 0 or users <= 0:
        raise ScenarioError("rate and users must be positive")
    return rate / users


def action_shares(spec: ScenarioFile) -> dict[str, float]:
    """Steady-state share of each action among requests. A capture or refund is only possible
    when there is something to capture or refund, so their share is bounded by what
    authorizations produce: captures <= authorizations, refunds <= captures."""
    w = {a: float(spec.mix.get(a, 0)) for a in ACTIONS}
    w["capture"] = min(w["capture"], w["authorize"])
    w["refund"] = min(w["refund"], w["capture"])
    total = sum(w.values())
    return {a: v / total for a, v in w.items()}
