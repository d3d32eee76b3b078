"""Load tests that gate a release (`moneypath loadtest`) and a capacity and cost plan (`moneypath capacity`), in two
rooms by the program that runs them.

Modules:
in_locust (what a Locust process runs: the PaymentUser, the harness every locustfile gets, the worker timeline, and
the pure modules both sides read: the shape, the request names, the run's settings),
command (what the `moneypath loadtest` and `moneypath capacity` commands run: Locust started, followed, judged and
reported).

The command imports the Locust room's pure modules, never one that imports Locust (the user, the harness, the
exporter, the worker timeline and admission, a locustfile); the Locust room imports nothing of the command's
(pyproject.toml's import-linter contracts). The scenario file's format is moneypath.formats.scenarios.
"""
