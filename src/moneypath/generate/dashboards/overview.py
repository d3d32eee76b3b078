"""The overview dashboard: the on-call first stop, is money moving correctly right now?"""

from __future__ import annotations

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import common

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import WATCHDOG_SEVERITY, AlertKey, Key, slo_alert_key
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
    bad_below,
    clean,
    money,
    neutral,
    organize,
    q,
    quantile,
    runbook_links,
    slo_by_signal,
    slo_success_steps,
    stat_panel,
    threshold,
    threshold_steps,
    ts_panel,
    with_no_data,
)
from moneypath.generate.rules import (
    LATENCY_QUANTILES,
    across,
    approval_records,
    cost_per_authorization_record,
    sli_good_ratio_expr,
)


def overview(c: Catalog, refs: dict[str, AlertRef]) -> Board:
    auth = c.metric(Key.AUTHORIZATIONS_TOTAL)
    hist = c.metric(Key.AUTHORIZATION_DURATION_SECONDS)
    ledger_slo = slo_by_signal(c, Key.LEDGER_WRITES_TOTAL)
    avail = slo_by_signal(c, Key.AUTHORIZATIONS_TOTAL)
    lat = authorization_latency_slo(c)
    now: list = []
    silent = threshold(c, AlertKey.AUTHORIZATIONS_SILENT)
    now.append(stat_panel("Authorizations", "Authorizations per second, all providers.",
                          [q(f"sum(rate({auth}[{RATE}]))", "authorizations/s")],
                          PanelFields("reqps", bad_below(silent) if silent is not None else neutral()),
                          runbook_links(c, refs, AlertKey.AUTHORIZATIONS_SILENT)))
    if avail:
        key, slo = avail
        now.append(stat_panel("Authorization success", f"{slo.description} Objective {slo.objective}%.",
                              [q(sli_good_ratio_expr(c, slo, RATE), "success")],
                              PanelFields("percentunit", slo_success_steps(slo)),
                              runbook_links(c, refs, slo_alert_key(key))))
    latency_steps = bad_above(lat[1].sli.latency.under) if lat else neutral()
    for quant in (0.95, 0.99):
        now.append(stat_panel(f"Authorization p{round(quant * 100)}", "Authorization latency quantile over the last "
                              "rate interval; red above the latency SLO's threshold.",
                              [q(quantile(quant, hist), f"p{round(quant * 100)}")], PanelFields("s", latency_steps),
                              runbook_links(c, refs, slo_alert_key(lat[0])) if lat else None))
    if ledger_slo:
        key, slo = ledger_slo
        failures = threshold(c, AlertKey.LEDGER_WRITE_FAILURES)
        steps = (threshold_steps((None, "red"), (clean(1 - failures), "yellow"), (clean(slo.objective / 100), "green"))
                 if failures is not None else slo_success_steps(slo))
        now.append(stat_panel("Ledger write success", f"{slo.description} Objective {slo.objective}%.",
                              [q(sli_good_ratio_expr(c, slo, RATE), "committed")], PanelFields("percentunit", steps),
                              runbook_links(c, refs, AlertKey.LEDGER_WRITE_FAILURES, slo_alert_key(key))))
    if c.has(Key.LEDGER_IMBALANCE_MINOR):
        imbalance = c.metric(Key.LEDGER_IMBALANCE_MINOR)
        queries, units = money(c, lambda m: across(c, Key.LEDGER_IMBALANCE_MINOR, f"abs({imbalance}{{{m}}})",
                                                   "currency"), threshold(c, AlertKey.LEDGER_IMBALANCE))
        now.append(stat_panel("Ledger imbalance", "Sum of postings per currency, in the currency's own units; double "
                              "entry requires 0.", queries,
                              PanelFields("short", alert_above(c, AlertKey.LEDGER_IMBALANCE), overrides=units),
                              runbook_links(c, refs, AlertKey.LEDGER_IMBALANCE), PanelSize(4, 5)))

    # Optional domains (catalog features): a panel only while the catalog has its signals.
    second: list = []
    if AlertKey.APPROVAL_RATE_DROP in c.alerts and c.alerts[AlertKey.APPROVAL_RATE_DROP].expr is None:
        records = approval_records(c)
        drop = threshold(c, AlertKey.APPROVAL_RATE_DROP)
        second.append(stat_panel(
            "Approval share vs last day", "Approved / (approved + declined) over 30 m divided by the same over the "
            f"last day, per provider and method; red where {c.alert_name(AlertKey.APPROVAL_RATE_DROP)} pages (given "
            "enough answers).", [q(f"{records['recent']} / {records['baseline']}", "{{provider}} {{method}}")],
            PanelFields("suffix:x", bad_below(clean(1 - drop)) if drop is not None else neutral()),
            runbook_links(c, refs, AlertKey.APPROVAL_RATE_DROP)))
    if c.has(Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS):
        second.append(stat_panel(
            "Reconciliation lag", "Oldest ledger entry not yet matched to a settlement, per provider.",
            [q(across(c, Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS, by="provider"), "{{provider}}")],
            PanelFields("s", alert_above(c, AlertKey.RECONCILIATION_LAG_HIGH)),
            runbook_links(c, refs, AlertKey.RECONCILIATION_LAG_HIGH)))
    if c.has(Key.DEAD_LETTERS_TOTAL):
        second.append(stat_panel(
            "Dead letters (10m)", "Messages dead-lettered in the last 10 minutes, per queue.",
            [q(f"sum by (queue) (increase({c.metric(Key.DEAD_LETTERS_TOTAL)}[10m]))", "{{queue}}")],
            PanelFields("short", alert_above(c, AlertKey.DEAD_LETTERS_GROWING)),
            runbook_links(c, refs, AlertKey.DEAD_LETTERS_GROWING)))
    if c.has(Key.REQUESTS_SHED_TOTAL):
        shed, served = c.metric(Key.REQUESTS_SHED_TOTAL), c.metric(Key.HTTP_REQUESTS_TOTAL)
        second.append(stat_panel(
            "Refused past capacity", "Share of requests refused at once (503 + Retry-After) because the service was "
            "past its capacity, per priority; the SLOs do not count them.",
            [q(f"sum by (priority) (rate({shed}[{RATE}])) / scalar(sum(rate({served}[{RATE}])))", "{{priority}}")],
            PanelFields("percentunit", alert_above(c, AlertKey.LOAD_SHEDDING)),
            runbook_links(c, refs, AlertKey.LOAD_SHEDDING)))
    if c.has(Key.COST_USD_TOTAL):
        cost = c.metric(Key.COST_USD_TOTAL)
        per_tx = cost_per_authorization_record(c)
        second.append(stat_panel(
            "Cost per transaction", "Money spent running the money path per authorization.",
            [q(f"sum(rate({cost}[{RATE}])) / sum(rate({auth}[{RATE}]))", "USD per authorization")],
            PanelFields("currencyUSD", neutral()), runbook_links(c, refs, AlertKey.COST_PER_TRANSACTION_REGRESSION)))
        second.append(stat_panel(
            "Cost vs 7-day average", "Cost per authorization (15 m) over its 7-day average; the regression alert's "
            "test.", [q(f"{per_tx} / avg_over_time({per_tx}[7d])", "ratio")],
            PanelFields("suffix:x", alert_above(c, AlertKey.COST_PER_TRANSACTION_REGRESSION)),
            runbook_links(c, refs, AlertKey.COST_PER_TRANSACTION_REGRESSION)))
    if c.has(Key.FRAUD_DECISIONS_TOTAL):
        fraud = c.metric(Key.FRAUD_DECISIONS_TOTAL)

        def decline(w: str) -> str:
            return f'sum(rate({fraud}{{decision="decline"}}[{w}])) / sum(rate({fraud}[{w}]))'

        second.append(stat_panel(
            "Fraud declines vs 1-day rate", "Fraud decline ratio over 15 m divided by its 1-day ratio.",
            [q(f"({decline('15m')}) / ({decline('1d')})", "ratio")],
            PanelFields("suffix:x", alert_above(c, AlertKey.FRAUD_SPIKE)), runbook_links(c, refs, AlertKey.FRAUD_SPIKE)))
    second.append(stat_panel(
        "Alerts firing", "Number of moneypath alerts firing now.",
        [q(f'count(ALERTS{{alertstate="firing", alertname=~"{c.alert_prefix}.*", severity!="{WATCHDOG_SEVERITY}"}})'
           " or vector(0)", "firing")], PanelFields("short", bad_above(0))))

    quantiles = [q(quantile(quant, hist), f"p{round(quant * 100)}", exemplar=True) for quant in LATENCY_QUANTILES]
    trends = [
        ts_panel("Authorization latency", "Quantiles of authorization latency; exemplars link to traces.", quantiles,
                 PanelFields("s", latency_steps), runbook_links(c, refs, slo_alert_key(lat[0])) if lat else None),
        ts_panel("Authorizations by outcome", "Authorizations per second by outcome.",
                 [q(f"sum by (outcome) (rate({auth}[{RATE}]))", "{{outcome}}")], PanelFields("reqps"), stack=True),
    ]
    firing = (table.Panel().title("Firing alerts")
              .description("Every alert firing now (ALERTS{alertstate=\"firing\"}), newest first.")
              .unit("short").datasource(DS).align(common.FieldTextAlignment.AUTO).inspect(False)
              .targets([q('ALERTS{alertstate="firing"}', instant=True, fmt="table")])
              .with_transformation(organize(["Time", "__name__", "Value", "alertstate"]))
              .thresholds(neutral()).mappings(with_no_data()).no_value("No alerts firing").span(24).height(7))
    rows = [("Money path now", now + second), ("Trends", trends)]
    if c.has(Key.GRAPHQL_OPERATIONS_TOTAL, Key.GRAPHQL_OPERATION_DURATION_SECONDS):  # feature graphql
        rows.append(("GraphQL operations", graphql_panels(c)))
    return Board("overview", "Money path overview", "On-call first stop: is money moving correctly right now?",
                 list(refs.values()), rows=[*rows, ("Alerts", [firing])])


def graphql_panels(c: Catalog) -> list:
    """Per operation name: failing and rejected shares, rate by outcome, p99 (one HTTP route carries them all)."""
    ops, hist = c.metric(Key.GRAPHQL_OPERATIONS_TOTAL), c.metric(Key.GRAPHQL_OPERATION_DURATION_SECONDS)

    def share(outcome: str) -> str:
        return (f'sum by (operation) (rate({ops}{{outcome="{outcome}"}}[{RATE}])) / '
                f"sum by (operation) (rate({ops}[{RATE}]))")

    return [
        stat_panel("GraphQL operations failing", "Share of each operation whose answer named it in `errors` (a "
                   "resolver raised, validation failed).", [q(share("error"), "{{operation}}")],
                   PanelFields("percentunit", bad_above(0.01)), size=PanelSize(6, 5)),
        stat_panel("GraphQL operations rejected", "Share of each operation answered with user errors in its "
                   "payload: refused, not broken; a jump says clients or a rule changed.",
                   [q(share("rejected"), "{{operation}}")], PanelFields("percentunit", neutral()), size=PanelSize(6, 5)),
        ts_panel("GraphQL operations by outcome", "Operations per second by name and outcome (\"other\": unnamed "
                 "or not in the catalog).",
                 [q(f"sum by (operation, outcome) (rate({ops}[{RATE}]))", "{{operation}} {{outcome}}")],
                 PanelFields("reqps"), size=PanelSize(6, 8)),
        ts_panel("GraphQL p99 by operation", "99th percentile latency of each operation.",
                 [q(quantile(0.99, hist, by="operation"), "{{operation}}")], PanelFields("s"), size=PanelSize(6, 8)),
    ]
