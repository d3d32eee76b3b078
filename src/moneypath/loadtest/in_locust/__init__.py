"""What a Locust process runs: a locustfile's users and the harness moneypath adds to every run. Imports nothing of
moneypath.loadtest.command.

Locust processes import these modules by their dotted path (a locustfile's
`from moneypath.loadtest.in_locust.user import PaymentUser`, the harness locustfile's import). The first group
imports Locust or gevent, so only a Locust process imports it; the command reads the pure ones too.

The Locust-importing modules:
user (PaymentUser, the base class of every locustfile),
harness (what every locustfile gets: options, settings, shape, faults, exporter),
exporter (Locust's statistics as Prometheus metrics),
worker_watch (the worker timeline, written on the master),
worker_admission (a worker carries load only once checked: the master's gate and the worker's side),
locustfiles (the locustfile moneypath adds to every run).

The pure modules:
client (a PaymentUser's Locust-free body),
flows (a user's payment as a flow of a request template's steps),
pacing (each user's schedule),
shape (the load a scenario describes over a run),
request_names (the request-name contract between a locustfile and the gates),
fault_calls (a scenario's faults as calls to a fault API),
run_settings (a run's settings, the same in every Locust process, and the environment they come through),
worker_identity (what a worker must share with its master),
worker_roll (the files that say who joined),
worker_rates (a worker's rates from its stats reports),
parent_watch (a Locust process dies with its parent),
cpu_quota (a process's CPU quota, throttling and run-queue time).
"""
