"""How close the canary gate's sequential test comes to the statistical floor, and how often it fails a healthy
canary (figures, not pass/fail).

    .venv/bin/python benchmarks/bench_canary.py [--runs 1000] [--time-runs 200] [--seed 62] [--part both]

Synthetic canaries (numpy binomial draws), 10 % of the traffic on the canary, the baseline nine times as many
events, a look every --look-every seconds on the counts since the start (moneypath.canary.sequential):

  time      per baseline bad share (1, 5, 20 %), effect (1 to 10 points) and traffic (20 and 100 requests/s in all),
            a canary worse by exactly the designed effect (min_effect = effect): how many canary events, and
            minutes, until FAIL, against planned_sample()'s fixed-sample test at power 0.8 (the floor), as a
            ratio, also against the first look at which a fixed test read at the same looks could answer (a
            fixed n smaller than a look's events cannot be reached sooner); for one metric (alpha 0.05) and for
            one of the judge's 7 (alpha 0.05 / 7, Bonferroni).
            "median to fail" counts the runs that never fail (they pass at the plan) as never; "mean at verdict"
            is the mean sample at the verdict, fail or pass, what a canary costs on average.
  false     a healthy canary judged on every metric at once: the 7 shares below, latency_shift at p50 and p90
            and cost_per_transaction (10 tests, alpha 0.05 / 10 each, looks until every test decided; the
            latency and cost canaries from benchmarks/canary_latency_sim.py and canary_cost_sim.py): the share
            of --runs runs failed on any metric, with its 95 % (Wilson) interval; beside it, the shares' looks
            judged by a fixed test each (what peeking at a fixed test costs).

  broken    a badly broken canary: 90 % of its authorizations failing against 0.5 % on the baseline, 5 % of
            20 payments/s (Poisson arrivals), a look every 5 s, as one of the judge's tests (alpha 0.05 / 10):
            the seconds and canary events to FAIL (goal: the first look after FAIL_FLOOR canary events, <= 15 s).

Goals (docs/decisions/0016-canary-sequential-test.md): median sample to fail <= 1.5x the fixed test's n at the
designed effect; false-fail rate per healthy canary <= 5 %.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np

if not __package__:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from moneypath._common.verdict import FAIL  # noqa: E402
from moneypath.canary.sequential import INCONCLUSIVE, SequentialTest, planned_sample  # noqa: E402

SPLIT = 0.10  # the canary's share of the traffic
RATIO = (1 - SPLIT) / SPLIT  # baseline events per canary event
POWER, FAMILY_ALPHA, METRICS = 0.8, 0.05, 7
MIN_SAMPLE = 100
BASELINES = (0.01, 0.05, 0.20)
EFFECTS = (0.01, 0.02, 0.05, 0.10)
RATES = (20, 100)
# The judge's 7 metrics of a healthy canary: (name, baseline bad share, min_effect, share of the traffic it sees).
HEALTHY = (
    ("errors", 0.005, 0.01, 1.0),
    ("timeouts", 0.002, 0.01, 1.0),
    ("declines, provider a", 0.10, 0.03, 0.5),
    ("declines, provider b", 0.08, 0.03, 0.5),
    ("authorizations over the latency threshold", 0.01, 0.02, 1.0),
    ("ledger write failures", 0.001, 0.005, 1.0),
    ("dead letters", 0.001, 0.005, 1.0),
)


def run_one(rng: np.random.Generator, p_baseline: float, effect: float, min_effect: float, alpha: float,
            per_look: int) -> tuple[str, float, int, bool]:
    """One canary to its verdict: (verdict, canary events then, looks taken, whether a fixed test repeated at
    each of those looks, z >= z_{1 - alpha}, would have failed it)."""
    test = SequentialTest(alpha=alpha, power=POWER, min_effect=min_effect, min_sample=MIN_SAMPLE)
    baseline_per_look, fixed_z, peeked = round(per_look * RATIO), NormalDist().inv_cdf(1 - alpha), False
    cb = ct = bb = bt = 0
    for k in range(1, 100_000):
        ct, bt = ct + per_look, bt + baseline_per_look
        cb += int(rng.binomial(per_look, p_baseline + effect))
        bb += int(rng.binomial(baseline_per_look, p_baseline))
        look = test.look(cb, ct, bb, bt)
        peeked = peeked or (math.isfinite(look.boundary) and look.z >= fixed_z)
        if look.verdict != INCONCLUSIVE:
            return look.verdict, ct, k, peeked
    raise RuntimeError("no verdict after 100,000 looks")


def time_to_fail(args) -> None:
    rng = np.random.default_rng(args.seed)
    print(f"(a) canary events to FAIL at the designed effect, {args.time_runs} runs a row, {SPLIT:.0%} canary, "
          f"a look every {args.look_every:g} s, min_sample {MIN_SAMPLE}, power {POWER}")
    print("    fixed: planned_sample() at the same split (baseline 9x the canary) [at equal arms]; at looks: the first "
          "look with that many (and min_sample): when a fixed test read at the same looks could answer")
    header = (f"{'alpha':>7} {'base':>5} {'eff':>4} {'req/s':>5} {'fixed [equal]':>14} {'min':>6} {'at looks':>8} "
              f"{'failed':>6} {'median to fail':>14} {'min':>6} {'ratio':>5} {'@looks':>6} {'mean of fails':>13} "
              f"{'mean at verdict':>15} {'ratio':>5}")
    worst: dict[float, list[float]] = {}
    for alpha in (FAMILY_ALPHA, FAMILY_ALPHA / METRICS):
        print(header)
        for p in BASELINES:
            for effect in EFFECTS:
                fixed = planned_sample(p, effect, alpha, POWER, ratio=RATIO)
                equal = planned_sample(p, effect, alpha, POWER)
                for rate in RATES:
                    per_look = round(rate * SPLIT * args.look_every)
                    at_looks = math.ceil(max(fixed, MIN_SAMPLE) / per_look) * per_look
                    runs = [run_one(rng, p, effect, effect, alpha, per_look) for _ in range(args.time_runs)]
                    failed = [n for verdict, n, _, _ in runs if verdict == FAIL]
                    median = statistics.median(sorted(failed + [math.inf] * (len(runs) - len(failed))))
                    at_verdict = statistics.fmean(n for _, n, _, _ in runs)
                    minutes = 1 / (rate * SPLIT * 60)
                    worst.setdefault(alpha, [0.0, 0.0])
                    worst[alpha] = [max(worst[alpha][0], median / fixed), max(worst[alpha][1], median / at_looks)]
                    print(f"{alpha:>7.4f} {p:>5.0%} {effect:>4.0%} {rate:>5} {fixed:>6} [{equal:>5}] "
                          f"{fixed * minutes:>6.1f} {at_looks:>8} {len(failed) / len(runs):>6.0%} {median:>14.0f} "
                          f"{median * minutes:>6.1f} {median / fixed:>5.2f} {median / at_looks:>6.2f} "
                          f"{statistics.fmean(failed) if failed else math.nan:>13.0f} {at_verdict:>15.0f} "
                          f"{at_verdict / fixed:>5.2f}")
    for alpha, (raw, looks) in worst.items():
        print(f"    alpha {alpha:.4f}: worst median to fail {raw:.2f}x the fixed n, {looks:.2f}x the fixed test "
              "read at the same looks")


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def false_fails(args) -> None:
    from benchmarks import canary_cost_sim, canary_latency_sim  # the new metrics' own synthetic canaries

    rng = np.random.default_rng(args.seed + 1)
    tests = len(HEALTHY) + len(canary_latency_sim.QUANTILES) + 1  # the shares, the latency quantiles, the cost
    alpha = FAMILY_ALPHA / tests
    per_look = args.rate * SPLIT * args.look_every
    shift = canary_latency_sim.default_tolerance()
    print(f"(b) a healthy canary judged on every metric at once ({len(HEALTHY)} shares, latency_shift at "
          f"{len(canary_latency_sim.QUANTILES)} quantiles, cost_per_transaction: {tests} tests), alpha {FAMILY_ALPHA} / "
          f"{tests} each, {args.runs} runs; the shares at {args.rate:g} requests/s, {SPLIT:.0%} canary, a look every "
          f"{args.look_every:g} s; latency and cost as in benchmarks/canary_latency_sim.py and canary_cost_sim.py")
    names = [name for name, _, _, _ in HEALTHY] + ["latency_shift (p50 and p90)", "cost per transaction"]
    failed_runs, peeked_runs, per_metric, looks = 0, 0, [0] * len(names), []
    for _ in range(args.runs):
        verdicts = [run_one(rng, p, 0.0, effect, alpha, max(1, round(per_look * share)))
                    for _, p, effect, share in HEALTHY]
        others = [canary_latency_sim.one_canary(rng, 0.0, shift, alpha)[0],
                  canary_cost_sim.run_one(rng, 0.0, alpha)[0]]
        outcomes = [verdict for verdict, _, _, _ in verdicts] + others
        for i, verdict in enumerate(outcomes):
            per_metric[i] += verdict == FAIL
        failed_runs += FAIL in outcomes
        peeked_runs += any(peeked for _, _, _, peeked in verdicts)
        looks.append(max(k for _, _, k, _ in verdicts))
    low, high = wilson(failed_runs, args.runs)
    for name, count in zip(names, per_metric):
        print(f"    {name:<42} failed {count / args.runs:>6.2%}")
    print(f"    runs failed on any metric: {failed_runs} of {args.runs} = {failed_runs / args.runs:.2%} "
          f"(95 % interval {low:.2%} to {high:.2%}); looks to the shares' last verdict: median "
          f"{statistics.median(looks):.0f} ({statistics.median(looks) * args.look_every / 60:.0f} min)")
    low, high = wilson(peeked_runs, args.runs)
    print(f"    the shares' looks judged by a fixed test each (z >= z_(1 - alpha), no spending): "
          f"{peeked_runs / args.runs:.2%} (95 % interval {low:.2%} to {high:.2%})")


def broken(args) -> None:
    rng = np.random.default_rng(args.seed + 2)
    rate, split, every, tests = 20.0, 0.05, 5.0, 10
    alpha = FAMILY_ALPHA / tests
    seconds, events = [], []
    for _ in range(args.time_runs):
        test = SequentialTest(alpha=alpha, power=POWER, min_effect=0.02, min_sample=MIN_SAMPLE)
        cb = ct = bb = bt = 0
        for k in range(1, 1_000):
            c, b = int(rng.poisson(rate * split * every)), int(rng.poisson(rate * (1 - split) * every))
            ct, bt = ct + c, bt + b
            cb, bb = cb + int(rng.binomial(c, 0.90)), bb + int(rng.binomial(b, 0.005))
            if test.look(cb, ct, bb, bt).verdict == FAIL:
                seconds.append(k * every)
                events.append(ct)
                break
        else:
            seconds.append(math.inf)
    failed = sum(math.isfinite(s) for s in seconds)
    print(f"(c) a broken canary (90 % of authorizations failing, baseline 0.5 %), {split:.0%} of {rate:g} payments/s, "
          f"a look every {every:g} s, alpha {FAMILY_ALPHA} / {tests}, {args.time_runs} runs: "
          f"failed {failed / len(seconds):.0%}; "
          f"seconds to fail median {statistics.median(seconds):.0f} (90th percentile "
          f"{sorted(seconds)[int(0.9 * len(seconds))]:.0f}), canary events then median {statistics.median(events):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000, help="healthy canaries for the false-fail rate "
                        "(default %(default)s)")
    parser.add_argument("--time-runs", type=int, default=200, help="canaries per row of the time to fail "
                        "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=62, help="the draws' seed (default %(default)s)")
    parser.add_argument("--look-every", type=float, default=30.0, help="seconds between looks (default "
                        "%(default)s)")
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s in all for the false-fail runs "
                        "(default %(default)s)")
    parser.add_argument("--part", choices=("time", "false", "broken", "both"), default="both", help="which figures "
                        "(default %(default)s)")
    args = parser.parse_args()
    if args.runs < 1 or args.time_runs < 2 or args.look_every <= 0 or args.rate * SPLIT * args.look_every < 1:
        raise SystemExit("bench_canary: --runs >= 1, --time-runs >= 2, --look-every > 0, and at least one canary "
                         "event a look (--rate x 10 % x --look-every)")
    started = time.perf_counter()
    if args.part in ("time", "both"):
        time_to_fail(args)
    if args.part in ("false", "both"):
        false_fails(args)
    if args.part in ("broken", "both"):
        broken(args)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
