"""moneypath's Locust hooks as a locustfile of their own: `moneypath loadtest` runs Locust with
`-f <your locustfile>,<this file>`, so that a locustfile which imports nothing of moneypath still
gets the scenario's shape, faults, snapshots and exporter (see moneypath.loadtest.command.launch). It
defines no user: importing the harness registers its options and listeners (once, however many
locustfiles import it)."""

import moneypath.loadtest.in_locust.harness  # noqa: F401
