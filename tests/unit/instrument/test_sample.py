"""`moneypath metrics sample` on a team's own catalog (tests/foreign): features off, its own
providers, methods and currencies, and with or without a cost model."""

from __future__ import annotations

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from moneypath.catalog import parse_catalog
from moneypath.generate.sample import record_sample, sample_exposition
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from tests.conftest import ROOT

FOREIGN = ROOT / "tests" / "foreign" / "moneypath.yaml"


def samples(body: str) -> list:
    return [s for family in text_string_to_metric_families(body) for s in family.samples
            if not s.name.endswith("_created")]


def total(mp, key: str, **labels) -> float:
    """Sum of a counter's samples matching `labels` (name from the catalog)."""
    name = mp.catalog.metric(key)
    return sum(s.value for m in mp.registry.collect() for s in m.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def foreign_without_cost():
    data = yaml.safe_load(FOREIGN.read_text())
    data["features"]["cost"] = False
    del data["cost"], data["signals"]["cost_usd_total"], data["alerts"]["CostPerTransactionRegression"]
    return parse_catalog(yaml.safe_dump(data, sort_keys=False), "foreign (features.cost: false)")


def test_sample_runs_on_a_foreign_catalog_and_touches_every_signal_it_has():
    body = sample_exposition(str(FOREIGN), "text", payments=120)
    found = samples(body)
    names = {s.name for s in found}
    catalog = parse_catalog(FOREIGN.read_text())
    for key, sig in catalog.signals.items():
        assert any(n.startswith(sig.name.removesuffix("_total")) for n in names), key
    errors = [s.value for s in found if s.name == catalog.metric("instrumentation_errors_total")]
    assert errors == [0.0]
    auth = catalog.metric("authorizations_total")
    methods = {s.labels["method"] for s in found if s.name == auth and s.value > 0}
    assert methods == {"card", "konbini", "debit"}  # the catalog's methods, none folded into "other"
    providers = {s.labels["provider"] for s in found if s.name == auth and s.value > 0}
    assert providers == set(catalog.providers)


def test_provider_fees_read_each_currency_in_its_own_exponent():
    catalog = parse_catalog(FOREIGN.read_text())
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    record_sample(mp, payments=400)
    approved = total(mp, "authorizations_total", provider="komoju", outcome="approved")
    fee = catalog.cost.provider_fees["komoju"]
    komoju = total(mp, "cost_usd_total", component="provider_fee", provider="komoju")
    # every amount is 5 to 500 major units of its currency (JPY 5 to 500, KWD 5.000 to 500.000), read as USD
    assert approved * (fee.fixed_usd + 5 * fee.bps / 10_000) <= komoju <= approved * (fee.fixed_usd
                                                                                        + 500 * fee.bps / 10_000)
    assert komoju > approved * (fee.fixed_usd + 100 * fee.bps / 10_000)  # a wide spread, not all at one end
    knet = total(mp, "cost_usd_total", component="provider_fee", provider="knet")
    assert knet == pytest.approx(total(mp, "authorizations_total", provider="knet", outcome="approved") * 0.10)
    assert total(mp, "instrumentation_errors_total") == 0


def test_sample_without_the_cost_feature_has_no_cost_model_and_no_cost_series():
    catalog = foreign_without_cost()
    assert catalog.cost is None
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    record_sample(mp, payments=50)
    names = {m.name for m in mp.registry.collect()}
    assert not [n for n in names if "cost" in n]
    assert total(mp, "authorizations_total") == 50
    assert total(mp, "instrumentation_errors_total") == 0
