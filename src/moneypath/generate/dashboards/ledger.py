"""The ledger dashboard: ledger writes and balance, reconciliation, outbox and dead letters."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key
from moneypath.generate.dashboards.panels import (
    RATE,
    AlertRef,
    Board,
    _pick,
    _quantile,
    _rb,
    _slos_on,
    bad_above,
    bar_panel,
    neutral,
    q,
    stat_panel,
    ts_panel,
)
from moneypath.generate.rules import slo_alert_key


def ledger(c: Catalog, refs: dict[str, AlertRef]) -> Board:
    writes = c.metric(Key.LEDGER_WRITES_TOTAL)
    write_hist = c.metric(Key.LEDGER_WRITE_DURATION_SECONDS)
    imbalance = c.metric(Key.LEDGER_IMBALANCE_MINOR)
    age = c.metric(Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS)
    last = c.metric(Key.RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS)
    mismatches = c.metric(Key.RECONCILIATION_MISMATCHES_TOTAL)
    dup = c.metric(Key.DUPLICATE_CHARGES_TOTAL)
    dup_minor = c.metric(Key.DUPLICATE_CHARGED_MINOR_TOTAL)
    depth = c.metric(Key.QUEUE_DEPTH)
    dead = c.metric(Key.DEAD_LETTERS_TOTAL)
    a = c.alerts

    def thr(key: str) -> dashboard.ThresholdsConfig:
        return bad_above(a[key].threshold) if key in a else neutral()

    failed_ratio = f'sum(rate({writes}{{outcome="failed"}}[{RATE}])) / sum(rate({writes}[{RATE}]))'
    ledger_rows = [
        stat_panel("Ledger write failures", "Share of ledger writes that failed.", "percentunit",
                   [q(failed_ratio, "failed")], thr("LedgerWriteFailures"), _rb(c, refs, "LedgerWriteFailures"), w=6),
        stat_panel("Ledger imbalance", "Sum of postings per currency in minor units; must be 0.", "short",
                   [q(f"max by (currency) (abs({imbalance}))", "{{currency}}")], thr("LedgerImbalance"),
                   _rb(c, refs, "LedgerImbalance"), w=6),
        stat_panel("Duplicate charges (10m)", "Payments charged more than once in 10 minutes, per provider.",
                   "short", [q(f"sum by (provider) (increase({dup}[10m]))", "{{provider}}")],
                   thr("DuplicateChargeDetected"), _rb(c, refs, "DuplicateChargeDetected"), w=6),
        stat_panel("Charged twice (minor units, 24h)", "Money charged twice, in minor units of each currency.",
                   "short", [q(f"sum by (currency) (increase({dup_minor}[1d]))", "{{currency}}")], bad_above(0),
                   _rb(c, refs, "DuplicateChargeDetected"), w=6),
        ts_panel("Ledger writes by outcome", "Ledger write transactions per second by outcome.", "ops",
                 [q(f"sum by (outcome) (rate({writes}[{RATE}]))", "{{outcome}}")], stack=True),
        ts_panel("Ledger write latency", "p50/p99 time to commit one balanced transaction.", "s",
                 [q(_quantile(quant, write_hist), f"p{round(quant * 100)}", exemplar=True) for quant in (0.5, 0.99)]),
        ts_panel("Ledger imbalance by currency", "Double entry requires 0 in every currency.", "short",
                 [q(f"{imbalance}", "{{currency}}")], thr("LedgerImbalance"), _rb(c, refs, "LedgerImbalance")),
        ts_panel("Ledger write failure ratio", "Failed ledger writes over all writes.", "percentunit",
                 [q(failed_ratio, "failed")], thr("LedgerWriteFailures"), _rb(c, refs, "LedgerWriteFailures")),
    ]
    recon = [
        stat_panel("Time since last reconciliation", "Seconds since the last successful run, per provider.", "s",
                   [q(f"max by (provider) (time() - {last})", "{{provider}}")], thr("ReconciliationLagHigh"),
                   _rb(c, refs, "ReconciliationLagHigh"), w=8),
        ts_panel("Oldest unreconciled entry", "Age of the oldest ledger entry without a settlement match.", "s",
                 [q(f"max by (provider) ({age})", "{{provider}}")], thr("ReconciliationLagHigh"),
                 _rb(c, refs, "ReconciliationLagHigh"), w=16),
        bar_panel("Mismatches by kind (15m)", "Settlement mismatches in the last 15 minutes, by provider and kind.",
                  "short", [q(f"sum by (provider, mismatch_kind) (increase({mismatches}[15m]))",
                              "{{provider}} {{mismatch_kind}}")], thr("SettlementMismatch"),
                  _rb(c, refs, "SettlementMismatch"), w=12, h=8),
        ts_panel("Mismatches by kind", "Settlement mismatches per second by kind.", "short",
                 [q(f"sum by (mismatch_kind) (rate({mismatches}[{RATE}]))", "{{mismatch_kind}}")], w=12),
    ]
    outbox = [
        ts_panel("Outbox queue depth", c.signals[Key.QUEUE_DEPTH].help, "short",
                 [q(f"max by (queue) ({depth})", "{{queue}}")]),
        bar_panel("Dead letters (10m)", "Messages dead-lettered in the last 10 minutes, per queue.", "short",
                  [q(f"sum by (queue) (increase({dead}[10m]))", "{{queue}}")], thr("DeadLettersGrowing"),
                  _rb(c, refs, "DeadLettersGrowing"), w=12, h=8),
    ]
    keys = ["LedgerImbalance", "LedgerWriteFailures", "DuplicateChargeDetected", "ReconciliationLagHigh",
            "SettlementMismatch", "DeadLettersGrowing", *(slo_alert_key(k) for k in _slos_on(c, {Key.LEDGER_WRITES_TOTAL}))]
    return Board("ledger", "Money path: ledger and reconciliation",
                 "Ledger writes, failures and balance; reconciliation lag and mismatches; outbox and dead letters.",
                 _pick(c, refs, keys), rows=[("Ledger", ledger_rows), ("Reconciliation", recon), ("Outbox", outbox)])
