"""What `moneypath lint` checks: PromQL against the catalog (one promtool wrapper), the rule files, the
runbook pages, and the drill files against the catalog (their format and model are moneypath.formats.drill)."""
