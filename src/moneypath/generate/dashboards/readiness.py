"""The readiness dashboard (while the catalog declares `readiness:`): per paging alert, how long since its last
passing drill against its policy, which were never rehearsed, and its recent times to page, diagnose and recover
against its deadline — the series `moneypath readiness serve` exports, as the readiness rules read them."""

from __future__ import annotations

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import common

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import READINESS_ALERT_LABEL, READINESS_RUN_LABEL, AlertKey
from moneypath.generate.dashboards.panels import (
    DS,
    AlertRef,
    Board,
    PanelFields,
    PanelSize,
    bar_panel,
    neutral,
    organize,
    q,
    threshold_steps,
    with_no_data,
)
from moneypath.generate.readiness_rules import runs_matcher, series


def readiness(c: Catalog, refs: dict[str, AlertRef]) -> Board | None:
    if c.readiness is None:
        return None
    a = READINESS_ALERT_LABEL
    by = f"by ({a})"
    n = c.readiness.trend.runs
    legend = "{{" + a + "}}"
    last = f"max {by} ({series(c, 'last_pass')})"
    policy = f"max {by} ({series(c, 'policy')})"
    runs = f'{READINESS_RUN_LABEL}=~"{runs_matcher(1, n)}"'
    recent = series(c, "time_to_page", runs)
    keys = [AlertKey.READINESS_LAPSED, AlertKey.TIME_TO_PAGE_CREEPING]
    alerts = [refs[c.alert_name(k)] for k in keys if c.alert_name(k) in refs]  # generated, not catalog alerts
    runbooks = {f"Runbook: {r.name}": r.runbook_url for r in alerts}
    never = (table.Panel().title("Never rehearsed (not measured)")
             .description("Paging alerts no drill on record has paged: their readiness is not measured, never "
                          "ready. ReadinessLapsed tickets each (reason never_rehearsed).")
             .unit("short").datasource(DS).align(common.FieldTextAlignment.AUTO).inspect(False)
             .targets([q(f"{policy}\nunless on ({a})\n{last}", legend=legend, instant=True, fmt="table")])
             .with_transformation(organize(["Time", "Value"]))
             .mappings(with_no_data()).no_value("every paging alert has been rehearsed").thresholds(neutral())
             .span(8).height(8))
    lapse = [
        bar_panel("Policy used since the last pass", "Time since each paging alert last passed a drill, as a "
                  f"share of its readiness policy (default {c.readiness.policy_days} days); at 100 % it has "
                  "lapsed and ReadinessLapsed tickets.",
                  [q(f"(time() - {last})\n/ on ({a})\n{policy}", legend, instant=True)],
                  PanelFields("percentunit", threshold_steps((None, "green"), (0.75, "orange"), (1, "red"))), runbooks,
                  PanelSize(8, 8)),
        bar_panel("Days since the last pass", "Days since each paging alert last passed a drill (real time).",
                  [q(f"(time() - {last}) / 86400", legend, instant=True)],
                  PanelFields("suffix: d", threshold_steps((None, "green"), (c.readiness.policy_days, "red"))),
                  size=PanelSize(8, 8)),
        never,
    ]
    times = [
        bar_panel(f"Time to page, median of the last {n} drills, over its deadline", "Above 1 the alert pages later "
                  "than its deadline (catalog readiness, else the page_within of its drills in real time): "
                  "TimeToPageCreeping tickets.",
                  [q(f"quantile {by} (0.5, {recent})\n/ on ({a})\nmax {by} ({series(c, 'page_deadline')})",
                     legend, instant=True)],
                  PanelFields("percentunit", threshold_steps((None, "green"), (0.75, "orange"), (1, "red"))), runbooks,
                  PanelSize(12, 8)),
    ]
    for what in ("time_to_page", "time_to_diagnose", "time_to_recover"):
        words = what.replace("_", " ").capitalize()
        times.append(bar_panel(f"{words}, median of the last {n} drills",
                               f"{words} in real time (a compressed drill's times scaled back by its factor), the "
                               f"median of each paging alert's last {n} drills.",
                               [q(f"quantile {by} (0.5, {series(c, what, runs)})", legend, instant=True)],
                               PanelFields("s", neutral()), size=PanelSize(12, 8)))
    return Board("readiness", "Money path: drill readiness",
                 "Per paging alert: its last passing drill against the readiness policy, alerts never rehearsed, and "
                 "its recent times to page, diagnose and recover (moneypath readiness serve).",
                 alerts, rows=[("Lapse", lapse), ("Times", times)])

