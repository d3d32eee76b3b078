"""One home per hand-written file format: drill files (drill), their request templates (requests), the
expectations on query results they and the runbooks share (expect), load-test scenario files (scenarios),
what a fault in a drill or scenario file may set at each fault API (fault_specs), and the run config,
moneypath.run.yaml: where things run (run_config). The checks (moneypath.check) and the
runners (moneypath.drills, moneypath.loadtest) both import a format from here; a format imports the catalog, the
wire formats and plumbing only."""
