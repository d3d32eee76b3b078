"""Catalog → OpenSLO v1 documents: a Service, and an SLO per catalog SLO with its indicator inline.

Every moneypath SLO counts events (good over total, over a rolling window), so each becomes a ratioMetric
over Prometheus counters with `budgetingMethod: Occurrences`; a latency SLO's good events are its
histogram's bucket at the threshold and its total the histogram's count. Queries are the raw counters
(`counter: true`): the tool that reads them applies rate() over its own windows.
"""

from __future__ import annotations

from prometheus_client.utils import floatToGoString

from moneypath.catalog import Catalog, Selector, Slo

API_VERSION = "openslo/v1"


def _selector(c: Catalog, selector: Selector) -> str:
    matchers = ", ".join(f'{m.label}{m.op}"{m.value}"' for m in selector.matchers)
    return c.metric(selector.signal) + (f"{{{matchers}}}" if matchers else "")


def _source(query: str) -> dict:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def ratio_queries(c: Catalog, slo: Slo) -> tuple[str, str]:
    """(good, total) PromQL selectors of an SLO's events."""
    latency = slo.sli.latency
    if latency is not None:
        hist = c.metric(latency.signal)
        return f'{hist}_bucket{{le="{floatToGoString(latency.under)}"}}', f"{hist}_count"
    return _selector(c, slo.good), _selector(c, slo.total)


def openslo_documents(c: Catalog) -> list[dict]:
    docs = [{"apiVersion": API_VERSION, "kind": "Service",
             "metadata": {"name": c.service, "displayName": c.service},
             "spec": {"description": f"The money path of {c.service} (moneypath catalog)."}}]
    for key, slo in c.slos.items():
        good, total = ratio_queries(c, slo)
        docs.append({
            "apiVersion": API_VERSION, "kind": "SLO",
            "metadata": {"name": key, "displayName": key.replace("-", " ").capitalize()},
            "spec": {
                "description": slo.description,
                "service": c.service,
                "indicator": {"metadata": {"name": f"{key}-sli"},
                              "spec": {"ratioMetric": {"counter": True, "good": _source(good),
                                                       "total": _source(total)}}},
                "timeWindow": [{"duration": slo.window, "isRolling": True}],
                "budgetingMethod": "Occurrences",
                "objectives": [{"displayName": f"{slo.objective:g}% over {slo.window}",
                                "target": round(slo.objective / 100, 9)}],
            },
        })
    return docs
