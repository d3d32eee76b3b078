"""Reading what a MoneyPath recorded: one sample's value by catalog key, and every label value of an exposition."""

from __future__ import annotations


def label_values(body: str) -> set[str]:
    """Every label value in an exposition (sample values and timestamps may hold any digits)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {v for family in text_string_to_metric_families(body) for s in family.samples for v in s.labels.values()}


def value(mp, key, suffix="", **labels):
    name = mp.catalog.metric(key)
    if mp.catalog.signals[key].type == "counter":
        name = name[: -len("_total")] + "_total"
    return mp.registry.get_sample_value(name + suffix, labels)
