"""The SLOs dashboard: one row per SLO with its objective, burn rates and remaining error budget."""

from __future__ import annotations

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import (
    BURN_RATE_PAIRS,
    SLI_WINDOWS,
    SLO_BUDGET_REMAINING_RECORD,
    SLO_OBJECTIVE_RECORD,
    sli_error_record,
    slo_alert_key,
)
from moneypath.generate.dashboards.panels import (
    AlertRef,
    Board,
    PanelFields,
    PanelSize,
    alerts_table,
    bar_panel,
    burn_steps,
    neutral,
    pick_alerts,
    q,
    stat_panel,
    threshold_steps,
    ts_panel,
)
from moneypath.generate.rule_text import num


def slos(c: Catalog, refs: dict[str, AlertRef]) -> Board:
    rows = []
    for key, slo in c.slos.items():
        sel = f'{{slo="{key}"}}'
        alert = pick_alerts(c, refs, [slo_alert_key(key)])
        budget = slo.error_budget
        windows = sorted({w for pair in BURN_RATE_PAIRS for w in pair[1:3]}, key=SLI_WINDOWS.index)
        rows.append((f"SLO {key}", [
            stat_panel("Objective", f"{slo.description} Window {slo.window}.",
                       [q(f"{SLO_OBJECTIVE_RECORD}{sel}", "objective")],
                       PanelFields("percentunit", neutral()), size=PanelSize(4, 6)),
            bar_panel("Burn rate by window", "Error ratio over each window divided by the error budget "
                      f"({num(budget * 100)}%); thresholds are the alert burn factors.",
                      [q(f"{sli_error_record(w)}{sel} / {num(budget)}", w) for w in SLI_WINDOWS],
                      PanelFields("suffix:x", burn_steps()), {f"Runbook: {a.name}": a.runbook_url for a in alert},
                      PanelSize(8, 6)),
            stat_panel("Error budget remaining", f"Share of the {slo.window} error budget left.",
                       [q(f"{SLO_BUDGET_REMAINING_RECORD}{sel}", "remaining")],
                       PanelFields("percentunit", threshold_steps((None, "red"), (0, "orange"), (0.5, "green"))),
                       {f"Runbook: {a.name}": a.runbook_url for a in alert}, PanelSize(4, 6)),
            ts_panel("Burn rate (alert windows)", "Burn rate over the alert windows; page at "
                     + ", ".join(f"{f:g}x over {lw}/{sw}" for sev, lw, sw, f in BURN_RATE_PAIRS if sev == "page"),
                     [q(f"{sli_error_record(w)}{sel} / {num(budget)}", w) for w in windows],
                     PanelFields("suffix:x", burn_steps()), size=PanelSize(8, 6)),
            alerts_table(f"Alert for {key}", alert, w=24, h=4),
        ]))
    return Board("slos", "Money path: SLOs", "Per SLO: objective, burn rate per window, remaining error budget.",
                 pick_alerts(c, refs, [slo_alert_key(k) for k in c.slos]), rows=rows)
