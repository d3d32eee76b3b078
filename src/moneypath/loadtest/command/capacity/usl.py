"""The Universal Scalability Law (Gunther): throughput at concurrency N,

    X(N) = lambda * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))

lambda the throughput of one request in flight alone, sigma contention (a share of the work that
queues for one shared thing: a lock, a single event loop), kappa coherency (the cost of keeping
shared state consistent, which makes throughput fall past a peak). Fitted to measured (N, X)
points; N of an open-loop step is its mean concurrency by Little's law (throughput x mean time in
the system), so open-loop steps and a closed loop share one curve.

Pure: numpy only, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


class FitError(ValueError):
    """Too few or unusable points; one line."""


@dataclass(frozen=True)
class Usl:
    lam: float
    sigma: float
    kappa: float
    r2: float  # of X, on the fitted points

    def throughput(self, n: float) -> float:
        return self.lam * n / (1 + self.sigma * (n - 1) + self.kappa * n * (n - 1))

    @property
    def peak_concurrency(self) -> float:
        """The N of the highest throughput; infinite without coherency cost (the curve only flattens)."""
        if self.kappa <= 0:
            return math.inf
        return math.sqrt((1 - self.sigma) / self.kappa) if self.sigma < 1 else 1.0

    @property
    def peak_throughput(self) -> float:
        """X at the peak, or the asymptote lambda / sigma when there is no peak (inf with neither)."""
        n = self.peak_concurrency
        if math.isfinite(n):
            return self.throughput(n)
        return self.lam / self.sigma if self.sigma > 0 else math.inf

    def to_dict(self) -> dict:
        return {**asdict(self), "peak_concurrency": _finite(self.peak_concurrency),
                "peak_throughput": _finite(self.peak_throughput)}


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def little_concurrency(throughput: float, mean_response_s: float) -> float:
    """Mean requests in flight (Little's law), at least one."""
    return max(1.0, throughput * mean_response_s)


def _nonnegative_lsq(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """min ||a c - y|| with c >= 0 for two columns: the unconstrained solution, else the best one-column fit."""
    c, *_ = np.linalg.lstsq(a, y, rcond=None)
    if (c >= 0).all():
        return c
    best, best_err = np.zeros(2), float(np.sum(y * y))
    for i in range(2):
        col = a[:, i]
        denom = float(col @ col)
        if denom > 0:
            v = max(0.0, float(col @ y) / denom)
            trial = np.zeros(2)
            trial[i] = v
            err = float(np.sum((a @ trial - y) ** 2))
            if err < best_err:
                best, best_err = trial, err
    return best


def fit(points: list[tuple[float, float]]) -> Usl:
    """Least squares on X over a grid of lambda, sigma and kappa solved (non-negative) for each.
    Needs three points at distinct concurrencies."""
    pts = sorted((float(n), float(x)) for n, x in points if n >= 1 and x > 0)
    if len({round(n, 6) for n, _ in pts}) < 3:
        raise FitError(f"the Universal Scalability Law needs 3 points at distinct concurrency, got {len(pts)}")
    n = np.array([p[0] for p in pts])
    x = np.array([p[1] for p in pts])
    a = np.column_stack([n - 1, n * (n - 1)])
    floor = float(np.max(x / n))  # lambda is at least the best throughput per request in flight
    best: tuple[float, float, float, float] | None = None
    for lam in floor * np.geomspace(1.0, 50.0, 400):
        sigma, kappa = _nonnegative_lsq(a, lam * n / x - 1)
        model = lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))
        err = float(np.sum(((model - x) / x) ** 2))
        if best is None or err < best[0]:
            best = (err, float(lam), float(sigma), float(kappa))
    _, lam, sigma, kappa = best
    model = lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))
    total = float(np.sum((x - x.mean()) ** 2))
    r2 = 1 - float(np.sum((x - model) ** 2)) / total if total > 0 else 1.0
    return Usl(lam, sigma, kappa, r2)


def instances_for(volume: float, per_instance: float, contention: float, utilization: float = 1.0,
                  limit: int = 10_000) -> int | None:
    """Instances whose combined throughput n * per_instance / (1 + contention * (n - 1)) carries
    `volume` at `utilization`; None when no number of instances can (the shared part saturates first:
    the asymptote per_instance / contention is below the volume)."""
    if per_instance <= 0 or volume <= 0:
        raise ValueError("volume and per-instance throughput must be positive")
    for count in range(1, limit + 1):
        if count * per_instance * utilization / (1 + contention * (count - 1)) >= volume - 1e-9:
            return count
        if contention > 0 and count * per_instance / (1 + contention * (count - 1)) >= per_instance / contention * 0.999:
            return None
    return None
