"""moneypath: observability and incident readiness for the money path of a payments platform.

Its packages, from the top floor down (pyproject.toml's layer contract; the reference system stands apart).

Modules:
cli and __main__ (the `moneypath` command line, and `python -m moneypath`),
canary (the canary gate: its judge, its drill file and its drill),
drills (scripted drills against a target, and their report),
loadtest (load tests that gate a release, and the capacity plan),
stack (running parts: the local stack, the pager, the fault proxy, Grafana),
scaffold (`moneypath init`: a team's own project),
readiness (the drill history, readiness series and the auditor's pack),
check (what `moneypath lint` checks, and judgements read from Prometheus),
formats (one home per hand-written file format),
generate (catalog to rules, routing, dashboards and exports),
map (the money-path map: graph, layout, live colours),
instrument (the instrumentation library a payment service imports),
catalog (moneypath.yaml, the single source of truth),
protocol (wire formats shared by the reference system and the tools),
_common (plumbing shared by every layer),
reference (the reference payment system moneypath is shown and tested on).
"""

__version__ = "0.1.0"
