"""The judge's queries: built from the catalog's signal names (never a literal metric name) with the arm's
selector added to every selector, per provider where the metric is; selectors parsed strictly."""

from __future__ import annotations

import pytest

from moneypath.canary.queries import BadUsage, metric_queries, parse_selector, selected_metrics
from moneypath.catalog.canary_policy import CANARY_METRICS, LATENCY_METRIC
from moneypath.catalog.conventions import Key

ARM = ('track="canary"', 'pod=~"shop-7f.*"')


@pytest.mark.parametrize("text, matchers", [
    ('track="canary"', ('track="canary"',)),
    ('{track="canary"}', ('track="canary"',)),
    (' instance = "127.0.0.1:8001" , job!="x",', ('instance="127.0.0.1:8001"', 'job!="x"')),
    ('pod=~"a.*",ns!~"kube-.*"', ('pod=~"a.*"', 'ns!~"kube-.*"')),
    ('v="a \\"quoted\\" b"', ('v="a \\"quoted\\" b"',)),
])
def test_selectors_are_label_matchers(text, matchers):
    assert parse_selector(text) == matchers


@pytest.mark.parametrize("text", ["", "{}", "track=canary", 'track="canary" pod="x"', "sum(x)", 'track=="x"'])
def test_anything_else_is_bad_usage(text):
    with pytest.raises(BadUsage):
        parse_selector(text)


def test_every_metric_reads_the_catalog_names_with_the_selector_added(catalog):
    for metric in selected_metrics(catalog, list(CANARY_METRICS)):
        if metric.key == LATENCY_METRIC:  # its queries are moneypath.canary.latency's (tests/unit/canary/test_latency.py)
            continue
        q = metric_queries(catalog, metric)
        bad, total = q.bad(ARM, 900), q.total(ARM, 900)
        names = [catalog.metric(key) for key in metric.spec.signals]
        assert any(name in bad for name in names) and any(name in total for name in names), metric.key
        for query in (bad, total):
            assert query.count("{") == query.count(",".join(ARM)) and "[900s]" in query, query
        assert ("by (provider)" in bad) == metric.spec.per_provider
        assert q.groups == (tuple(catalog.providers) if metric.spec.per_provider else ("",))


def test_the_slow_share_reads_the_bucket_at_the_threshold_as_prometheus_writes_it(foreign):
    [slow] = selected_metrics(foreign, ["slow_authorizations"])
    assert slow.threshold == 0.5  # the shop's histogram's middle bucket: it has no latency SLO on it
    hist = foreign.metric(Key.AUTHORIZATION_DURATION_SECONDS)
    q = metric_queries(foreign, slow)
    assert q.bad(ARM[:1], 60) == (f'sum (increase({hist}_count{{track="canary"}}[60s])) - '
                                  f'sum (increase({hist}_bucket{{le="0.5",track="canary"}}[60s]))')
    whole = slow.__class__(slow.key, slow.spec, slow.min_effect, slow.min_sample, 1.0)
    assert 'le="1.0"' in metric_queries(foreign, whole).bad(ARM, 60)  # prometheus_client writes 1 as 1.0


def test_cost_per_transaction_leaves_infrastructure_out_and_says_its_test(foreign):
    [cost] = selected_metrics(foreign, ["cost_per_transaction"])
    q = metric_queries(foreign, cost)
    assert 'component!="infrastructure"' in q.bad(ARM, 60) and q.test.startswith("ratio of sums, descriptive")


def test_a_metric_whose_signal_the_catalog_lacks_raises_key_error(foreign):
    [dead] = selected_metrics(foreign, ["dead_letters"])
    with pytest.raises(KeyError):
        metric_queries(foreign, dead)
