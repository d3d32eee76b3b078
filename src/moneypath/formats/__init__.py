"""One home per hand-written file format: drill files and their request templates, the expectations on query results,
load-test scenario files, what a fault may set, and the run config. The checks (moneypath.check) and the runners
(moneypath.drills, moneypath.loadtest) both import a format from here; a format imports the catalog, the wire
formats and plumbing only.

Modules:
drill (drill files: the model and its parsing),
drill_errors (a drill file's errors in its own words),
controls (the controls a drill file may say it exercises),
requests (request templates: how load calls a team's API),
flow_answers (a flow step's answer read and judged),
env_refs (${NAME} references read from the environment),
expect (expectations on query results that drills and runbooks share),
fault_specs (what a fault may set at each fault API),
scenarios (load-test scenario files),
scenario_kubernetes (a scenario file's `kubernetes:` block),
run_config (the run config, moneypath.run.yaml: where things run).
"""
