"""Label guarding (moneypath.instrument._families): bad input never reaches a label; values outside the catalog are
recorded as other, a card number never reaches the exposition, hostile values cannot grow memory."""

from __future__ import annotations

from moneypath.instrument import _families as families
from moneypath.instrument.exposition import render
from tests.support.signals import label_values, value


def test_values_outside_the_catalog_are_recorded_as_other(mp):
    mp.record_authorization("initech", "crypto", "approved", 0.1)
    mp.count("webhooks_total", provider="acme")  # missing label → other
    assert value(mp, "authorizations_total", provider="other", method="other", outcome="approved") == 1
    assert value(mp, "webhooks_total", provider="acme", outcome="other") == 1


def test_a_card_number_never_reaches_the_exposition(mp):
    pan = "4111111111111111"
    mp.record_authorization(pan, "card", "approved", 0.1)
    mp.count_webhook("acme", f"{pan[:4]} {pan[4:8]} {pan[8:12]} {pan[12:]}")
    mp.set_queue_depth(pan, 1)
    body = render(mp.registry, "")[0].decode()
    assert not [v for v in label_values(body) if "4111" in v]
    assert pan not in render(mp.registry, "application/openmetrics-text; version=1.0.0")[0].decode()
    assert value(mp, "queue_depth", queue="other") == 1


def test_hostile_label_values_cannot_grow_memory_without_bound(mp, monkeypatch):
    family = mp.families["authorizations_total"]
    monkeypatch.setattr(families, "RAW_CACHE_LIMIT", len(family._cache) + 50)
    for i in range(5000):
        mp.record_authorization(f"provider-{i}", "card", "approved", 0.1)
    assert len(family._cache) <= families.RAW_CACHE_LIMIT and len(mp._auth_pairs) <= families.RAW_CACHE_LIMIT
    assert value(mp, "authorizations_total", provider="other", method="card", outcome="approved") == 5000
    series = {s.labels["provider"] for m in mp.registry.collect() for s in m.samples
              if s.name == "moneypath_authorizations_total" and s.value > 0}
    assert series == {"other"}


def test_an_equal_str_subclass_is_exported_with_the_catalog_spelling(mp):
    import enum

    class Provider(str, enum.Enum):  # noqa: UP042 - str() is "Provider.ACME", the case under test
        ACME = "acme"

    class Sneaky(str):
        def __str__(self):
            return "4111111111111111"

    mp.record_authorization(Provider.ACME, "card", "approved", 0.1)
    mp.count_provider_retry("acme", Sneaky("capture"))
    values = label_values(render(mp.registry, "")[0].decode())
    assert "Provider.ACME" not in values and not [v for v in values if "4111" in v]
    assert value(mp, "authorizations_total", provider="acme", method="card", outcome="approved") == 1
    assert value(mp, "provider_retries_total", provider="acme", operation="capture") == 1
