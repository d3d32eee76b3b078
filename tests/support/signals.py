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


def errors(mp, reason: str | None = None) -> float:
    """instrumentation_errors_total: its count under `reason`, or over every reason (with or without the catalog's
    `reason` label), 0 when nothing was counted."""
    name = mp.catalog.metric("instrumentation_errors_total")
    return sum(s.value for family in mp.registry.collect() for s in family.samples
               if s.name == name and (reason is None or s.labels.get("reason") == reason))
