"""What shift of authorization latency the catalog's histogram can resolve: the canary metric `latency_shift`
compares quantiles interpolated inside classic-histogram buckets, and a bucket wider than RESOLUTION x the
tolerated shift cannot tell a shift of that size from the interpolation's own error. `catalog check` refuses a
tolerance the buckets where healthy authorizations land do not resolve (canary_policy.canary_problems); the judge
(moneypath.canary.latency) leaves a look whose quantile lands in such a bucket not measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from moneypath.catalog.conventions import Key

RESOLUTION = 2.0  # a bucket resolves a tolerance when its width is at most RESOLUTION x the tolerance
DEFAULT_QUANTILES = (0.5, 0.9)


def bucket_bounds(buckets: Sequence[float]) -> list[tuple[float, float]]:
    """(lower, upper] of each finite bucket of a histogram's upper bounds: the first starts at 0."""
    uppers = [float(b) for b in buckets if math.isfinite(b)]
    return list(zip([0.0, *uppers[:-1]], uppers, strict=True))


def tolerance(baseline_quantile: float, shift: float | None, relative: float | None) -> float:
    """The shift tolerated at a quantile: max(shift, relative x the baseline's quantile)."""
    return max(shift or 0.0, (relative or 0.0) * baseline_quantile)


def resolves(lower: float, upper: float, tol: float) -> bool:
    """Whether the bucket (lower, upper] is fine enough to judge a shift of `tol` inside it."""
    return math.isfinite(upper) and tol > 0 and upper - lower <= RESOLUTION * tol * (1 + 1e-9)


def healthy_buckets(catalog) -> tuple[list[tuple[float, float]], float | None]:
    """The authorization histogram's buckets where healthy authorizations land, and the latency objective's
    threshold bounding them: the buckets up to the threshold of the catalog's latency SLO on the histogram, without
    one the whole histogram (threshold None); [] when the catalog lacks the histogram."""
    hist = catalog.signals.get(Key.AUTHORIZATION_DURATION_SECONDS)
    if hist is None or not hist.buckets:
        return [], None
    bounds = bucket_bounds(hist.buckets)
    for slo in catalog.slos.values():
        latency = slo.sli.latency
        if latency is not None and latency.signal == Key.AUTHORIZATION_DURATION_SECONDS:
            return [b for b in bounds if b[1] <= latency.under] or bounds[:1], float(latency.under)
    return bounds, None


def default_shift(bounds: Sequence[tuple[float, float]]) -> float | None:
    """Half the widest of these buckets: the finest shift every one of them resolves."""
    return max(hi - lo for lo, hi in bounds) / RESOLUTION if bounds else None


def unresolved(bounds: Sequence[tuple[float, float]], shift: float | None,
               relative: float | None) -> list[tuple[float, float]]:
    """The buckets that resolve the tolerance nowhere inside them (a relative one taken at the bucket's upper
    bound, where it is largest)."""
    return [(lo, hi) for lo, hi in bounds if not resolves(lo, hi, tolerance(hi, shift, relative))]


def describe(bounds: Sequence[tuple[float, float]]) -> str:
    return ", ".join(f"({lo:g}, {hi:g}]" for lo, hi in bounds)
