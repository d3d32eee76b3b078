"""Group-sequential error spending: how much of a test's alpha each look may spend, and the z boundary that spends
exactly that given the earlier looks.

The spending function is Hwang, Shih and DeCani's with gamma -4 (gsDesign's default): like O'Brien-Fleming's it keeps
most of alpha for the planned end, so a test at its planned sample is nearly as powerful as a fixed one, but it
spends a little from the first look on, so overwhelming evidence (nine canary payments in ten failing) can fail a
test after a handful of events. The boundaries: the score z sqrt(t) is a Brownian motion under H0; its density
below the earlier boundaries is carried from look to look on a grid (Armitage, McPherson and Rowe's recursive
integration; Jennison and Turnbull, Group Sequential Methods, ch. 19), and each boundary is solved so that the
probability of crossing it first there is the alpha newly spent. docs/decisions/0016-canary-sequential-test.md
and 0021-canary-fail-fast.md say why.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np
from scipy.signal import oaconvolve
from scipy.special import log_ndtr, logsumexp

GAMMA = -4.0  # Hwang-Shih-DeCani's parameter: -4 spends like O'Brien-Fleming's late, a little more early
GRID = 0.005  # the grid's spacing on the z * sqrt(t) scale: alpha within 0.13 % of its value at MIN_STEP looks
INFLATION_GRID = 0.02  # a coarser grid for `inflation`: errs high, the power on GRID comes out 0.002 above
REFERENCE_LOOKS = 100  # the inflation keeps `power` with a look every 1 % of the plan (more looks lose ~0.002)
SPREAD = 9.0  # the grid reaches 9 standard deviations below the mean (and above it before any boundary)

_NORMAL = NormalDist()
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def z_quantile(level: float) -> float:
    return _NORMAL.inv_cdf(level)


def spent(t: float, alpha: float) -> float:
    """Hwang, Shih and DeCani's spending function with gamma -4: the one-sided alpha spent by information
    fraction t, alpha (1 - exp(4 t)) / (1 - exp(4))."""
    if t >= 1:
        return alpha
    if t <= 0:
        return 0.0
    return alpha * math.expm1(-GAMMA * t) / math.expm1(-GAMMA)


# Above this many products a direct convolution costs more than one by FFT (overlap-add), whose rounding (~1e-16 of
# the peak, clipped at 0) is far below any probability the boundaries are solved to.
_DIRECT_PRODUCTS = 200_000


def _convolve(mass: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    if mass.size * kernel.size <= _DIRECT_PRODUCTS:
        return np.convolve(mass, kernel)
    return np.maximum(oaconvolve(mass, kernel), 0.0)


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
        top = float(u.max())  # every node counts: the boundary may lie far below the grid's top (after a look
        # that spent nothing), and what it spends must be what advance() absorbs, to the replay's precision

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
            full = _convolve(mass[:uniform], kernel)  # full[p] lands on grid index self.first + lo_d + p
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


def boundaries(fractions: list[float], alpha: float, spacing: float = GRID) -> list[float]:
    """The z boundaries of the spending function at these information fractions (increasing, the last one 1 or
    more)."""
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


@lru_cache(maxsize=64)
def inflation(alpha: float, power: float) -> float:
    """The planned maximum information over the fixed-sample test's, so that the sequential test keeps `power`
    with a look every 1 % of the plan (REFERENCE_LOOKS); about 1.05 at alpha 0.007, 1.08 at 0.05."""
    fractions = [(k + 1) / REFERENCE_LOOKS for k in range(REFERENCE_LOOKS)]
    bounds = boundaries(fractions, alpha, INFLATION_GRID)
    drift = z_quantile(1 - alpha) + z_quantile(power)  # the score's drift per fixed-sample information, under min_effect

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


