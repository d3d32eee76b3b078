"""Cost per transaction judged with an interval, on synthetic canaries (figures, not pass/fail).

    .venv/bin/python benchmarks/canary_cost_sim.py [--seed 62] [--runs 200] [--alpha 0.005] [--cases healthy]

20 payments/s in all, 10 % on the canary, each second's payments Poisson; each payment costs a fee mix, 2.9 % of
a lognormal amount (median USD 40, sigma 1: skewed) plus USD 0.30. Both arms' cost and payments are summed per
second, read back as the judge reads Prometheus (differences of the counters at each interval's edges): at each
look (every 5 s) the window since the start is cut into intervals of moneypath.canary.cost_ratio.step_seconds,
rounded up to whole seconds (a 2.5 s scrape: at least 3 s, at most MAX_INTERVALS of them) ending at the look, and
judged by moneypath.canary.cost_ratio (ratio estimator, delta-method variance, t widening, the real MarginTest
at `alpha`, power 0.8, min_sample 100, min_effect 0.10) until it passes or fails, or 3 hours.
Three canaries: dearer by twice the tolerance (+20 %: should fail), by half of it (+5 %: should pass at least
95 % of the time), and as dear as the baseline (the false-fail rate); with --cases tolerance, one dearer by exactly
the tolerance, which the test may fail at most alpha of the time. What it leaves out: scrape timing (a payment
counted at the scrape after it, the same for its cost and its count), counter resets, and costs that vary over the
day (both arms see the same hours).

`run(seed, runs)` gives the rows (benchmarks/bench_canary.py prints them beside its own).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

if not __package__:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from moneypath._common.verdict import FAIL, PASS  # noqa: E402
from moneypath.canary import cost_ratio as cost  # noqa: E402
from moneypath.canary.sequential import INCONCLUSIVE, MarginTest  # noqa: E402

RATE, SPLIT = 20.0, 0.10  # payments per second in all, the canary's share
SCRAPE_S, LOOK_EVERY_S, LONGEST_S = 2.5, 5, 3 * 3600
MIN_EFFECT, POWER, MIN_SAMPLE = 0.10, 0.8, 100
ALPHA = 0.05 / 10  # one of the shipped catalog's 10 tests
FEE_SHARE, FEE_FIXED, AMOUNT_MEDIAN, AMOUNT_SIGMA = 0.029, 0.30, 40.0, 1.0
CASES = {"dearer": ("+2x the tolerance", 2.0, FAIL), "half": ("+0.5x the tolerance", 0.5, PASS),
         "healthy": ("+0 (healthy)", 0.0, PASS),
         "tolerance": ("+1x (at the tolerance)", 1.0, PASS)}  # the test's alpha: fails at most alpha of the time
DEFAULT_CASES = ("dearer", "half", "healthy")


def _seconds(rng: np.random.Generator, rate: float, seconds: int, dearer: float) -> tuple[np.ndarray, np.ndarray]:
    """Each second's payments and their cost: cumulative sums from 0, one entry per second plus the start."""
    counts = rng.poisson(rate, size=seconds)
    fees = (FEE_SHARE * rng.lognormal(math.log(AMOUNT_MEDIAN), AMOUNT_SIGMA, size=int(counts.sum())) + FEE_FIXED)
    fees *= 1 + dearer
    per_second = np.bincount(np.repeat(np.arange(seconds), counts), weights=fees, minlength=seconds)
    return np.r_[0, np.cumsum(counts)], np.r_[0.0, np.cumsum(per_second)]


def _intervals(cum: np.ndarray, now: int, step: int) -> list[float]:
    m = now // step
    edges = now - step * np.arange(m, -1, -1)
    return np.diff(cum[edges]).tolist()


def run_one(rng: np.random.Generator, dearer: float, alpha: float = ALPHA) -> tuple[str, float, int]:
    """(verdict, canary payments at it, seconds to it) of one canary dearer by `dearer` (relative)."""
    canary = _seconds(rng, RATE * SPLIT, LONGEST_S, dearer)
    baseline = _seconds(rng, RATE * (1 - SPLIT), LONGEST_S, 0.0)
    test = MarginTest(alpha=alpha, power=POWER, min_sample=MIN_SAMPLE)
    for now in range(LOOK_EVERY_S, LONGEST_S + 1, LOOK_EVERY_S):
        step = math.ceil(cost.step_seconds(now, SCRAPE_S))  # the draws are per second
        if now // step < cost.MIN_INTERVALS:
            continue
        arms = [cost.ratio_estimate(_intervals(cum_cost, now, step), _intervals(cum_n, now, step))
                for cum_n, cum_cost in (canary, baseline)]
        if cost.unsound(*arms, step):
            continue
        seen, _ = cost.look(test, *arms, MIN_EFFECT, alpha)
        if seen.verdict != INCONCLUSIVE:
            return seen.verdict, arms[0].transactions, now
    return INCONCLUSIVE, float(canary[0][-1]), LONGEST_S


def fixed_sample(alpha: float = ALPHA) -> float:
    """Canary payments a fixed-sample test of the log ratio needs at `alpha` and POWER against twice the
    tolerance: ((z_a + z_b) / (ln 1.2 - ln 1.1))^2 cv^2 (1 + canary / baseline), cv the per-payment cost's (the
    ratio estimator's variance is the per-payment cost's over the payments: how many came in each interval
    cancels)."""
    mean_amount = AMOUNT_MEDIAN * math.exp(AMOUNT_SIGMA ** 2 / 2)
    sd_amount = mean_amount * math.sqrt(math.exp(AMOUNT_SIGMA ** 2) - 1)
    cv2 = (FEE_SHARE * sd_amount) ** 2 / (FEE_SHARE * mean_amount + FEE_FIXED) ** 2
    margin, design = cost.margins(MIN_EFFECT)
    z = statistics.NormalDist().inv_cdf
    return ((z(1 - alpha) + z(POWER)) / (design - margin)) ** 2 * cv2 * (1 + SPLIT / (1 - SPLIT))


def run(seed: int, runs: int, alpha: float = ALPHA, cases: tuple[str, ...] = DEFAULT_CASES) -> list[dict]:
    """One row per case (CASES' keys): its share failed and passed, the median canary payments and minutes to a
    fail (or to a pass), over `runs` synthetic canaries."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, times, expected in (CASES[case] for case in cases):
        outcomes = [run_one(rng, times * MIN_EFFECT, alpha) for _ in range(runs)]
        failed = [(n, s) for v, n, s in outcomes if v == FAIL]
        passed = [(n, s) for v, n, s in outcomes if v == PASS]
        row = {"case": name, "dearer": times * MIN_EFFECT, "expected": str(expected), "runs": runs, "seed": seed,
               "alpha": alpha, "failed": len(failed) / runs, "passed": len(passed) / runs,
               "undecided": (runs - len(failed) - len(passed)) / runs, "fixed_sample": round(fixed_sample(alpha))}
        for word, decided in (("fail", failed), ("pass", passed)):
            row[f"median_canary_to_{word}"] = statistics.median(n for n, _ in decided) if decided else None
            row[f"median_minutes_to_{word}"] = statistics.median(s for _, s in decided) / 60 if decided else None
        rows.append(row)
    return rows


def _figure(value, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=62, help="the draws' seed (default %(default)s)")
    parser.add_argument("--runs", type=int, default=200, help="canaries per case (default %(default)s)")
    parser.add_argument("--alpha", type=float, default=ALPHA, help="the test's alpha (default %(default)s: "
                        "0.05 over the shipped catalog's 10 tests)")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help="which canaries, comma-separated, of "
                        f"{', '.join(CASES)} (default %(default)s)")
    args = parser.parse_args()
    cases = tuple(args.cases.split(","))
    if args.runs < 1 or not 0 < args.alpha < 0.5 or not set(cases) <= set(CASES):
        raise SystemExit(f"canary_cost_sim: --runs >= 1, 0 < --alpha < 0.5, --cases among {', '.join(CASES)}")
    started = time.perf_counter()
    rows = run(args.seed, args.runs, args.alpha, cases)
    print(f"cost per transaction, min_effect {MIN_EFFECT:.0%}, alpha {args.alpha:g}, power {POWER:.0%}, "
          f"{RATE:g} payments/s, {SPLIT:.0%} canary, a look every {LOOK_EVERY_S} s, seed {args.seed}, "
          f"{args.runs} runs a case; the fixed-sample test needs {rows[0]['fixed_sample']} canary payments")
    print(f"{'case':<22} {'failed':>7} {'passed':>7} {'neither':>7} {'median canary to fail':>22} {'(min)':>6} "
          f"{'median canary to pass':>22} {'(min)':>6}")
    for r in rows:
        print(f"{r['case']:<22} {r['failed']:>7.1%} {r['passed']:>7.1%} {r['undecided']:>7.1%} "
              f"{_figure(r['median_canary_to_fail'], '.0f'):>22} {_figure(r['median_minutes_to_fail'], '.1f'):>6} "
              f"{_figure(r['median_canary_to_pass'], '.0f'):>22} {_figure(r['median_minutes_to_pass'], '.1f'):>6}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
