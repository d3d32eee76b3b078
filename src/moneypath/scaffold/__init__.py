"""`moneypath init`: a team's own project — catalog, generated artifacts, runbook pages, tabletop
drills and a locustfile — from a few options. Sits beside the stack: above the checks (whose file
formats it writes) and the generators (whose build it runs).

Modules:
project (`moneypath init DIR`: the whole project written),
catalog_template (the commented catalog),
map_section (the catalog's `money_path:` section),
pages (runbook pages, tabletop drills, a locustfile and its scenario file, the request template),
openslo_import (`moneypath slo import`: OpenSLO SLOs into the catalog).
"""
