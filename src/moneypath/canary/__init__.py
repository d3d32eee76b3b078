"""The canary gate in one room: a release on a slice of real traffic judged against a baseline of the same age, and
the canary drill that rehearses it.

The room spans three floors (pyproject.toml's layer contract): drill_file beside the file formats, below the
checks (`moneypath lint` reads it); the judge above the checks (invariants read the money checks' database);
drill_run, stage and arms above the drills, whose load and fault switches they use. The catalog's policy model
stays in moneypath.catalog.canary_policy; the rollout tools' manifests are exporters (moneypath.generate.export).

The judge's modules:
queries (each judged metric's PromQL for both arms, from the catalog's canary policy),
sequential (each metric's group-sequential test),
spending (the error spending the tests share),
latency (the latency shift metric, from histogram buckets),
cost_ratio (cost per transaction with an interval),
invariants (the money invariants, hard gates),
results (the verdict and its parts, typed on moneypath._common.verdict),
judge (one look: measure, test, decide),
reports (the verdict as JSON and one HTML page),
service (the judge over HTTP for Argo Rollouts and Flagger).

The drill's modules:
drill_file (canary drill files, `kind: canary`),
drill_run (releases shipped through a canary, each judged until it has a verdict),
stage (the reference service's baseline and canary tracks on a local stack),
arms (each arm's conservation of counts).
"""
