"""Scripted drills: running them against a target, the tabletop prompts and the report (markdown + HTML + PNG).

What a run leaves for the team's readiness (the drill history, its records and the evidence pack) is
moneypath.readiness, a floor below.

The entry points' modules:
runner (run_drills and run_drill, and the summary),
placement (where a drill runs, and why it cannot run there),
demo and lanes (`moneypath demo`, two drills at a time).

One run's modules:
phases (the sequence, DrillRun),
context (what every part shares, and its small verbs),
endpoints (the target's clients: service, fault API, Prometheus, pager, database),
scraped_preflight (the instruments read are the target's),
baseline_load and headroom (the load, and the target's headroom for a peak),
conservation_phase (what the load sent against what the counter counted),
fault_switch and hooks (the fault and the team's own switches),
gameday (a game day's halt conditions),
watcher (alerts and pages, every tick),
event_guards and floor_reach (alerts' event floors: planned, then delivered),
diagnosis (the runbook's diagnosis steps, run until they hold),
replicas (monitoring replicas killed on the HA stack),
impact and money (what the fault cost, from the ledger),
tolerance (impact tolerances and DORA classification),
map_hits (the map's edges a fault hit and an alert reads),
series (the plots' data),
tabletop (people answering each role's card),
journal (the journal's parts, and journal.json),
report (the report, rendered from the journal alone).
"""
