"""The catalog's `canary:` section: defaults derived from the catalog when it is absent, and every mistake one
line naming the file, the line and the key."""

from __future__ import annotations

import pytest

from moneypath.catalog import CatalogError, parse_catalog
from moneypath.catalog.canary_policy import judged_metrics
from tests.conftest import FOREIGN_PATH


def test_without_the_section_the_default_metrics_are_those_the_catalog_allows(catalog, foreign):
    assert [m.key for m in judged_metrics(catalog)] == [
        "decline_ratio", "authorization_failure_ratio", "provider_error_ratio", "provider_timeout_ratio",
        "slow_authorizations", "latency_shift",
        "ledger_write_failures", "dead_letters", "cost_per_transaction"]
    assert "dead_letters" not in [m.key for m in judged_metrics(foreign)]  # the shop has no queues
    slo = next(s.sli.latency for s in catalog.slos.values() if s.sli.latency is not None)
    assert next(m for m in judged_metrics(catalog) if m.key == "slow_authorizations").threshold == slo.under
    policy = catalog.canary
    assert (policy.alpha, policy.power, policy.interval, policy.max_inconclusive, policy.on_inconclusive) == \
        (0.05, 0.8, "30s", "2h", "hold")


def test_a_listed_section_is_read(foreign):
    text = FOREIGN_PATH.read_text() + ("\ncanary:\n  metrics:\n    approval_ratio: {min_effect: 0.03}\n"
                                       "    slow_authorizations: {threshold: 1}\n  on_inconclusive: fail\n")
    c = parse_catalog(text, "shop.yaml")
    got = {m.key: (m.min_effect, m.threshold) for m in judged_metrics(c)}
    assert got == {"approval_ratio": (0.03, None), "slow_authorizations": (0.02, 1.0)}
    assert c.canary.on_inconclusive == "fail"


@pytest.mark.parametrize("section, line, message", [
    ("canary:\n  metrics:\n    slow_authorizations: {threshold: 0.3}\n", 3,
     "canary.metrics.slow_authorizations.threshold: 0.3 must be one of the bucket boundaries [0.05, 0.1, 0.25, 0.5, "
     "1.0, 2.5] of authorization_duration_seconds"),
    ("canary:\n  metrics:\n    error_rate: {}\n", 3, "canary.metrics.error_rate: unknown canary metric (known: "),
    ("canary:\n  metrics:\n    dead_letters: {}\n", 3, "canary.metrics.dead_letters: reads the signal "
     "dead_letters_total, which the catalog does not declare"),
    ("canary:\n  metrics:\n    decline_ratio: {threshold: 1}\n", 3,
     "canary.metrics.decline_ratio.threshold: only slow_authorizations has a threshold"),
    ("canary:\n  interval: soon\n", 2, "canary.interval: Value error, not a Prometheus duration: 'soon'"),
    ("canary:\n  on_inconclusive: retry\n", 2, "canary.on_inconclusive: Input should be 'hold' or 'fail'"),
    ("canary:\n  metrics: {}\n", 2, "canary.metrics: Value error, list at least one metric"),
    ("canary:\n  alpha: 0.5\n", 2, "canary.alpha: Input should be less than 0.5"),
])
def test_mistakes_are_one_line_with_file_line_and_key(section, line, message):
    base = FOREIGN_PATH.read_text()
    with pytest.raises(CatalogError) as err:
        parse_catalog(base + "\n" + section, "shop.yaml")
    offset = len(base.splitlines()) + 1
    [problem] = err.value.problems
    assert problem.startswith(f"shop.yaml:{offset + line}: {message}"), problem
