"""What the Argo Rollouts and Flagger exports share: the judge's URL and paths, the Prometheus their own metric
providers query, the canary policy's timing, and the object names.

The statistics run once, in the judge (`moneypath canary serve`); the rollout tools only call it and gate on the
money invariants (generate/export/invariants.py) with their own Prometheus providers.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from moneypath.catalog import Catalog, duration_seconds
from moneypath.generate.compress import format_duration
from moneypath.generate.export import k8s
from moneypath.generate.export.options import ExportError, Options

# The judge's HTTP paths (`moneypath canary serve`).
VERDICT_PATH = "/v1/verdict"  # GET ?canary=&baseline=&since= -> 200 {"verdict": "pass"|"fail"|"inconclusive", ...}
FLAGGER_CHECK_PATH = "/v1/flagger/check"  # POST: 200 unless the verdict is fail (409)
FLAGGER_PROMOTION_PATH = "/v1/flagger/confirm-promotion"  # POST: 200 only on pass (423 inconclusive, 409 fail)

# kube-prometheus-stack's Prometheus service (`prometheus-operated` in the release's namespace).
DEFAULT_PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc:9090"
DEFAULT_NAMESPACE = "default"
JUDGE_TIMEOUT_S = 30  # the judge queries Prometheus for every metric: give it more than the tools' 10 s default

# The canary policy's timing when the catalog has no `canary:` section: one look a minute, and two hours without a
# verdict before the rollout stops waiting (the judge's policy then holds or fails it).

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _http_url(value: str | None, option: str, example: str) -> str:
    if not value:
        raise ExportError(f"{option} is required (e.g. {option} {example})")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or any(ch.isspace() for ch in value):
        raise ExportError(f"{option}: {value!r} is not an http(s) URL (e.g. {option} {example})")
    return value.rstrip("/")


def judge_url(options: Options) -> str:
    """The judge's base URL (`moneypath canary serve`, reachable from the rollout controller), without a slash."""
    return _http_url(options.judge_url, "--judge-url", "http://moneypath-judge.payments.svc:8080")


def prometheus_url(options: Options) -> str:
    return _http_url(options.prometheus_url or DEFAULT_PROMETHEUS_URL, "--prometheus-url",
                     DEFAULT_PROMETHEUS_URL)


def selector_label(options: Options, default: str) -> str:
    label = options.selector_label or default
    if not _LABEL_NAME.fullmatch(label):
        raise ExportError(f"--selector-label: {label!r} is not a Prometheus label name (letters, digits and _, "
                          "not starting with a digit)")
    return label


def namespace(options: Options) -> str:
    return k8s.check_namespace(options.namespace or DEFAULT_NAMESPACE)


def base_name(c: Catalog, options: Options) -> str:
    if options.name is not None:
        return k8s.check_name(options.name)
    return k8s.object_name(c.service, "canary")


def _policy_seconds(c: Catalog, field: str) -> float:
    """A duration of the catalog's canary policy (catalog/canary_policy.py: `interval`, `max_inconclusive`)."""
    return duration_seconds(getattr(c.canary, field))


def interval(c: Catalog) -> str:
    """How often the tools ask the judge and read the invariants: the judge's interval."""
    return format_duration(_policy_seconds(c, "interval"))


def inconclusive_looks(c: Catalog) -> int:
    """Looks without a verdict a rollout waits through: the policy's maximum time inconclusive over the interval,
    plus one, so the judge's own policy (hold or fail) answers at that time before the tool stops asking."""
    every = _policy_seconds(c, "interval")
    return math.ceil(_policy_seconds(c, "max_inconclusive") / every) + 1
