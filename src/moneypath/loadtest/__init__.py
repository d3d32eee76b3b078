"""Load tests that gate a release (`moneypath loadtest`) and a capacity and cost plan (`moneypath capacity`).

The Locust side: `user.PaymentUser`, the base class of every locustfile (a team's own in its project's
loadtests/, the reference service's in moneypath's), its Locust-free body `client`, and `harness`
(Locust options, the scenario shape, faults, the exporter hook; `locustfiles/moneypath_harness.py`
loads it). What both sides share: the scenario file (its format is
moneypath.formats.scenarios) and the load's shape it describes (`shape`), the request-name contract
(`request_names`), fault calls (`fault_calls`). What runs and judges a command: session and capacity.plan_session
(inputs, targets), locust_run, stats, observe, gates, run_report, capacity/, soak/. Nothing here imports Locust or
gevent at import time: only a Locust process imports `user`, `harness`, `exporter` and a locustfile.
"""
