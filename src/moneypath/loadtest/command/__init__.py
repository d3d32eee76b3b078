"""What the `moneypath loadtest` and `moneypath capacity` commands run, in moneypath's own process: Locust started on
a locustfile, followed, its statistics judged against the gates and reported. No Locust import; of
moneypath.loadtest.in_locust it reads the pure modules only.

The run's modules:
session (one `moneypath loadtest`, from options to a judged report),
inputs (the locustfile and staging directory checked before anything runs),
targets (where the load goes, and the exporter as a scrape target),
scraped_targets (the series judged come from what the load drives),
launch (how Locust is started on a locustfile),
locust_run (Locust run headless for one scenario, and judged),
locust_processes (a run's Locust processes started, followed and stopped),
run_types (what a run is given and yields, and its error),
run_report (the report directory: result.json, markdown, HTML, plots).

The judge's modules:
stats (Locust's statistics files as figures),
observe (what Prometheus saw during a run),
counts (the run's conservation of counts),
gates (release gates against the catalog's SLOs),
overload (the overload gates, phase by phase),
load_generator (what the generator's health does to the gates),
worker_health (the load generator judged from the worker timeline),
generator_bound (whether the load generator was the bottleneck),
resources (what a load step used, and what ran out first).

The other commands' modules:
capacity (`moneypath capacity`: the plan),
soak (`moneypath loadtest soak`: drift over a long run).
"""
