"""The canary gate in one room: a release on a slice of real traffic judged against a baseline of the same age, and
the canary drill that rehearses it.

The judge: queries (the catalog's canary policy read into each judged metric's PromQL, and the selectors of
both arms), sequential (each metric's group-sequential test), spending (the error spending
they share), invariants (the money invariants, hard gates),
results (the verdict and its parts, typed on moneypath._common.verdict), judge (one look: measure, test,
decide), reports (its JSON and HTML page) and service (the judge over HTTP for Argo Rollouts and Flagger). The
drill: drill_file (canary drill files, `kind: canary`), drill_run (releases shipped through a canary, each judged
until it has a verdict) and stage (the reference service's baseline and canary tracks on a local stack).

The room spans three floors (pyproject.toml's layer contract): drill_file beside the file formats, below the
checks (`moneypath lint` reads it); the judge above the checks (invariants read the money checks' database);
drill_run and stage above the drills, whose load and fault switches they use. The catalog's policy model stays in
moneypath.catalog.canary_policy; the rollout tools' manifests are exporters (moneypath.generate.export).
"""
