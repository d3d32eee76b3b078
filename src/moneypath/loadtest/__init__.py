"""Load tests that gate a release (`moneypath loadtest`) and a capacity and cost plan (`moneypath capacity`).

Nothing here imports Locust or gevent at import time: only a Locust process imports `user`, `harness`, `exporter` and a
locustfile. The scenario file's format is moneypath.formats.scenarios.

The Locust side's modules:
user (PaymentUser, the base class of every locustfile),
client (its Locust-free body),
flows (a user's payment as a flow of a request template's steps),
pacing (each user's schedule),
harness (what every locustfile gets: options, settings, shape, faults, exporter),
exporter (Locust's statistics as Prometheus metrics),
locustfiles (the locustfile moneypath adds to every run).

The shared modules:
shape (the load a scenario describes over a run),
request_names (the request-name contract between a locustfile and the gates),
fault_calls (a scenario's faults as calls to a fault API),
run_settings (a run's settings, the same in every Locust process).

The command's modules:
session (one `moneypath loadtest`, from options to a judged report),
inputs (the locustfile and staging directory checked before anything runs),
targets (where the load goes, and the exporter as a scrape target),
scraped_targets (the series judged come from what the load drives),
launch (how Locust is started on a locustfile),
locust_run (Locust run headless for one scenario, and judged),
locust_processes (a run's Locust processes started, followed and stopped),
parent_watch (a Locust process dies with its parent),
stats (Locust's statistics files as figures),
observe (what Prometheus saw during a run),
counts (the run's conservation of counts),
gates (release gates against the catalog's SLOs),
overload (the overload gates, phase by phase),
load_generator (what the generator's health does to the gates),
generator_bound (whether the load generator was the bottleneck),
resources (what a load step used, and what ran out first),
cpu_quota (a process's CPU quota, throttling and run-queue time),
run_types (what a run is given and yields, and its error),
run_report (the report directory: result.json, markdown, HTML, plots),
capacity (`moneypath capacity`: the plan),
soak (`moneypath loadtest soak`: drift over a long run).

The distributed run's modules:
worker_identity (what a worker must share with its master),
worker_admission (a worker carries load only once checked),
worker_roll (the files that say who joined),
worker_watch (the worker timeline, inside Locust),
worker_health (the load generator judged from that timeline).
"""
