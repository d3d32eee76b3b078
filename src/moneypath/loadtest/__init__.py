"""Load tests that gate a release (`moneypath loadtest`) and a capacity and cost plan (`moneypath capacity`).

The Locust side: `user.PaymentUser`, the base class of every locustfile (a team's own, and the
shipped `locustfiles/reference.py` for the reference service), its Locust-free body `client`, and
`harness` (Locust options, the scenario shape, faults, the exporter hook). What both sides share:
scenario files (`scenarios`), the request-name contract (`contract`), fault calls (`faults`).
What judges a run: runner, stats, observe, gates, report, capacity. Nothing here imports Locust or
gevent at import time: only a Locust process imports `user`, `harness`, `exporter` and a locustfile.
"""
