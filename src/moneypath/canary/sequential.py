"""The canary gate's statistics: one metric's one-sided two-proportion test, group-sequential.

Is the canary's bad-event share (errors, declines, slow authorizations) worse than its baseline's? Each
`SequentialTest.look` takes the counts since the canary started and says fail (the canary is worse), pass (the
planned information is reached without that, so the test had `power` against `min_effect`), or inconclusive (it
needs more data: how many more canary events). Neither before `min_sample` events in each arm.

Lan-DeMets' O'Brien-Fleming-type alpha spending, alpha(t) = 2 - 2 Phi(z_{alpha/2} / sqrt(t)), over the
information fraction t: the information of the counts so far, 1 / var(canary share - baseline share) under the
pooled share, against the planned maximum (`inflation` times the fixed-sample test's). A look's boundary is the z
whose crossing probability, given no crossing at the earlier looks, is the alpha newly spent: z sqrt(information)
is a Brownian motion under H0, and its density below the earlier boundaries is carried from look to look on a
grid (Armitage, McPherson and Rowe's recursive integration; Jennison and Turnbull, Group Sequential Methods,
ch. 19). Any number of looks whose timing does not depend on the bad events keeps the false-fail rate at alpha.
Each look's z is Fisher's exact test's (its one-sided p as a standard normal quantile): the pooled z's normal
approximation errs high for rare bad events; the plan takes the continuity correction that test needs.

Several metrics judged at once share the error rate: the judge gives each test alpha / number of metrics
(Bonferroni). docs/decisions/0016-canary-sequential-test.md says
why this test and what it costs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from numbers import Real
from statistics import NormalDist

import numpy as np
from scipy.special import log_ndtr, logsumexp, ndtri_exp
from scipy.stats import hypergeom

from moneypath._common.verdict import FAIL, PASS

MIN_STEP = 0.002  # a call adding less information (fraction of the plan) is not a look: the grid's resolution
GRID = 0.005  # the grid's spacing on the z * sqrt(t) scale: alpha within 0.13 % of its value at MIN_STEP looks
INFLATION_GRID = 0.02  # a coarser grid for `inflation`: errs high, the power on GRID comes out 0.002 above
REFERENCE_LOOKS = 100  # the inflation keeps `power` with a look every 1 % of the plan (more looks lose ~0.002)
SPREAD = 9.0  # the grid reaches 9 standard deviations below the mean (and above it before any boundary)
STATE_VERSION = 1
INCONCLUSIVE = "inconclusive"  # a look's word while the test needs more data: no verdict yet

_NORMAL = NormalDist()
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def spent(t: float, alpha: float) -> float:
    """Lan-DeMets' O'Brien-Fleming-type spending function: the one-sided alpha spent by information fraction t."""
    if t >= 1:
        return alpha
    if t <= 0:
        return 0.0
    return math.erfc(_NORMAL.inv_cdf(1 - alpha / 2) / math.sqrt(2 * t))


class _Density:
    """The sub-density of the score S(T) = z sqrt(T) on paths that crossed no boundary yet, on a grid of
    `spacing` up to the last boundary (plus that boundary as a last node); at T = 0 a point mass at 0.
    `drift` is the score's mean per unit T (0 under H0)."""

    def __init__(self, drift: float = 0.0, spacing: float = GRID):
        self.drift, self.time, self.spacing = drift, 0.0, spacing
        self.first = 0  # grid index of the first uniform node: u_i = (first + i) * self.spacing
        self.values = np.zeros(0)  # density at the uniform nodes
        self.extra = [(0.0, 1.0, 1.0)]  # (u, weight, density) of nodes off the grid: the point mass, the boundary

    def _nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Every node's position and weight x density (trapezoid weights; the boundary node closes the last cell)."""
        count = self.values.size
        u = (self.first + np.arange(count)) * self.spacing
        weights = np.full(count, self.spacing)
        if count:
            weights[0] = weights[-1] = self.spacing / 2
        mass = weights * self.values
        if count and self.extra:  # the boundary node: the last cell, partial
            end, _, f_end = self.extra[0]
            gap = end - u[-1]
            mass[-1] += gap / 2 * self.values[-1]
            return np.append(u, end), np.append(mass, gap / 2 * f_end)
        return np.append(u, [e[0] for e in self.extra]), np.append(mass, [e[1] * e[2] for e in self.extra])

    def _log_tail(self, c: float, u: np.ndarray, log_mass: np.ndarray, sigma: float, shift: float) -> float:
        return logsumexp(log_mass + log_ndtr((u + shift - c) / sigma))

    def solve(self, time: float, log_increment: float) -> float:
        """The boundary on the score scale at `time` whose crossing probability is exp(log_increment)."""
        sigma, shift = math.sqrt(time - self.time), self.drift * (time - self.time)
        u, mass = self._nodes()
        keep = mass > 0
        u, log_mass = u[keep] + shift, np.log(mass[keep])
        top = float(u.max())
        near = u > top - 40 * sigma  # farther nodes add less than exp(-800) of their mass to any tail that matters
        u, log_mass = u[near], log_mass[near]

        def gap_and_slope(c: float) -> tuple[float, float]:
            x = (c - u) / sigma
            log_tail = logsumexp(log_mass + log_ndtr(-x))
            log_density = logsumexp(log_mass - x * x / 2) - _LOG_SQRT_2PI - math.log(sigma)
            return log_tail - log_increment, -math.exp(log_density - log_tail)

        # Safeguarded Newton: log tail is concave and decreasing in c, so from the right of the root Newton
        # converges monotonically; a step out of the bracket found so far bisects instead.
        lo, hi, c = -math.inf, math.inf, top
        for _ in range(200):
            gap, slope = gap_and_slope(c)
            if abs(gap) < 1e-10:
                return c
            if gap > 0:
                lo = c
            else:
                hi = c
            if hi - lo < 1e-12:
                return c
            step = c - gap / slope if slope < 0 and math.isfinite(slope) else math.nan
            if not lo < step < hi:
                step = (lo + hi) / 2 if math.isfinite(lo) and math.isfinite(hi) else (
                    c + 4 * sigma if gap > 0 else c - 4 * sigma)
            c = step
        raise ArithmeticError("the boundary search did not converge")

    def advance(self, time: float, boundary: float) -> float:
        """Move to `time`, absorb what crosses `boundary` (inf: nothing); the probability absorbed."""
        sigma, shift = math.sqrt(time - self.time), self.drift * (time - self.time)
        u, mass = self._nodes()
        absorbed = 0.0
        if math.isfinite(boundary):
            keep = (mass > 0) & (u > boundary - shift - 40 * sigma)  # as in solve
            absorbed = math.exp(self._log_tail(boundary, u[keep], np.log(mass[keep]), sigma, shift))
        mean, spread = self.drift * time, SPREAD * math.sqrt(time)
        top = boundary if math.isfinite(boundary) else max(float(u.max()) + shift + SPREAD * sigma, mean + spread)
        first, last = math.floor((mean - spread) / self.spacing), math.floor(top / self.spacing)
        if last < first:  # everything crossed: nothing is left to carry
            first, last = math.floor(top / self.spacing) - 1, math.floor(top / self.spacing)
        grid = np.arange(first, last + 1) * self.spacing
        values = np.zeros(grid.size)
        uniform = self.values.size
        if uniform:  # the uniform nodes: a discrete convolution with the Gaussian kernel
            lo_d = math.floor((shift - SPREAD * sigma) / self.spacing)
            hi_d = math.ceil((shift + SPREAD * sigma) / self.spacing)
            d = np.arange(lo_d, hi_d + 1) * self.spacing - shift
            kernel = np.exp(-(d / sigma) ** 2 / 2 - _LOG_SQRT_2PI) / sigma
            full = np.convolve(mass[:uniform], kernel)  # full[p] lands on grid index self.first + lo_d + p
            start = self.first + lo_d
            a, b = max(first, start), min(last, start + full.size - 1)
            if a <= b:
                values[a - first:b - first + 1] = full[a - start:b - start + 1]
        off_grid = [(u[i], mass[i]) for i in range(uniform, u.size)]
        for node, m in off_grid:
            values += m * np.exp(-((grid - node - shift) / sigma) ** 2 / 2 - _LOG_SQRT_2PI) / sigma
        self.extra = []
        if math.isfinite(boundary):
            f_end = float(np.sum(mass * np.exp(-((boundary - u - shift) / sigma) ** 2 / 2 - _LOG_SQRT_2PI) / sigma))
            self.extra = [(boundary, 0.0, f_end)]
        self.first, self.values, self.time = first, values, time
        return absorbed


def obf_boundaries(fractions: list[float], alpha: float, spacing: float = GRID) -> list[float]:
    """The z boundaries of Lan-DeMets' O'Brien-Fleming-type spending at these information fractions (increasing,
    the last one 1 or more)."""
    density, used, out = _Density(spacing=spacing), 0.0, []
    for t in fractions:
        increment = spent(t, alpha) - used
        if increment <= 0 or increment < 1e-9 * used:
            density.advance(t, math.inf)
            out.append(math.inf)
            continue
        c = density.solve(t, math.log(increment))
        used += density.advance(t, c)
        out.append(c / math.sqrt(t))
    return out


def crossing_probability(times: list[float], boundaries: list[float], drift: float, spacing: float = GRID) -> float:
    """The probability that z crosses one of these boundaries at these information times when the score
    z sqrt(time) drifts by `drift` per unit time (the power, for the drift of an alternative)."""
    density, total = _Density(drift, spacing), 0.0
    for t, b in zip(times, boundaries, strict=True):
        total += density.advance(t, b * math.sqrt(t))
    return total


def _z(level: float) -> float:
    return _NORMAL.inv_cdf(level)


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
    h0 = _z(1 - alpha) * math.sqrt(pooled * (1 - pooled) * (1 + 1 / r))
    h1 = _z(power) * math.sqrt(p2 * (1 - p2) + p1 * (1 - p1) / r)
    return ((h0 + h1) / delta) ** 2


def _for_exact_test(n: float, delta: float, r: float) -> float:
    """The fixed-sample n with Fleiss, Tytun and Ury's continuity correction: what Fisher's exact test needs for
    the power the normal approximation's n would have."""
    return n / 4 * (1 + math.sqrt(1 + 2 * (r + 1) / (r * n * delta))) ** 2


@lru_cache(maxsize=64)
def inflation(alpha: float, power: float) -> float:
    """The planned maximum information over the fixed-sample test's, so that the sequential test keeps `power`
    with a look every 1 % of the plan (REFERENCE_LOOKS); about 1.05 at alpha 0.007, 1.08 at 0.05."""
    fractions = [(k + 1) / REFERENCE_LOOKS for k in range(REFERENCE_LOOKS)]
    bounds = obf_boundaries(fractions, alpha, INFLATION_GRID)
    drift = _z(1 - alpha) + _z(power)  # the score's drift per fixed-sample information, under min_effect

    def short(r: float) -> float:
        return crossing_probability([r * t for t in fractions], bounds, drift, INFLATION_GRID) - power

    lo, hi = 1.0, 1.3
    f_lo, f_hi = short(lo), short(hi)
    for _ in range(30):  # regula falsi (Illinois), power rising with r
        if f_lo >= 0 or hi - lo < 1e-4:
            break
        mid = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        f_mid = short(mid)
        if f_mid < 0:
            lo, f_lo, f_hi = mid, f_mid, f_hi / 2
        else:
            hi, f_hi, f_lo = mid, f_mid, f_lo / 2
    return hi if f_lo < 0 else lo


def exact_test(canary_bad: float, canary_total: float, baseline_bad: float, baseline_total: float) -> tuple[float, float]:
    """(z, p): Fisher's exact test, one-sided, that the canary's share is the higher. Given the bad events in
    all, the canary's are hypergeometric when the shares are equal; p = P(at least the canary's), z its standard
    normal quantile. With many bad events this is the pooled two-proportion z; with few it never errs high as
    the normal approximation does (a rare event's tail is heavier). Counts are rounded to whole events."""
    drawn, total = round(canary_total), round(canary_total) + round(baseline_total)
    k, bad = round(canary_bad), round(canary_bad) + round(baseline_bad)
    log_p = 0.0 if k <= 0 else float(hypergeom.logsf(k - 1, total, bad, drawn))
    return max(-8.0, -float(ndtri_exp(log_p))), math.exp(log_p)


def _check_design(alpha: float, power: float, min_effect: float) -> None:
    for name, value, low, high in (("alpha", alpha, 0, 0.5), ("power", power, 0, 1), ("min_effect", min_effect, 0, 1)):
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


class SequentialTest:
    """One metric's group-sequential test; each look() is one look, on the counts since the canary started."""

    def __init__(self, *, alpha: float, power: float, min_effect: float, min_sample: int):
        _check_design(alpha, power, min_effect)
        if isinstance(min_sample, bool) or not isinstance(min_sample, int) or min_sample < 1:
            raise ValueError(f"min_sample must be a whole number of events, 1 or more, not {min_sample!r}")
        self.alpha, self.power, self.min_effect, self.min_sample = float(alpha), float(power), float(min_effect), min_sample
        self.inflation = inflation(self.alpha, self.power)
        self._density = _Density()
        self._scale = math.nan  # planned information (events) at the first look: the unit of the density's time
        self._used = 0.0  # alpha spent so far
        self._fraction = 0.0  # the largest information fraction spent at
        self._steps: list[tuple[float, float, float]] = []  # (time, fraction, boundary on the score scale)
        self._decided: Look | None = None

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
        if not ct or not bt:
            return Look(INCONCLUSIVE, **base, boundary=math.nan, needed_canary=max(math.ceil(planned - ct), 0),
                        reason=f"no {'canary' if not ct else 'baseline'} events yet: the canary needs ~{math.ceil(planned)}")
        if ct < self.min_sample or bt < self.min_sample:
            needed = max(math.ceil(planned - ct), math.ceil(self.min_sample - ct), 0)
            return Look(INCONCLUSIVE, **base, boundary=math.nan, needed_canary=needed,
                        reason=f"{ct:.0f} canary and {bt:.0f} baseline events, under the minimum of {self.min_sample} "
                               f"each: needs ~{needed} more canary events"
                               + ("" if bt >= self.min_sample else f" and {self.min_sample - bt:.0f} more baseline"))
        info = ct * bt / (ct + bt)  # 1 / (1/ct + 1/bt): the information, in units of the pooled variance
        if not self._steps:
            self._scale = planned * r / (1 + r)
        time = info / self._scale
        last = self._steps[-1][0] if self._steps else 0.0
        if time - last < MIN_STEP:
            next_canary = (last + MIN_STEP) * self._scale * (1 + r) / r
            needed = max(math.ceil(planned - ct), math.ceil(next_canary - ct), 0)
            return Look(INCONCLUSIVE, **base, boundary=math.nan, needed_canary=needed,
                        reason=f"not a look: under {MIN_STEP:.1%} of the planned information since the last one; "
                               f"needs ~{needed} more canary events")
        final = fraction >= 1
        self._fraction = 1.0 if final else max(self._fraction, fraction)
        increment = spent(self._fraction, self.alpha) - self._used
        boundary = math.inf
        if increment > 1e-9 * self._used and increment > 0:
            boundary = self._density.solve(time, math.log(increment))
        self._used += self._density.advance(time, boundary)
        self._steps.append((time, self._fraction, boundary))
        bound_z = boundary / math.sqrt(time)
        at = f"at {fraction:.0%} of the planned sample"
        if z >= bound_z:
            verdict, needed = FAIL, 0
            reason = (f"canary {pc:.3%} against baseline {pb:.3%} (+{pc - pb:.3%}): z {z:.2f} crossed the "
                      f"boundary {bound_z:.2f} {at}")
        elif final:
            verdict, needed = PASS, 0
            reason = (f"planned sample reached ({ct:.0f} canary events) without crossing the boundary "
                      f"{bound_z:.2f} (z {z:.2f}): not worse by {self.min_effect:.2%} at power {self.power:.0%}")
        else:
            verdict, needed = INCONCLUSIVE, max(math.ceil(planned - ct), 0)
            reason = (f"inconclusive {at}: z {z:.2f} under the boundary {bound_z:.2f}; needs ~{needed} more "
                      f"canary events to pass")
        result = Look(verdict, **base, boundary=bound_z, needed_canary=needed, reason=reason)
        if verdict != INCONCLUSIVE:
            self._decided = result
        return result

    def to_dict(self) -> dict:
        """The test's state as JSON-safe data, so a judge keeps it between processes (from_dict replays it)."""
        return {"version": STATE_VERSION, "alpha": self.alpha, "power": self.power, "min_effect": self.min_effect,
                "min_sample": self.min_sample, "inflation": self.inflation, "scale": _json(self._scale),
                "steps": [[t, f, _json(b)] for t, f, b in self._steps],
                "decided": None if self._decided is None else self._decided.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> SequentialTest:
        """A test from to_dict()'s data: the looks are replayed, and each must spend what it spent then."""
        try:
            if data["version"] != STATE_VERSION:
                raise ValueError(f"state version {data['version']!r}, this code reads {STATE_VERSION}")
            test = cls(alpha=data["alpha"], power=data["power"], min_effect=data["min_effect"],
                       min_sample=data["min_sample"])
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
