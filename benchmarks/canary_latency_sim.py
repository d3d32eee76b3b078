"""The canary metric latency_shift on synthetic canaries (figures, not pass/fail).

    .venv/bin/python benchmarks/canary_latency_sim.py [--seed 62] [--runs 400]

Latencies are lognormal like a payment provider's (median 80 ms, sigma 0.5: p99 256 ms, under the reference
catalog's 300 ms objective), binned into the reference catalog's authorization buckets; the canary adds the same
delay to every authorization. 10 % of 20 payments/s on the canary, a look every 5 s on the cumulative bucket counts
since the start, judged as the judge does (moneypath.canary.latency: interpolated quantiles, Woodruff variances,
the resolution rule; the real MarginTest, one per compared quantile, alpha split over the judge's tests). The
tolerance is the catalog's default: half the widest bucket up to the latency objective's threshold.

Rows: a delay of twice the tolerance (share failed, median canary events and seconds to fail), of the tolerance
(share failed: at most about alpha per quantile, the margin's calibration), half the tolerance (share passed: goal
>= 95 %), none (share failed: false fails). `run(seed, runs)` returns them for
benchmarks/bench_canary.py. docs/decisions/0020-canary-latency-distribution.md quotes them.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import numpy as np

if not __package__:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from moneypath._common.verdict import FAIL, PASS  # noqa: E402
from moneypath.canary import latency  # noqa: E402
from moneypath.canary.sequential import INCONCLUSIVE, MarginTest  # noqa: E402
from moneypath.catalog import latency_resolution  # noqa: E402

BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5)  # the reference catalog's authorization histogram
OBJECTIVE = 0.3  # its latency SLO's threshold
MEDIAN, SIGMA = 0.080, 0.5
RATE, SPLIT, LOOK_S, MAX_S = 20.0, 0.10, 5.0, 1800.0
QUANTILES = (0.5, 0.9)
FAMILY_ALPHA, POWER, MIN_SAMPLE = 0.05, 0.8, 100
TESTS = 9  # the judge's tests on the reference catalog's default metrics, these two included: the alpha split
CASES = (("2x tolerance", 2.0, FAIL), ("1x tolerance", 1.0, FAIL), ("0.5x tolerance", 0.5, PASS),
         ("no shift", 0.0, FAIL))


def _counts(rng: np.random.Generator, n: int, delay: float) -> np.ndarray:
    """Per-bucket counts (the finite buckets, then +Inf) of n draws."""
    draws = rng.lognormal(math.log(MEDIAN), SIGMA, n) + delay
    return np.bincount(np.searchsorted(BUCKETS, draws, side="left"), minlength=len(BUCKETS) + 1)


def one_canary(rng: np.random.Generator, delay: float, shift: float, alpha: float) -> tuple[str, float, float]:
    """(verdict, canary events, seconds) of one canary: fail at the first test failing, pass once all passed."""
    uppers = [*BUCKETS, math.inf]
    tests = {q: MarginTest(alpha=alpha, power=POWER, min_sample=MIN_SAMPLE) for q in QUANTILES}
    done: dict[float, str] = {}
    per_look = {"canary": RATE * SPLIT * LOOK_S, "baseline": RATE * (1 - SPLIT) * LOOK_S}
    totals = {arm: np.zeros(len(uppers)) for arm in per_look}
    at = 0.0
    while at < MAX_S:
        at += LOOK_S
        for arm, mean in per_look.items():
            totals[arm] += _counts(rng, rng.poisson(mean), delay if arm == "canary" else 0.0)
        arms = {arm: (uppers, list(np.cumsum(t))) for arm, t in totals.items()}
        if min(a[1][-1] for a in arms.values()) == 0:
            continue
        for q in QUANTILES:
            if q in done:
                continue
            cmp = latency.compare(arms["canary"], arms["baseline"], q, shift, None)
            if cmp.unjudged or not cmp.variance > 0:
                continue
            seen = tests[q].look(estimate=cmp.estimate, variance=cmp.variance, margin=cmp.tolerance,
                                 design=2 * cmp.tolerance, canary_value=cmp.canary.value,
                                 baseline_value=cmp.baseline.value, canary_events=cmp.canary.events,
                                 baseline_events=cmp.baseline.events)
            if seen.verdict == FAIL:
                return FAIL, float(arms["canary"][1][-1]), at
            if seen.verdict != INCONCLUSIVE:
                done[q] = seen.verdict
        if len(done) == len(QUANTILES):
            return PASS, float(arms["canary"][1][-1]), at
    return INCONCLUSIVE, float(totals["canary"].sum()), at


def default_tolerance() -> float:
    """The catalog's default shift: half the widest bucket up to the latency objective's threshold."""
    return latency_resolution.default_shift(latency_resolution.bucket_bounds([b for b in BUCKETS if b <= OBJECTIVE]))


def run(seed: int, runs: int) -> list[dict]:
    """One row per case: the delay, the tolerance, the share of runs with the expected verdict, and for the
    failing case the median canary events and seconds to fail."""
    shift = default_tolerance()
    alpha = FAMILY_ALPHA / TESTS
    rows = []
    for i, (name, times, expected) in enumerate(CASES):
        rng = np.random.default_rng([seed, i])
        results = [one_canary(rng, times * shift, shift, alpha) for _ in range(runs)]
        hits = [r for r in results if r[0] == expected]
        failed = [r for r in results if r[0] == FAIL]
        rows.append({"case": name, "delay_s": times * shift, "tolerance_s": shift, "runs": runs,
                     "expected": expected, "share": len(hits) / runs,
                     "inconclusive": sum(r[0] == INCONCLUSIVE for r in results) / runs,
                     "median_canary_events_to_fail": statistics.median(r[1] for r in failed) if failed else None,
                     "median_s_to_fail": statistics.median(r[2] for r in failed) if failed else None,
                     "median_canary_events_at_verdict": statistics.median(r[1] for r in results)})
    return rows


def _table(rows: list[dict]) -> str:
    lines = [f"{'case':<16}{'delay':>8}{'share':>22}{'to fail (median)':>26}{'events at verdict':>20}"]
    for r in rows:
        word = "failed" if r["expected"] == FAIL else "passed"
        fail = (f"{r['median_canary_events_to_fail']:.0f} ev, {r['median_s_to_fail']:.0f} s"
                if r["median_canary_events_to_fail"] is not None else "—")
        lines.append(f"{r['case']:<16}{r['delay_s'] * 1000:>6.0f}ms{r['share']:>14.1%} {word:<7}{fail:>26}"
                     f"{r['median_canary_events_at_verdict']:>20.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=62)
    parser.add_argument("--runs", type=int, default=400)
    args = parser.parse_args(argv)
    rows = run(args.seed, args.runs)
    print(f"latency_shift, seed {args.seed}, {args.runs} runs per case, tolerance {rows[0]['tolerance_s'] * 1000:.0f} ms "
          f"at p{', p'.join(f'{q * 100:g}' for q in QUANTILES)}, alpha {FAMILY_ALPHA}/{TESTS}, power {POWER}")
    print(_table(rows))


if __name__ == "__main__":
    main()
