"""The load-test dashboard: Locust's view (locust_exporter metrics) beside the service's own signals."""

from __future__ import annotations

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import LOCUST_METRICS, SLO_BUDGET_RECORD, AlertKey, Key, sli_error_record, slo_alert_key
from moneypath.generate.dashboards.panels import (
    RATE,
    AlertRef,
    Board,
    PanelFields,
    PanelSize,
    authorization_latency_slo,
    bad_above,
    bar_panel,
    burn_steps,
    neutral,
    pick_alerts,
    q,
    quantile,
    slo_by_signal,
    slo_success_steps,
    stat_panel,
    ts_panel,
)
from moneypath.generate.rules import sli_good_ratio_expr


def loadtest(c: Catalog, refs: dict[str, AlertRef]) -> Board:
    auth = c.metric(Key.AUTHORIZATIONS_TOTAL)
    hist = c.metric(Key.AUTHORIZATION_DURATION_SECONDS)
    lat = authorization_latency_slo(c)
    avail = slo_by_signal(c, Key.AUTHORIZATIONS_TOTAL)
    ledger_slo = slo_by_signal(c, Key.LEDGER_WRITES_TOTAL)
    # Locust metrics as the common Prometheus exporter for Locust (locust_exporter) names them;
    # `moneypath loadtest` serves them (moneypath.loadtest.in_locust.exporter). They are not catalog signals.
    lm = LOCUST_METRICS
    locust = [
        ts_panel("Locust users", "Simulated users Locust is running: the load shape (locust_exporter).",
                 [q(f"sum({lm['users']})", "users")], PanelFields("short"), size=PanelSize(6, 8)),
        ts_panel("Locust request rate", "Requests per second Locust sends, by request name (locust_exporter).",
                 [q(f"sum by (name) ({lm['rps']})", "{{name}}")], PanelFields("reqps"), size=PanelSize(6, 8)),
        ts_panel("Locust failure ratio", "Failed requests over all requests Locust sent (locust_exporter).",
                 [q(f"sum({lm['failures']}) / sum({lm['requests']})", "failures")],
                 PanelFields("percentunit", bad_above(avail[1].error_budget) if avail else None), size=PanelSize(6, 8)),
        ts_panel("Locust average response time", "Average response time Locust measured (locust_exporter).",
                 [q(f"avg by (name) ({lm['avg_response_ms']})", "{{name}}")], PanelFields("ms"), size=PanelSize(6, 8)),
    ]
    service = [
        ts_panel("Service authorization rate", "What the service counted, to compare with Locust's rate.",
                 [q(f"sum by (outcome) (rate({auth}[{RATE}]))", "{{outcome}}")], PanelFields("reqps"),
                 size=PanelSize(8, 8), stack=True),
        ts_panel("Service authorization latency", "p95/p99 the service measured; gate: the latency SLO threshold.",
                 [q(quantile(quant, hist), f"p{round(quant * 100)}", exemplar=True) for quant in (0.95, 0.99)],
                 PanelFields("s", bad_above(lat[1].sli.latency.under) if lat else None), size=PanelSize(8, 8)),
    ]
    if avail:
        service.append(ts_panel("Service authorization success", avail[1].description,
                                [q(sli_good_ratio_expr(c, avail[1], RATE), "success")],
                                PanelFields("percentunit", slo_success_steps(avail[1])), size=PanelSize(8, 8)))
    if ledger_slo:
        service.append(stat_panel("Ledger write success", ledger_slo[1].description,
                                  [q(sli_good_ratio_expr(c, ledger_slo[1], RATE), "committed")],
                                  PanelFields("percentunit", slo_success_steps(ledger_slo[1])), size=PanelSize(8, 5)))
    if c.has(Key.COST_USD_TOTAL):  # an optional domain (catalog feature `cost`)
        service.append(stat_panel("Cost per transaction", "Money path cost per authorization under load.",
                                  [q(f"sum(rate({c.metric(Key.COST_USD_TOTAL)}[{RATE}]))"
                                     f" / sum(rate({auth}[{RATE}]))", "USD")],
                                  PanelFields("currencyUSD", neutral()), size=PanelSize(8, 5)))
    service.append(bar_panel("SLO burn rate (5m)", "Short-window burn rate of every SLO during the run.",
                             [q(f"{sli_error_record('5m')} / on(slo) {SLO_BUDGET_RECORD}",
                                "{{slo}}")], PanelFields("suffix:x", burn_steps()), size=PanelSize(8, 6)))
    keys = [*(slo_alert_key(k) for k in c.slos), AlertKey.AUTHORIZATIONS_SILENT, AlertKey.COST_PER_TRANSACTION_REGRESSION]
    return Board("loadtest", "Money path: load test",
                 "Locust's view (locust_exporter metrics) beside the service's own signals, for release gates.",
                 pick_alerts(c, refs, keys), rows=[("Locust", locust), ("Service under load", service)])
