"""Scripted drills: running them against a target, the tabletop prompts and the report (markdown + HTML + PNG).

The entry points: runner (run_drills, run_drill), placement (where a drill runs), demo and lanes (`moneypath demo`,
two drills at a time). One drill's run, cut by job: phases (the sequence, DrillRun), context (what every part
shares), baseline_load and headroom (the load), fault_switch and hooks (the fault and the team's switches), watcher
(alerts and pages), diagnosis (the runbook's diagnosis steps), replicas (monitoring replicas killed on the HA
stack), impact and money (what the fault cost), tolerance (impact tolerances, DORA classification), series (the
plots' data), tabletop (people answering each role's card), gameday and event_guards (what a drill file is refused
or halted for) and journal (journal.json); report/ renders it. What a run leaves for the team's readiness (the
drill history, its records and the evidence pack) is moneypath.readiness, a floor below.
"""
