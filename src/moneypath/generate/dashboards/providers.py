"""The providers dashboard: per-provider latency, errors, retries, and circuit state and webhooks while those
features (breaker, webhooks) are on."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import dashboard as dm

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import AlertKey, Key, slo_alert_key
from moneypath.generate.dashboards.panels import (
    DS,
    RATE,
    AlertRef,
    Board,
    PanelFields,
    PanelSize,
    alert_above,
    authorization_latency_slo,
    bad_above,
    neutral,
    pick_alerts,
    q,
    quantile,
    runbook_links,
    slos_on,
    stat_panel,
    threshold,
    ts_panel,
)
from moneypath.generate.rules import across


def providers(c: Catalog, refs: dict[str, AlertRef]) -> Board:
    hist = c.metric(Key.AUTHORIZATION_DURATION_SECONDS)
    auth = c.metric(Key.AUTHORIZATIONS_TOTAL)
    req = c.metric(Key.PROVIDER_REQUESTS_TOTAL)
    req_hist = c.metric(Key.PROVIDER_REQUEST_DURATION_SECONDS)
    retries = c.metric(Key.PROVIDER_RETRIES_TOTAL)
    sel = '{provider=~"$provider"}'
    outage = threshold(c, AlertKey.PROVIDER_PARTIAL_OUTAGE)
    failed = [v for v in c.signals[Key.PROVIDER_REQUESTS_TOTAL].labels["outcome"] if v != "success"]
    failed_sel = f'{{provider=~"$provider", outcome=~"{"|".join(failed)}"}}'
    error_ratio = f"sum by (provider) (rate({req}{failed_sel}[{RATE}])) / sum by (provider) (rate({req}{sel}[{RATE}]))"
    lat = authorization_latency_slo(c)
    outage_rb = runbook_links(c, refs, AlertKey.PROVIDER_PARTIAL_OUTAGE)
    breaker = c.has(Key.PROVIDER_CIRCUIT_STATE)  # an optional domain (catalog feature `breaker`)
    width = 8 if breaker else 12
    health = [
        stat_panel("Provider error ratio", "Calls that failed, timed out"
                   + (" or were refused by the circuit breaker." if breaker else " or otherwise did not succeed."),
                   [q(error_ratio, "{{provider}}")],
                   PanelFields("percentunit", alert_above(c, AlertKey.PROVIDER_PARTIAL_OUTAGE)), outage_rb,
                   PanelSize(width, 5)),
        stat_panel("Authorization rate", "Authorizations per second by provider.",
                   [q(f"sum by (provider) (rate({auth}{sel}[{RATE}]))", "{{provider}}")],
                   PanelFields("reqps", neutral()), runbook_links(c, refs, AlertKey.AUTHORIZATIONS_SILENT),
                   PanelSize(width, 5)),
    ]
    latency_steps = bad_above(lat[1].sli.latency.under) if lat else None
    trends = [
        ts_panel("Authorization latency by provider", "p95 and p99 authorization latency per provider.",
                 [q(quantile(quant, hist, "provider", sel), f"p{round(quant * 100)} {{{{provider}}}}", exemplar=True)
                  for quant in (0.95, 0.99)], PanelFields("s", latency_steps)),
        ts_panel("Provider call latency (p99)", "One attempt's latency per provider and operation.",
                 [q(quantile(0.99, req_hist, "provider, operation", sel), "{{provider}} {{operation}}",
                    exemplar=True)], PanelFields("s")),
        ts_panel("Provider error ratio", ("Failed, timed-out and circuit-refused calls over all calls." if breaker
                                          else "Calls that did not succeed over all calls."),
                 [q(error_ratio, "{{provider}}")],
                 PanelFields("percentunit", bad_above(outage) if outage is not None else None), outage_rb),
        ts_panel("Provider calls by outcome", "Calls per second by provider and outcome.",
                 [q(f"sum by (provider, outcome) (rate({req}{sel}[{RATE}]))", "{{provider}} {{outcome}}")],
                 PanelFields("reqps"), stack=True),
        ts_panel("Retries", "Retries of provider calls per second, by provider and operation.",
                 [q(f"sum by (provider, operation) (rate({retries}{sel}[{RATE}]))", "{{provider}} {{operation}}")],
                 PanelFields("ops")),
    ]
    if breaker:
        circuit_sig = c.signals[Key.PROVIDER_CIRCUIT_STATE]
        circuit = across(c, Key.PROVIDER_CIRCUIT_STATE, f"{c.metric(Key.PROVIDER_CIRCUIT_STATE)}{sel}", "provider")
        enum = circuit_sig.enum or {}
        colors = {0: "green", 1: "orange"}
        mapping = dm.ValueMap(options={str(v): dm.ValueMappingResult(text=k, color=colors.get(v, "red"), index=i)
                                       for i, (k, v) in enumerate(sorted(enum.items(), key=lambda kv: kv[1]))})
        closed = enum.get("closed", 0)
        health.insert(0, stat_panel("Circuit state", circuit_sig.help, [q(circuit, "{{provider}}")],
                                    PanelFields("short", bad_above(closed), mappings=[mapping]), outage_rb,
                                    PanelSize(width, 5)))
        trends.append(ts_panel("Circuit state over time", circuit_sig.help, [q(circuit, "{{provider}}")],
                               PanelFields("short", bad_above(closed)), outage_rb))
    if c.has(Key.WEBHOOKS_TOTAL):  # an optional domain (catalog feature `webhooks`)
        hooks = c.metric(Key.WEBHOOKS_TOTAL)
        trends.append(ts_panel("Webhooks by outcome", "Provider webhooks per second by verification outcome.",
                               [q(f"sum by (provider, outcome) (rate({hooks}{sel}[{RATE}]))",
                                  "{{provider}} {{outcome}}")], PanelFields("reqps")))
    keys = [AlertKey.PROVIDER_PARTIAL_OUTAGE, AlertKey.AUTHORIZATIONS_SILENT,
            *(slo_alert_key(k) for k in slos_on(c, {Key.AUTHORIZATIONS_TOTAL, Key.AUTHORIZATION_DURATION_SECONDS}))]
    variable = (dashboard.QueryVariable("provider").label("Provider").datasource(DS)
                .query({"query": f"label_values({req}, provider)", "refId": "PrometheusVariableQueryEditor-VariableQuery"})
                .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dm.VariableSort.ALPHABETICAL_ASC)
                .multi(True).include_all(True).current(dm.VariableOption(selected=True, text="All", value="$__all")))
    what = "Per-provider latency, errors, retries" + (" and circuit state." if breaker else ".")
    return Board("providers", "Money path: providers", what,
                 pick_alerts(c, refs, keys), rows=[("Health", health), ("Trends", trends)], variables=[variable])
