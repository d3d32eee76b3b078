"""The catalog's `canary:` section: what the canary judge (moneypath.canary) compares between a release
taking a slice of traffic and a baseline of the same age, and how strictly.

Each judged metric is a share of bad events among all events of one of the catalog's signals (CANARY_METRICS),
tested as two proportions, one test per provider for the per-provider ones; `latency_shift` compares quantiles of
the authorization histogram against a tolerated shift (moneypath.catalog.latency_resolution: what the buckets
resolve). Without the section, or without its `metrics:`, the judge takes every default metric whose signals the
catalog declares with their feature on. Cross-references (signals present, feature on, the latency threshold a
bucket boundary, a latency tolerance the buckets resolve) are checked by
`canary_problems`, which the catalog's validation calls, so a mistake is ``file:line: canary.<key>: …``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from moneypath._common.strict import StrictModel
from moneypath.catalog import latency_resolution
from moneypath.catalog.conventions import Key
from moneypath.catalog.terms import duration_seconds


@dataclass(frozen=True)
class CanaryMetricSpec:
    description: str  # what a bad event is, among which events
    signals: tuple[str, ...]  # the signal keys it reads (all must be declared, their features on)
    per_provider: bool  # one test per catalog provider
    min_effect: float  # default smallest worsening worth failing a release for (absolute share; cost: relative)
    default: bool = True  # judged when the catalog does not list its metrics


CANARY_METRICS: dict[str, CanaryMetricSpec] = {
    "approval_ratio": CanaryMetricSpec("authorizations not approved, among all authorizations, per provider",
                                       (Key.AUTHORIZATIONS_TOTAL,), True, 0.05, default=False),
    "decline_ratio": CanaryMetricSpec("authorizations declined, among all authorizations, per provider",
                                      (Key.AUTHORIZATIONS_TOTAL,), True, 0.05),
    # A release whose circuit breaker opens ends authorizations in error with no provider call: the provider's
    # errors do not see it, this does.
    "authorization_failure_ratio": CanaryMetricSpec("authorizations ending neither approved nor declined (error, "
                                                    "timeout: no answer for the customer), among all "
                                                    "authorizations, per provider", (Key.AUTHORIZATIONS_TOTAL,),
                                                    True, 0.02),
    "provider_error_ratio": CanaryMetricSpec("provider calls answered with an error, among all provider calls, "
                                             "per provider", (Key.PROVIDER_REQUESTS_TOTAL,), True, 0.02),
    "provider_timeout_ratio": CanaryMetricSpec("provider calls that timed out, among all provider calls, per provider",
                                               (Key.PROVIDER_REQUESTS_TOTAL,), True, 0.02),
    "slow_authorizations": CanaryMetricSpec("authorizations slower than the threshold (a bucket boundary of the "
                                            "histogram), among all authorizations",
                                            (Key.AUTHORIZATION_DURATION_SECONDS,), False, 0.02),
    "latency_shift": CanaryMetricSpec("authorization latency at the compared quantiles, canary minus baseline, "
                                      "from the histogram's buckets; shift and relative state the shift tolerated",
                                      (Key.AUTHORIZATION_DURATION_SECONDS,), False, 0.0),
    "ledger_write_failures": CanaryMetricSpec("ledger writes that failed, among all ledger writes (ledger feature)",
                                              (Key.LEDGER_WRITES_TOTAL,), False, 0.01),
    "dead_letters": CanaryMetricSpec("messages dead-lettered, per authorization (queues feature)",
                                     (Key.DEAD_LETTERS_TOTAL, Key.AUTHORIZATIONS_TOTAL), False, 0.01),
    "cost_per_transaction": CanaryMetricSpec("USD per authorization, infrastructure left out (cost feature); "
                                             "min_effect is a relative increase",
                                             (Key.COST_USD_TOTAL, Key.AUTHORIZATIONS_TOTAL), False, 0.10),
}
SLOW_METRIC = "slow_authorizations"
LATENCY_METRIC = "latency_shift"
LATENCY_KEYS = ("quantiles", "shift", "relative")
COST_METRIC = "cost_per_transaction"


def _duration(text: str) -> str:
    if duration_seconds(text) <= 0:
        raise ValueError("must be longer than 0s")
    return text


class CanaryMetric(StrictModel):
    min_effect: float | None = Field(default=None, gt=0, lt=1, description="The smallest worsening worth failing "
                                     "a release for: an absolute difference of shares (0.02 = 2 points); for "
                                     "cost_per_transaction a relative increase (0.10 = 10 %). Default per metric.")
    min_sample: int | None = Field(default=None, ge=1, description="Events each arm needs before this metric may "
                                   "pass (a fail needs only 10 each; default: the section's min_sample).")
    threshold: float | None = Field(default=None, gt=0, description="slow_authorizations only: seconds, one of the "
                                    "histogram's bucket boundaries (default: the latency SLO's threshold on it, "
                                    "else its middle bucket).")
    quantiles: list[float] | None = Field(default=None, min_length=1, description="latency_shift only: the "
                                          "quantiles compared, one test each (default [0.5, 0.9]).")
    shift: float | None = Field(default=None, gt=0, description="latency_shift only: the shift tolerated, seconds; "
                                "twice it fails at the policy's alpha and power (default, without relative: half the "
                                "widest bucket up to the latency SLO's threshold).")
    relative: float | None = Field(default=None, gt=0, description="latency_shift only: the shift tolerated as a "
                                   "share of the baseline's quantile (0.2 = 20 %); with shift, the larger applies.")

    @field_validator("quantiles")
    @classmethod
    def _quantiles(cls, quantiles: list[float] | None) -> list[float] | None:
        if quantiles is not None:
            if any(not 0 < q < 1 for q in quantiles):
                raise ValueError("each quantile is between 0 and 1 (exclusive), e.g. 0.9")
            if len(set(quantiles)) != len(quantiles):
                raise ValueError("the quantiles repeat one")
        return quantiles


class CanaryPolicy(StrictModel):
    """How the canary judge compares a canary with its baseline (`moneypath canary`, docs/canary.md)."""

    metrics: dict[str, CanaryMetric] | None = Field(default=None, description="Metric key (approval_ratio, "
                                                    "decline_ratio, authorization_failure_ratio, provider_error_ratio, "
                                                    "provider_timeout_ratio, "
                                                    "slow_authorizations, latency_shift, ledger_write_failures, "
                                                    "dead_letters, "
                                                    "cost_per_transaction) → its settings (`{}` for the defaults). "
                                                    "Default: every default metric the catalog's signals allow.")
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="The chance of failing a healthy release, over "
                         "all metrics and looks together (split evenly across the tests).")
    power: float = Field(default=0.8, gt=0.5, lt=1, description="The chance of failing a release that is worse by "
                         "min_effect.")
    min_sample: int = Field(default=100, ge=1, description="Events each arm needs before a metric may pass (a "
                            "fail needs only 10 each: a broken canary fails at once).")
    interval: str = Field(default="30s", description="How often `moneypath canary judge --watch` judges, a "
                          "Prometheus duration.")
    max_inconclusive: str = Field(default="2h", description="How long after the canary started a verdict may stay "
                                  "inconclusive before on_inconclusive applies, a Prometheus duration.")
    on_inconclusive: Literal["hold", "fail"] = Field(default="hold", description="Past max_inconclusive: hold the "
                                                     "rollout (verdict stays inconclusive) or fail it.")

    @field_validator("metrics")
    @classmethod
    def _some_metrics(cls, metrics: dict[str, CanaryMetric] | None) -> dict[str, CanaryMetric] | None:
        if metrics is not None:
            if not metrics:
                raise ValueError("list at least one metric, or leave metrics: out for the defaults")
        return metrics

    @field_validator("interval", "max_inconclusive")
    @classmethod
    def _durations(cls, text: str) -> str:
        return _duration(text)


@dataclass(frozen=True)
class JudgedMetric:
    key: str
    spec: CanaryMetricSpec
    min_effect: float
    min_sample: int
    threshold: float | None = None  # slow_authorizations: the bucket boundary
    quantiles: tuple[float, ...] = ()  # latency_shift: the quantiles compared, one test each
    shift: float | None = None  # latency_shift: the shift tolerated, seconds (the default when relative is not given)
    relative: float | None = None  # latency_shift: the shift tolerated, a share of the baseline's quantile


def default_threshold(catalog) -> float | None:
    """The latency SLO's threshold on the authorization histogram, else its middle bucket."""
    hist = catalog.signals.get(Key.AUTHORIZATION_DURATION_SECONDS)
    if hist is None or not hist.buckets:
        return None
    for slo in catalog.slos.values():
        if slo.sli.latency is not None and slo.sli.latency.signal == Key.AUTHORIZATION_DURATION_SECONDS:
            if slo.sli.latency.under in hist.buckets:
                return slo.sli.latency.under
    return hist.buckets[len(hist.buckets) // 2]


def judged_metric(catalog, key: str, settings: CanaryMetric) -> JudgedMetric:
    """One metric with its settings resolved (defaults from the catalog and the section)."""
    spec, policy = CANARY_METRICS[key], catalog.canary
    extra: dict = {}
    if key == SLOW_METRIC:
        extra["threshold"] = settings.threshold if settings.threshold is not None else default_threshold(catalog)
    if key == LATENCY_METRIC:
        shift = settings.shift
        if shift is None and settings.relative is None:
            shift = latency_resolution.default_shift(latency_resolution.healthy_buckets(catalog)[0])
        extra.update(quantiles=tuple(settings.quantiles or latency_resolution.DEFAULT_QUANTILES), shift=shift,
                     relative=settings.relative)
    return JudgedMetric(key, spec, settings.min_effect or spec.min_effect, settings.min_sample or policy.min_sample,
                        **extra)


def judged_metrics(catalog) -> list[JudgedMetric]:
    """The metrics the judge compares, with their settings resolved (defaults from the catalog)."""
    policy: CanaryPolicy = catalog.canary
    if policy.metrics is None:
        chosen = {k: CanaryMetric() for k, spec in CANARY_METRICS.items() if spec.default and catalog.has(*spec.signals)}
    else:
        chosen = policy.metrics
    return [judged_metric(catalog, key, settings) for key, settings in chosen.items()]


def canary_problems(catalog) -> list[tuple[tuple, str]]:
    """(key path, what is wrong) for each listed metric whose signals the catalog lacks or whose feature is off,
    and a latency threshold that is not a bucket boundary."""
    policy: CanaryPolicy = catalog.canary
    problems: list[tuple[tuple, str]] = []
    for key, settings in (policy.metrics or {}).items():
        loc = ("canary", "metrics", key)
        spec = CANARY_METRICS.get(key)
        if spec is None:
            problems.append((loc, f"unknown canary metric (known: {', '.join(CANARY_METRICS)})"))
            continue
        for signal in spec.signals:
            if signal not in catalog.signals:
                problems.append((loc, f"reads the signal {signal}, which the catalog does not declare"))
            elif not catalog.signal_on(signal):
                problems.append((loc, f"reads the signal {signal}, whose feature is off"))
        if settings.threshold is not None and key != SLOW_METRIC:
            problems.append((loc + ("threshold",), f"only {SLOW_METRIC} has a threshold"))
        elif key == SLOW_METRIC and settings.threshold is not None:
            hist = catalog.signals.get(Key.AUTHORIZATION_DURATION_SECONDS)
            buckets = (hist.buckets or []) if hist is not None else []
            if settings.threshold not in buckets:
                problems.append((loc + ("threshold",), f"{settings.threshold:g} must be one of the bucket boundaries "
                                 f"{buckets} of {Key.AUTHORIZATION_DURATION_SECONDS} to be measured exactly"))
        problems += _latency_problems(catalog, key, settings, loc)
    return problems


def _latency_problems(catalog, key: str, settings: CanaryMetric, loc: tuple) -> list[tuple[tuple, str]]:
    """latency_shift's keys on another metric, min_effect on latency_shift, and a tolerance finer than the buckets
    where healthy authorizations land."""
    if key != LATENCY_METRIC:
        return [(loc + (name,), f"only {LATENCY_METRIC} has {name}") for name in LATENCY_KEYS
                if getattr(settings, name) is not None]
    if settings.min_effect is not None:
        return [(loc + ("min_effect",), f"{LATENCY_METRIC} states the shift it tolerates as shift (seconds) and/or "
                 "relative (a share of the baseline's quantile), not min_effect")]
    if settings.shift is None and settings.relative is None:
        return []  # the default shift is resolvable by construction
    bounds, under = latency_resolution.healthy_buckets(catalog)
    coarse = latency_resolution.unresolved(bounds, settings.shift, settings.relative)
    if not coarse:
        return []
    given = " and ".join(f"{name} {getattr(settings, name):g}" for name in ("shift", "relative")
                         if getattr(settings, name) is not None)
    where = f"up to the latency SLO's {under:g} s" if under is not None else "the whole histogram: no latency SLO on it"
    finest = latency_resolution.default_shift(bounds)
    return [(loc + ("shift" if settings.shift is not None else "relative",),
             f"a tolerance of {given} is finer than the buckets where healthy authorizations land "
             f"({Key.AUTHORIZATION_DURATION_SECONDS} {where}): {latency_resolution.describe(coarse)} s are wider "
             f"than {latency_resolution.RESOLUTION:g} x it; tolerate a shift of {finest:g} s or more, or give the "
             "histogram finer buckets there")]
