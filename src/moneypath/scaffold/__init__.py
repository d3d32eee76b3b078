"""`moneypath init`: a team's own project — catalog, generated artifacts, runbook pages, tabletop
drills and a locustfile — from a few options. Sits beside the stack: above the checks (whose file
formats it writes) and the generators (whose build it runs)."""
