"""The ledger dashboard: ledger writes and balance; reconciliation, outbox and dead letters while those
features are on. Without the ledger feature it is the charges dashboard (`<namespace>-charges`): money charged
twice, and the other features' rows."""

from __future__ import annotations

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import AlertKey, Key, slo_alert_key
from moneypath.generate.dashboards.panels import (
    RATE,
    AlertRef,
    Board,
    PanelFields,
    PanelSize,
    alert_above,
    bad_above,
    bar_panel,
    money,
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


def ledger(c: Catalog, refs: dict[str, AlertRef]) -> Board:
    dup = c.metric(Key.DUPLICATE_CHARGES_TOTAL)
    dup_minor = c.metric(Key.DUPLICATE_CHARGED_MINOR_TOTAL)
    charged_twice, charged_twice_units = money(c, lambda m: f"sum by (currency) (increase({dup_minor}{{{m}}}[1d]))")
    duplicate_rows = [
        stat_panel("Duplicate charges (10m)", "Payments charged more than once in 10 minutes, per provider.",
                   [q(f"sum by (provider) (increase({dup}[10m]))", "{{provider}}")],
                   PanelFields("short", alert_above(c, AlertKey.DUPLICATE_CHARGE_DETECTED)),
                   runbook_links(c, refs, AlertKey.DUPLICATE_CHARGE_DETECTED), PanelSize(6, 5)),
        stat_panel("Charged twice (24h)", "Money charged twice in the last 24 hours, per currency in its own units.",
                   charged_twice, PanelFields("short", bad_above(0), overrides=charged_twice_units),
                   runbook_links(c, refs, AlertKey.DUPLICATE_CHARGE_DETECTED), PanelSize(6, 5)),
    ]
    if c.has(Key.LEDGER_WRITES_TOTAL, Key.LEDGER_WRITE_DURATION_SECONDS, Key.LEDGER_IMBALANCE_MINOR):
        rows = [("Ledger", _ledger_panels(c, refs, duplicate_rows))]
        parts = ["Ledger writes, failures and balance"]
    else:  # no double-entry ledger (features.ledger: false): money charged twice only
        rows = [("Charged twice", duplicate_rows)]
        parts = ["Payments and money charged twice"]
    # Optional domains (catalog features): a row only while the catalog has their signals.
    reconciliation = c.has(Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS,
                         Key.RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS, Key.RECONCILIATION_MISMATCHES_TOTAL)
    if reconciliation:
        age = across(c, Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS, by="provider")
        last = across(c, Key.RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS, by="provider")
        mismatches = c.metric(Key.RECONCILIATION_MISMATCHES_TOTAL)
        rows.append(("Reconciliation", [
            stat_panel("Time since last reconciliation", "Seconds since the last successful run, per provider.",
                       [q(f"time() - {last}", "{{provider}}")],
                       PanelFields("s", alert_above(c, AlertKey.RECONCILIATION_LAG_HIGH)),
                       runbook_links(c, refs, AlertKey.RECONCILIATION_LAG_HIGH), PanelSize(8, 5)),
            ts_panel("Oldest unreconciled entry", "Age of the oldest ledger entry without a settlement match.",
                     [q(age, "{{provider}}")], PanelFields("s", alert_above(c, AlertKey.RECONCILIATION_LAG_HIGH)),
                     runbook_links(c, refs, AlertKey.RECONCILIATION_LAG_HIGH), PanelSize(16, 8)),
            bar_panel("Mismatches by kind (15m)", "Settlement mismatches in the last 15 minutes, by provider and "
                      "kind.", [q(f"sum by (provider, mismatch_kind) (increase({mismatches}[15m]))",
                                  "{{provider}} {{mismatch_kind}}")],
                      PanelFields("short", alert_above(c, AlertKey.SETTLEMENT_MISMATCH)),
                      runbook_links(c, refs, AlertKey.SETTLEMENT_MISMATCH), PanelSize(12, 8)),
            ts_panel("Mismatches by kind", "Settlement mismatches per second by kind.",
                     [q(f"sum by (mismatch_kind) (rate({mismatches}[{RATE}]))", "{{mismatch_kind}}")],
                     PanelFields("short"), size=PanelSize(12, 8)),
        ]))
        parts.append("reconciliation lag and mismatches")
    if c.has(Key.QUEUE_DEPTH, Key.DEAD_LETTERS_TOTAL):
        dead = c.metric(Key.DEAD_LETTERS_TOTAL)
        rows.append(("Outbox", [
            ts_panel("Outbox queue depth", c.signals[Key.QUEUE_DEPTH].help,
                     [q(across(c, Key.QUEUE_DEPTH, by="queue"), "{{queue}}")], PanelFields("short")),
            bar_panel("Dead letters (10m)", "Messages dead-lettered in the last 10 minutes, per queue.",
                      [q(f"sum by (queue) (increase({dead}[10m]))", "{{queue}}")],
                      PanelFields("short", alert_above(c, AlertKey.DEAD_LETTERS_GROWING)),
                      runbook_links(c, refs, AlertKey.DEAD_LETTERS_GROWING), PanelSize(12, 8)),
        ]))
        parts.append("outbox and dead letters")
    keys = [AlertKey.LEDGER_IMBALANCE, AlertKey.LEDGER_WRITE_FAILURES, AlertKey.DUPLICATE_CHARGE_DETECTED,
            AlertKey.RECONCILIATION_LAG_HIGH, AlertKey.SETTLEMENT_MISMATCH, AlertKey.DEAD_LETTERS_GROWING,
            *(slo_alert_key(k) for k in slos_on(c, {Key.LEDGER_WRITES_TOTAL}))]
    name = "ledger" if c.enabled("ledger") else "charges"
    title = f"Money path: {name} and reconciliation" if reconciliation else f"Money path: {name}"
    return Board(name, title, "; ".join(parts) + ".", pick_alerts(c, refs, keys), rows=rows)


def _ledger_panels(c: Catalog, refs: dict[str, AlertRef], duplicates: list) -> list:
    """The ledger row: writes, failures and balance, with the duplicate-charge panels among them."""
    writes = c.metric(Key.LEDGER_WRITES_TOTAL)
    write_hist = c.metric(Key.LEDGER_WRITE_DURATION_SECONDS)
    imbalance = c.metric(Key.LEDGER_IMBALANCE_MINOR)

    failed_ratio = f'sum(rate({writes}{{outcome="failed"}}[{RATE}])) / sum(rate({writes}[{RATE}]))'
    imbalance_now, imbalance_units = money(
        c, lambda m: across(c, Key.LEDGER_IMBALANCE_MINOR, f"abs({imbalance}{{{m}}})", "currency"),
        threshold(c, AlertKey.LEDGER_IMBALANCE))
    imbalance_series, _ = money(c, lambda m: across(c, Key.LEDGER_IMBALANCE_MINOR, f"{imbalance}{{{m}}}", "currency"))
    return [
        stat_panel("Ledger write failures", "Share of ledger writes that failed.", [q(failed_ratio, "failed")],
                   PanelFields("percentunit", alert_above(c, AlertKey.LEDGER_WRITE_FAILURES)),
                   runbook_links(c, refs, AlertKey.LEDGER_WRITE_FAILURES), PanelSize(6, 5)),
        stat_panel("Ledger imbalance", "Sum of postings per currency, in the currency's own units; must be 0.",
                   imbalance_now,
                   PanelFields("short", alert_above(c, AlertKey.LEDGER_IMBALANCE), overrides=imbalance_units),
                   runbook_links(c, refs, AlertKey.LEDGER_IMBALANCE), PanelSize(6, 5)),
        *duplicates,
        ts_panel("Ledger writes by outcome", "Ledger write transactions per second by outcome.",
                 [q(f"sum by (outcome) (rate({writes}[{RATE}]))", "{{outcome}}")], PanelFields("ops"), stack=True),
        ts_panel("Ledger write latency", "p50/p99 time to commit one balanced transaction.",
                 [q(quantile(quant, write_hist), f"p{round(quant * 100)}", exemplar=True) for quant in (0.5, 0.99)],
                 PanelFields("s")),
        ts_panel("Ledger imbalance by currency", "Double entry requires 0 in every currency (in its own units).",
                 imbalance_series,
                 PanelFields("short", alert_above(c, AlertKey.LEDGER_IMBALANCE), overrides=imbalance_units),
                 runbook_links(c, refs, AlertKey.LEDGER_IMBALANCE)),
        ts_panel("Ledger write failure ratio", "Failed ledger writes over all writes.", [q(failed_ratio, "failed")],
                 PanelFields("percentunit", alert_above(c, AlertKey.LEDGER_WRITE_FAILURES)),
                 runbook_links(c, refs, AlertKey.LEDGER_WRITE_FAILURES)),
    ]
