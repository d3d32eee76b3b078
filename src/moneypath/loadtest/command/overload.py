"""The overload gates: a run offered more than the service can carry (the scenario's spike, e.g. 3x a
`--rate` set to the knee `moneypath capacity` measured), judged phase by phase. Pure; the numbers come in.

The harness writes Locust's stats at each phase boundary (`--snapshot-at`); subtracting them gives
exact counts and response-time histograms per phase. A request the service refused to take (503 or
429 with Retry-After: shedding, not a failure inside) is recorded as request type REFUSED.

- goodput: requests answered with success per second during the overload, as a share of the 1x rate;
- refused fast: the refusals' p99 within the latency SLO's threshold (a refusal that is slow is a queue);
- admitted: what the service took keeps the SLOs (authorization p99; failures within the error budget:
  a timeout or a 5xx among admitted requests is a failure, a refusal is not);
- money in motion first: captures and refunds refused no more often than new authorizations and payouts;
- recovered: from `recover_within_s` after the load drops back to the end, every request within the SLOs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from moneypath._common.verdict import Outcome
from moneypath.formats.scenarios import OVERLOAD_GATES as GATE_NAMES
from moneypath.formats.scenarios import Scenario
from moneypath.loadtest.command.gates import Gate, GateThresholds
from moneypath.loadtest.command.stats import action_of, is_final, merge, percentile, steady_entries
from moneypath.loadtest.in_locust.request_names import REFUSED, SENT
from moneypath.loadtest.in_locust.shape import spike_window

IN_MOTION = ("capture", "refund")  # money already promised: the service reserves room for these
NEW_MONEY = ("authorize", "payout")


@dataclass(frozen=True)
class Phases:
    overload: tuple[float, float]  # seconds into the run
    recovery: tuple[float, float]

    def boundaries(self) -> list[float]:
        return [self.overload[0], self.overload[1], self.recovery[0]]


def phases(scenario: Scenario, duration_s: float) -> Phases | None:
    """The overload (the spike) and the part judged for recovery; None when the scenario has no `overload`.
    ScenarioError-free: the scenario model checked that a spike exists and the run leaves time to recover."""
    if scenario.overload is None:
        return None
    start, end = spike_window(scenario, duration_s)
    return Phases((start, end), (min(duration_s, end + scenario.overload.recover_within_s), duration_s))


@dataclass
class PhaseFigures:
    """One phase's requests, from Locust's entries (final outcomes: attempts and checks left out)."""
    seconds: float
    requests: int = 0        # sent and answered or not, refusals included
    succeeded: int = 0
    refused: int = 0
    admitted_failed: int = 0  # taken by the service (or no answer) and failed: errors and timeouts
    authorize_p99_ms: float | None = None  # admitted authorizations
    refused_p99_ms: float | None = None
    refused_share: dict[str, float] | None = None  # "in motion" / "new money": refused share of each kind

    @property
    def goodput_rps(self) -> float:
        return self.succeeded / self.seconds if self.seconds > 0 else 0.0

    @property
    def admitted_failure_ratio(self) -> float | None:
        admitted = self.requests - self.refused
        return self.admitted_failed / admitted if admitted else None

    def to_dict(self) -> dict:
        return {**asdict(self), "goodput_rps": self.goodput_rps, "admitted_failure_ratio": self.admitted_failure_ratio}


def figures(entries: list[dict], seconds: float, judge_provider: str | None = None) -> PhaseFigures:
    final = [e for e in entries if e["method"] in SENT and is_final(e["method"], e["name"], judge_provider)]
    refused = [e for e in final if e["method"] == REFUSED]
    admitted = [e for e in final if e["method"] != REFUSED]
    f = PhaseFigures(seconds)
    f.requests = sum(e["num_requests"] for e in final)
    f.refused = sum(e["num_requests"] for e in refused)
    f.admitted_failed = sum(e["num_failures"] for e in admitted)
    f.succeeded = sum(e["num_requests"] - e["num_failures"] for e in admitted)
    f.authorize_p99_ms = percentile(merge([e for e in admitted if action_of(e["name"]) == "authorize"]), 0.99)
    f.refused_p99_ms = percentile(merge(refused), 0.99)
    shares = {}
    for kind, actions in (("in motion", IN_MOTION), ("new money", NEW_MONEY)):
        sent = sum(e["num_requests"] for e in final if action_of(e["name"]) in actions)
        if sent:
            shares[kind] = sum(e["num_requests"] for e in refused if action_of(e["name"]) in actions) / sent
    f.refused_share = shares
    return f


def between(snapshots: dict[float, list[dict]], final: list[dict], start: float, end: float,
            duration_s: float) -> list[dict] | None:
    """The entries of [start, end): the stats at `end` minus those at `start` (the run's start is all zeros,
    its end the final stats); None when a snapshot is missing (the run stopped early)."""
    def at(t: float) -> list[dict] | None:
        if t <= 0:
            return []
        if t >= duration_s:
            return final
        return snapshots.get(round(t, 3))

    a, b = at(start), at(end)
    if a is None or b is None:
        return None
    return steady_entries(b, a)


@dataclass
class Overload:
    phases: Phases
    rate: float                 # the 1x rate: the knee, as the user set it
    overload: PhaseFigures | None
    recovery: PhaseFigures | None
    recovered_after_s: float | None  # seconds after the load dropped until every second was clean; None: never
    goodput_share: float        # the scenario's goal

    def to_dict(self) -> dict:
        return {"overload_s": list(self.phases.overload), "recovery_s": list(self.phases.recovery), "rate": self.rate,
                "overload": self.overload.to_dict() if self.overload else None,
                "recovery": self.recovery.to_dict() if self.recovery else None,
                "recovered_after_s": self.recovered_after_s, "goodput_share_goal": self.goodput_share}


def recovered_after(ticks, started_at: float, load_dropped_s: float, error_budget: float | None,
                    p99_ms: float | None) -> float | None:
    """Seconds from the load dropping back until the per-second history (Locust's aggregated rows: failures
    per second, a p99 over its last seconds) stays within the SLOs to the end; None if it never does."""
    after = [t for t in ticks if t.t - started_at >= load_dropped_s]
    if not after:
        return None

    def clean(t) -> bool:
        failing = t.rps > 0 and error_budget is not None and t.failures_per_s / t.rps > error_budget
        slow = p99_ms is not None and t.p99_ms is not None and t.p99_ms > p99_ms
        return not failing and not slow

    last_bad = None
    for t in after:
        if not clean(t):
            last_bad = t
    if last_bad is None:
        return 0.0
    if last_bad is after[-1]:
        return None
    return last_bad.t + 1 - started_at - load_dropped_s


def gates(o: Overload, thr: GateThresholds, scenario: Scenario) -> list[Gate]:
    out: list[Gate] = []
    limit_ms = thr.p99_s * 1000 if thr.p99_s is not None else None
    budget = thr.error_budget

    def add(name, title, ok, observed, limit, reason, skip=None):
        if name in scenario.skip_gates:
            out.append(Gate.skip(name, title, "locust", observed, limit, f"scenario {scenario.name} skips it"))
        elif skip:
            out.append(Gate.skip(name, title, "locust", observed, limit, skip))
        else:
            out.append(Gate(name, title, "locust", Outcome.of(ok), observed, limit, "" if ok else reason))

    ov, rec = o.overload, o.recovery
    missing = "the run ended before the phase did (no stats snapshot)"
    a, b = o.phases.overload
    when = f"{a:.0f}-{b:.0f} s"

    if ov is None:
        for name in GATE_NAMES[:4]:
            add(name, name.replace("_", " "), False, "no data", "-", f"{name}: {missing}")
    else:
        share = ov.goodput_rps / o.rate if o.rate else 0.0
        add("overload_goodput", "goodput under overload", share >= o.goodput_share,
            f"{ov.goodput_rps:.1f}/s = {share:.0%} of {o.rate:g}/s ({when})", f">= {o.goodput_share:.0%} of the 1x rate",
            f"under overload the service answered {ov.goodput_rps:.1f} requests/s with success, {share:.0%} of the "
            f"1x rate {o.rate:g}/s (goal {o.goodput_share:.0%}; set --rate to the knee `moneypath capacity` "
            "measured)")
        refused = f"{ov.refused} refused, p99 {_ms(ov.refused_p99_ms)}"
        add("overload_refused_fast", "refused fast (503/429 + Retry-After)",
            limit_ms is None or ov.refused_p99_ms is None or ov.refused_p99_ms <= limit_ms,
            refused if ov.refused else "nothing refused", f"p99 <= {_ms(limit_ms)}" if limit_ms else "-",
            f"refusals took up to {_ms(ov.refused_p99_ms)} (p99): the service queued before refusing",
            None if limit_ms is not None else "the catalog has no latency SLO")
        fr = ov.admitted_failure_ratio
        p99_ok = limit_ms is None or ov.authorize_p99_ms is None or ov.authorize_p99_ms <= limit_ms
        fail_ok = budget is None or fr is None or fr <= budget
        add("overload_admitted", "admitted requests within the SLOs", p99_ok and fail_ok,
            f"authorize p99 {_ms(ov.authorize_p99_ms)}, failed {_pct(fr)} ({ov.admitted_failed} of "
            f"{ov.requests - ov.refused})",
            f"p99 <= {_ms(limit_ms)}, failed <= {_pct(budget)}",
            "; ".join(([] if p99_ok else [f"admitted authorizations p99 {_ms(ov.authorize_p99_ms)} under overload"])
                      + ([] if fail_ok else [f"{ov.admitted_failed} admitted requests failed or timed out under "
                                             f"overload ({_pct(fr)})"])))
        s = ov.refused_share or {}
        motion, new = s.get("in motion"), s.get("new money")
        add("overload_priority", "captures and refunds before new payments",
            motion is None or new is None or motion <= new,
            f"refused: captures/refunds {_pct(motion)}, authorizations/payouts {_pct(new)}",
            "captures/refunds refused no more often",
            f"captures and refunds were refused more often ({_pct(motion)}) than new payments ({_pct(new)})",
            None if ov.refused else "nothing refused: no order to judge")

    if rec is None:
        add("overload_recovery", "healthy again after the overload", False, "no data", "-", f"recovery: {missing}")
    else:
        failures = rec.admitted_failed + rec.refused
        ratio = failures / rec.requests if rec.requests else None
        p99_ok = limit_ms is None or rec.authorize_p99_ms is None or rec.authorize_p99_ms <= limit_ms
        fail_ok = budget is None or ratio is None or ratio <= budget
        after = "never" if o.recovered_after_s is None else f"{o.recovered_after_s:.0f} s"
        ra, rb = o.phases.recovery
        add("overload_recovery", "healthy again after the overload", p99_ok and fail_ok and rec.requests > 0,
            f"{ra:.0f}-{rb:.0f} s: authorize p99 {_ms(rec.authorize_p99_ms)}, failed or refused {_pct(ratio)} "
            f"({failures} of {rec.requests}); every second clean after {after}",
            f"from {ra - o.phases.overload[1]:.0f} s after: p99 <= {_ms(limit_ms)}, failed <= {_pct(budget)}",
            "no request after the overload" if not rec.requests else "; ".join(
                ([] if p99_ok else [f"authorize p99 {_ms(rec.authorize_p99_ms)} after the overload"])
                + ([] if fail_ok else [f"{failures} of {rec.requests} requests failed or were refused after the "
                                       "overload (a metastable state: retries, breakers or queues kept it down)"])))
    return out


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.3g} %"
