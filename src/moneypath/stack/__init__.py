"""Running parts, talked to over HTTP: the local stack (Prometheus, Alertmanager, pager, and the reference
system as processes), the pager, the snapshot page, and the Grafana push.

The local stack's modules:
local (`moneypath up|down`: the stack on loopback),
spec (what shapes a local stack),
state (what a running stack is, in stack.json),
status (`moneypath status`: each part, and whether targets answer),
processes (free ports, binaries, whether a part runs),
scrape (jobs other tools add to its scrape configuration),
first_scrape (no page while a target boots),
counter_check (scrape targets whose counters go backwards),
service_files (the reference service's secrets and checkpoint key),
tracks (a baseline and a canary track of the reference service),
pgserver (a throwaway PostgreSQL server).

The other running parts' modules:
pager (`moneypath pager`: the webhook receiver that records pages),
faultproxy (`moneypath faultproxy`: the proxy that breaks the money path on request),
clock_exporter (the incident reporting clocks as Prometheus gauges),
grafana (`moneypath dashboards push`),
snapshot and snapshot_map (`moneypath snapshot`: the overview dashboard and the map, without Grafana).
"""
