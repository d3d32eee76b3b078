"""What `moneypath lint` checks: PromQL against the catalog (one promtool wrapper), the rule files, the
runbook pages, and the drill files (their format, model and checks)."""
