"""What `moneypath lint` checks: PromQL against the catalog (one promtool wrapper), the rule files, the
runbook pages, and the drill files against the catalog (their format and model are moneypath.formats.drill);
and the judgements other commands read from a running Prometheus or a team's database.

The lint's modules:
lint (the generated alert and recording rules),
promql (PromQL against the catalog, and the one promtool wrapper),
runbooks (the runbook pages),
drill_files (drill files against the catalog and the runbooks),
dashboards (the committed dashboards' PromQL),
instances (rules that stay right over several instances),
delivery (where a paging alert's pages go in production),
map_lint (the money-path map's rules),
ledger_queries (the money-check queries prepared on the team's database),
todos (the TODOs `moneypath init` leaves),
live (every metric and label read exists on a running Prometheus).

The shared judgements' modules:
conservation (what a run sent against what the target's counter counted),
counter_resets (counters that go backwards are not data),
detector_runs (a zero counts only from a detector seen running),
scraped_identity (the series a run reads come from what it drives),
instrumentation_errors (what the service's instrumentation counted as lost or wrong),
inline (recording rules written into the expressions that read them),
backtest (every alert evaluated over history),
rehearsals (each paging alert's readiness, from the drill history),
classification (DORA's classification of an incident),
report_clocks (DORA's reporting clocks for a major incident),
audit_trail (a long audit chain walked in several processes).
"""
