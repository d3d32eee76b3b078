"""The canary gate's statistics: each judged metric's one-sided test, group-sequential.

Each look takes the figures since the canary started and says fail (the canary is worse), pass (the planned
information is reached without that, and each arm has `min_sample` events, so the test had `power` against its
designed effect), or inconclusive (it needs more data: how many more canary events). A look may fail once each
arm has FAIL_FLOOR events: `min_sample` gates a pass, never a fail, and the error spending (moneypath.canary.
spending) keeps the false-fail rate at alpha however early and often it looks, as long as when to look does not
depend on the bad events.

- `SequentialTest`: is the canary's bad-event share (errors, declines, slow authorizations) higher than its
  baseline's? The information is that of the counts, 1 / var(canary share - baseline share) under the pooled
  share, against the planned maximum (`inflation` times the fixed-sample test's); each look's z is Fisher's exact
  test's (its one-sided p as a standard normal quantile): the pooled z's normal approximation errs high for rare
  bad events; the plan takes the continuity correction that test needs.
- `MarginTest`: is an estimate (the canary's latency quantile minus the baseline's, the log of the ratio of their
  costs per transaction) above a tolerated margin? z = (estimate - margin) / its standard error, information the
  inverse of its variance, planned so that an estimate at `design` (twice the tolerance) fails with `power`.

Several metrics judged at once share the error rate: the judge gives each test alpha / number of tests
(Bonferroni). docs/decisions/0016-canary-sequential-test.md says why these tests and what they cost.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from numbers import Real

from scipy.special import ndtri_exp
from scipy.stats import hypergeom, norm

from moneypath._common.verdict import FAIL, PASS
from moneypath.canary.spending import _Density, inflation, spent, z_quantile

MIN_STEP = 0.002  # a call adding less information (fraction of the plan) is not a look: the grid's resolution
FAIL_FLOOR = 10  # events each arm needs before a look may fail (a pass needs min_sample)
STATE_VERSION = 2
INCONCLUSIVE = "inconclusive"  # a look's word while the test needs more data: no verdict yet


def planned_sample(p_baseline: float, min_effect: float, alpha: float, power: float, *, ratio: float = 1.0) -> int:
    """The canary events a fixed-sample one-sided two-proportion test needs to detect `min_effect` over a
    baseline share `p_baseline` at `alpha` and `power`, the baseline having `ratio` times as many (1: the n per
    arm). Pooled variance under H0, unpooled under H1 (Fleiss, without continuity correction). A baseline share
    above 1 - min_effect plans as 1 - min_effect."""
    _check_design(alpha, power, min_effect)
    if not (isinstance(p_baseline, Real) and 0 <= p_baseline <= 1):
        raise ValueError(f"the baseline share must be between 0 and 1, not {p_baseline!r}")
    if not (isinstance(ratio, Real) and math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"the baseline-to-canary ratio must be a positive number, not {ratio!r}")
    return math.ceil(_fixed_canary(float(p_baseline), min_effect, alpha, power, float(ratio)))


def _fixed_canary(p1: float, delta: float, alpha: float, power: float, r: float) -> float:
    p1 = min(p1, 1 - delta)
    p2 = p1 + delta
    pooled = (p2 + r * p1) / (1 + r)
    h0 = z_quantile(1 - alpha) * math.sqrt(pooled * (1 - pooled) * (1 + 1 / r))
    h1 = z_quantile(power) * math.sqrt(p2 * (1 - p2) + p1 * (1 - p1) / r)
    return ((h0 + h1) / delta) ** 2


def _for_exact_test(n: float, delta: float, r: float) -> float:
    """The fixed-sample n with Fleiss, Tytun and Ury's continuity correction: what Fisher's exact test needs for
    the power the normal approximation's n would have."""
    return n / 4 * (1 + math.sqrt(1 + 2 * (r + 1) / (r * n * delta))) ** 2


def exact_test(canary_bad: float, canary_total: float, baseline_bad: float, baseline_total: float) -> tuple[float, float]:
    """(z, p): Fisher's exact test, one-sided, that the canary's share is the higher. Given the bad events in
    all, the canary's are hypergeometric when the shares are equal; p = P(at least the canary's), z its standard
    normal quantile. With many bad events this is the pooled two-proportion z; with few it never errs high as
    the normal approximation does (a rare event's tail is heavier). Counts are rounded to whole events."""
    drawn, total = round(canary_total), round(canary_total) + round(baseline_total)
    k, bad = round(canary_bad), round(canary_bad) + round(baseline_bad)
    log_p = 0.0 if k <= 0 else float(hypergeom.logsf(k - 1, total, bad, drawn))
    return max(-8.0, -float(ndtri_exp(log_p))), math.exp(log_p)


def _check_design(alpha: float, power: float, min_effect: float | None) -> None:
    for name, value, low, high in (("alpha", alpha, 0, 0.5), ("power", power, 0, 1), ("min_effect", min_effect, 0, 1)):
        if value is None and name == "min_effect":
            continue
        if not (isinstance(value, Real) and low < value < high):
            raise ValueError(f"{name} must be a number between {low} and {high} (exclusive), not {value!r}")
    if power <= alpha:
        raise ValueError(f"power ({power}) must exceed alpha ({alpha})")


def _count(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of events, 0 or more, not {value!r}")
    return float(value)


def _bad(name: str, bad: float, total: float) -> float:
    """Bad events never exceed the total; a rate read twice from counters (Prometheus' increase()) may overshoot a
    little when nearly every event is bad, so up to 1 % (or one event) over is the total."""
    if bad > total * 1.01 + 1:
        raise ValueError(f"{name}'s bad events ({bad:g}) exceed its total ({total:g})")
    return min(bad, total)


def _json(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Look:
    """One look's result. NaN where a figure has no value yet (no events), boundary inf where the spending
    function allowed no fail yet, NaN where the call was not a look; to_dict() writes both as null."""

    verdict: str  # PASS, FAIL or INCONCLUSIVE (the test needs more data)
    canary_ratio: float
    baseline_ratio: float
    effect: float  # canary_ratio - baseline_ratio
    z: float
    p_value: float  # nominal one-sided, P(Z > z): not adjusted for the looks (the boundary is)
    boundary: float  # the z it had to cross at this look
    information: float  # fraction of the planned information reached
    planned_per_arm: int  # canary events planned (the baseline's ratio to it as seen so far)
    needed_canary: int  # more canary events before it can pass; 0 when none
    reason: str

    def to_dict(self) -> dict:
        return {k: _json(v) if isinstance(v, float) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Look:
        return cls(**{k: math.nan if v is None else v for k, v in data.items()})


class _GroupSequential:
    """What both tests share: the design, the alpha spent look by look, the decided verdict, the state as JSON."""

    KIND = ""

    def __init__(self, *, alpha: float, power: float, min_sample: int):
        _check_design(alpha, power, None)
        if isinstance(min_sample, bool) or not isinstance(min_sample, int) or min_sample < 1:
            raise ValueError(f"min_sample must be a whole number of events, 1 or more, not {min_sample!r}")
        self.alpha, self.power, self.min_sample = float(alpha), float(power), min_sample
        self.inflation = inflation(self.alpha, self.power)
        self._density = _Density()
        self._scale = math.nan  # planned information at the first look: the unit of the density's time
        self._used = 0.0  # alpha spent so far
        self._fraction = 0.0  # the largest information fraction spent at
        self._steps: list[tuple[float, float, float]] = []  # (time, fraction, boundary on the score scale)
        self._decided: Look | None = None

    def _under_floor(self, canary: float, baseline: float) -> str | None:
        if canary >= FAIL_FLOOR and baseline >= FAIL_FLOOR:
            return None
        return (f"{canary:.0f} canary and {baseline:.0f} baseline events, under the floor of {FAIL_FLOOR} each "
                f"before any look")

    def _boundary(self, time: float, fraction: float) -> float | None:
        """Spend at this look (time on the density's scale, fraction of the plan): the z boundary, or None when the
        call adds too little information to be a look."""
        last = self._steps[-1][0] if self._steps else 0.0
        if time - last < MIN_STEP:
            return None
        self._fraction = 1.0 if fraction >= 1 else max(self._fraction, fraction)
        increment = spent(self._fraction, self.alpha) - self._used
        boundary = math.inf
        if increment > 1e-9 * self._used and increment > 0:
            boundary = self._density.solve(time, math.log(increment))
        self._used += self._density.advance(time, boundary)
        self._steps.append((time, self._fraction, boundary))
        return boundary / math.sqrt(time)

    def _judged(self, base: dict, bound_z: float | None, fraction: float, canary: float, baseline: float,
                to_pass: int, at: str, *, failed, passed) -> Look:
        """A look's verdict from its boundary: fail past it, pass on the plan with min_sample in each arm, else
        inconclusive (or no look at all when it added too little information). `failed`/`passed` word it."""
        if bound_z is None:
            return Look(INCONCLUSIVE, **base, boundary=math.nan, needed_canary=to_pass,
                        reason=f"not a look: under {MIN_STEP:.1%} of the planned information since the last one; "
                               f"needs ~{to_pass} more canary events to pass")
        if base["z"] >= bound_z:
            self._decided = Look(FAIL, **base, boundary=bound_z, needed_canary=0, reason=failed(bound_z))
            return self._decided
        if fraction >= 1 and canary >= self.min_sample and baseline >= self.min_sample:
            self._decided = Look(PASS, **base, boundary=bound_z, needed_canary=0, reason=passed(bound_z))
            return self._decided
        return Look(INCONCLUSIVE, **base, boundary=bound_z, needed_canary=to_pass, reason=(
            f"inconclusive {at}: z {base['z']:.2f} under the boundary {bound_z:.2f}; needs ~{to_pass} more canary "
            f"events to pass" + _short_of_minimum(canary, baseline, self.min_sample)))

    def _design(self) -> dict:
        return {"min_sample": self.min_sample}

    def to_dict(self) -> dict:
        """The test's state as JSON-safe data, so a judge keeps it between processes (from_dict replays it)."""
        return {"version": STATE_VERSION, "kind": self.KIND, "alpha": self.alpha, "power": self.power,
                **self._design(), "inflation": self.inflation, "scale": _json(self._scale),
                "steps": [[t, f, _json(b)] for t, f, b in self._steps],
                "decided": None if self._decided is None else self._decided.to_dict()}

    @classmethod
    def from_dict(cls, data: dict):
        """A test from to_dict()'s data: the looks are replayed, and each must spend what it spent then."""
        try:
            if data["version"] != STATE_VERSION:
                raise ValueError(f"state version {data['version']!r}, this code reads {STATE_VERSION}")
            if data["kind"] != cls.KIND:
                raise ValueError(f"a {data['kind']!r} test's state, not a {cls.KIND!r} one")
            design = {k: data[k] for k in ("alpha", "power", *cls._design_keys())}
            test = cls(**design)
            test.inflation = float(data["inflation"])
            test._scale = math.nan if data["scale"] is None else float(data["scale"])
            for time, fraction, bound in data["steps"]:
                boundary = math.inf if bound is None else float(bound)
                increment = spent(fraction, test.alpha) - test._used
                absorbed = test._density.advance(float(time), boundary)
                if abs(absorbed - (increment if math.isfinite(boundary) else 0.0)) > 1e-6 * test.alpha:
                    raise ValueError(f"look {len(test._steps) + 1} does not replay: it spends {absorbed:.3g}, "
                                     f"the spending function {increment:.3g}")
                test._used += absorbed
                test._fraction = float(fraction)
                test._steps.append((float(time), float(fraction), boundary))
            test._decided = None if data["decided"] is None else Look.from_dict(data["decided"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a sequential test's state: {exc!r}") from None
        return test

    @classmethod
    def _design_keys(cls) -> tuple[str, ...]:
        return ("min_sample",)


class SequentialTest(_GroupSequential):
    """One share's group-sequential test; each look() is one look, on the counts since the canary started."""

    KIND = "two proportions"

    def __init__(self, *, alpha: float, power: float, min_effect: float, min_sample: int):
        _check_design(alpha, power, min_effect)
        super().__init__(alpha=alpha, power=power, min_sample=min_sample)
        self.min_effect = float(min_effect)

    def _design(self) -> dict:
        return {"min_effect": self.min_effect, "min_sample": self.min_sample}

    @classmethod
    def _design_keys(cls) -> tuple[str, ...]:
        return ("min_effect", "min_sample")

    def look(self, canary_bad: float, canary_total: float, baseline_bad: float, baseline_total: float) -> Look:
        ct, bt = _count("canary_total", canary_total), _count("baseline_total", baseline_total)
        cb = _bad("the canary", _count("canary_bad", canary_bad), ct)
        bb = _bad("the baseline", _count("baseline_bad", baseline_bad), bt)
        pc, pb = cb / ct if ct else math.nan, bb / bt if bt else math.nan
        z, p_value = exact_test(cb, ct, bb, bt) if ct and bt else (math.nan, math.nan)
        figures = {"canary_ratio": pc, "baseline_ratio": pb, "effect": pc - pb, "z": z, "p_value": p_value}
        if self._decided is not None:
            return replace(self._decided, **figures, reason=f"decided at an earlier look: {self._decided.reason}")
        r = bt / ct if ct and bt else 1.0
        fixed = _fixed_canary(pb if bt else 0.5 - self.min_effect / 2, self.min_effect, self.alpha, self.power, r)
        planned = self.inflation * _for_exact_test(fixed, self.min_effect, r)  # canary events, at the ratio so far
        fraction = ct / planned if bt else 0.0
        base = {**figures, "information": fraction, "planned_per_arm": math.ceil(planned)}
        to_pass = max(math.ceil(planned - ct), math.ceil(self.min_sample - ct), 0)
        if not ct or not bt:
            return Look(INCONCLUSIVE, **base, boundary=math.nan, needed_canary=to_pass,
                        reason=f"no {'canary' if not ct else 'baseline'} events yet: the canary needs ~{to_pass}")
        floor = self._under_floor(ct, bt)
        if floor:
            return Look(INCONCLUSIVE, **base, boundary=math.nan, needed_canary=to_pass,
                        reason=f"{floor}: needs ~{to_pass} more canary events to pass")
        if not self._steps:
            self._scale = planned * r / (1 + r)
        info = ct * bt / (ct + bt)  # 1 / (1/ct + 1/bt): the information, in units of the pooled variance
        at = f"at {fraction:.0%} of the planned sample"
        return self._judged(base, self._boundary(info / self._scale, fraction), fraction, ct, bt, to_pass, at,
                            failed=lambda bound: f"canary {pc:.3%} against baseline {pb:.3%} (+{pc - pb:.3%}): z "
                                                 f"{z:.2f} crossed the boundary {bound:.2f} {at}",
                            passed=lambda bound: f"planned sample reached ({ct:.0f} canary events) without crossing "
                                                 f"the boundary {bound:.2f} (z {z:.2f}): not worse by "
                                                 f"{self.min_effect:.2%} at power {self.power:.0%}")


class MarginTest(_GroupSequential):
    """Is the canary's estimate above a tolerated margin? One look per call, on the estimate since the canary
    started: `estimate` (canary minus baseline, in the metric's unit or as a log ratio) and its `variance`,
    `margin` (the tolerance) and `design` (the estimate a fail must be likely at: twice the tolerance)."""

    KIND = "margin"

    def look(self, *, estimate: float, variance: float, margin: float, design: float, canary_value: float,
             baseline_value: float, canary_events: float, baseline_events: float) -> Look:
        ct, bt = _count("canary_events", canary_events), _count("baseline_events", baseline_events)
        for name, value in (("estimate", estimate), ("margin", margin), ("design", design)):
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, not {value!r}")
        if not design > margin:
            raise ValueError(f"the design ({design!r}) must exceed the margin ({margin!r})")
        if isinstance(variance, bool) or not isinstance(variance, Real) or not (variance > 0 and math.isfinite(variance)):
            raise ValueError(f"the variance must be a positive finite number, not {variance!r}")
        z = (estimate - margin) / math.sqrt(variance)
        figures = {"canary_ratio": canary_value, "baseline_ratio": baseline_value, "effect": estimate, "z": z,
                   "p_value": float(norm.sf(z))}
        if self._decided is not None:
            return replace(self._decided, **figures, reason=f"decided at an earlier look: {self._decided.reason}")
        information = 1 / variance
        planned_info = self.inflation * ((z_quantile(1 - self.alpha) + z_quantile(self.power)) / (design - margin)) ** 2
        fraction = information / planned_info
        planned = ct / fraction if ct else math.inf  # canary events, the information growing with them
        to_pass = max(math.ceil(planned - ct) if math.isfinite(planned) else 0, math.ceil(self.min_sample - ct), 0)
        base = {**figures, "information": fraction,
                "planned_per_arm": math.ceil(planned) if math.isfinite(planned) else 0}
        floor = self._under_floor(ct, bt)
        if floor:
            return Look(INCONCLUSIVE, **base, boundary=math.nan, needed_canary=to_pass,
                        reason=f"{floor}: needs more canary events to pass")
        if not self._steps:
            self._scale = planned_info
        at = f"at {fraction:.0%} of the planned information"
        return self._judged(base, self._boundary(information / self._scale, fraction), fraction, ct, bt, to_pass, at,
                            failed=lambda bound: f"{estimate:+.4g} against a tolerance of {margin:+.4g}: z {z:.2f} "
                                                 f"crossed the boundary {bound:.2f} {at}",
                            passed=lambda bound: f"planned information reached ({ct:.0f} canary events) without "
                                                 f"crossing the boundary {bound:.2f} (z {z:.2f}): within the "
                                                 f"tolerance, and {design:+.4g} would fail at power {self.power:.0%}")


def _short_of_minimum(canary: float, baseline: float, minimum: int) -> str:
    if canary >= minimum and baseline >= minimum:
        return ""
    return (f" (a pass needs {minimum} events in each arm: canary {canary:.0f}, baseline {baseline:.0f}"
            + (f", {minimum - baseline:.0f} more baseline" if baseline < minimum else "") + ")")
