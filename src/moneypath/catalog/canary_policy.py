"""The catalog's `canary:` section: what the canary judge (moneypath.canary) compares between a release
taking a slice of traffic and a baseline of the same age, and how strictly.

Each judged metric is a share of bad events among all events of one of the catalog's signals (CANARY_METRICS),
tested as two proportions, one test per provider for the per-provider ones. Without the section, or without its
`metrics:`, the judge takes every default metric whose signals the catalog declares with their feature on.
Cross-references (signals present, feature on, the latency threshold a bucket boundary) are checked by
`canary_problems`, which the catalog's validation calls, so a mistake is ``file:line: canary.<key>: …``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from moneypath._common.strict import StrictModel
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
    "provider_error_ratio": CanaryMetricSpec("provider calls answered with an error, among all provider calls, "
                                             "per provider", (Key.PROVIDER_REQUESTS_TOTAL,), True, 0.02),
    "provider_timeout_ratio": CanaryMetricSpec("provider calls that timed out, among all provider calls, per provider",
                                               (Key.PROVIDER_REQUESTS_TOTAL,), True, 0.02),
    "slow_authorizations": CanaryMetricSpec("authorizations slower than the threshold (a bucket boundary of the "
                                            "histogram), among all authorizations",
                                            (Key.AUTHORIZATION_DURATION_SECONDS,), False, 0.02),
    "ledger_write_failures": CanaryMetricSpec("ledger writes that failed, among all ledger writes (ledger feature)",
                                              (Key.LEDGER_WRITES_TOTAL,), False, 0.01),
    "dead_letters": CanaryMetricSpec("messages dead-lettered, per authorization (queues feature)",
                                     (Key.DEAD_LETTERS_TOTAL, Key.AUTHORIZATIONS_TOTAL), False, 0.01),
    "cost_per_transaction": CanaryMetricSpec("USD per authorization, infrastructure left out (cost feature); "
                                             "min_effect is a relative increase",
                                             (Key.COST_USD_TOTAL, Key.AUTHORIZATIONS_TOTAL), False, 0.10),
}
SLOW_METRIC = "slow_authorizations"
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


class CanaryPolicy(StrictModel):
    """How the canary judge compares a canary with its baseline (`moneypath canary`, docs/canary.md)."""

    metrics: dict[str, CanaryMetric] | None = Field(default=None, description="Metric key (approval_ratio, "
                                                    "decline_ratio, provider_error_ratio, provider_timeout_ratio, "
                                                    "slow_authorizations, ledger_write_failures, dead_letters, "
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


def judged_metrics(catalog) -> list[JudgedMetric]:
    """The metrics the judge compares, with their settings resolved (defaults from the catalog)."""
    policy: CanaryPolicy = catalog.canary
    if policy.metrics is None:
        chosen = {k: CanaryMetric() for k, spec in CANARY_METRICS.items() if spec.default and catalog.has(*spec.signals)}
    else:
        chosen = policy.metrics
    out = []
    for key, settings in chosen.items():
        spec = CANARY_METRICS[key]
        threshold = None
        if key == SLOW_METRIC:
            threshold = settings.threshold if settings.threshold is not None else default_threshold(catalog)
        out.append(JudgedMetric(key, spec, settings.min_effect or spec.min_effect,
                                settings.min_sample or policy.min_sample, threshold))
    return out


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
    return problems
