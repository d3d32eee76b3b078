"""Load tests that gate a release (`moneypath loadtest`) and a capacity and cost plan (`moneypath capacity`).

The Locust side lives in loadtests/ (plain locustfiles); this package holds what both sides
share (scenario definitions, the Prometheus exporter Locust serves) and what judges a run
(gates, baseline comparison, report, capacity). Nothing here imports Locust or gevent at
import time: only a Locust process imports `moneypath.loadtest.exporter` and the locustfile.
"""
