"""Simulated external payment providers, one per provider of the catalog, in their own HTTP process.

Run with `python -m moneypath.reference.providersim`; build in-process with
`create_app(SimConfig(...))` (the shipped catalog's acme and globex) or `SimConfig.from_catalog(catalog, ...)`.
"""

from moneypath.reference.providersim.simulator_app import SimConfig, create_app

__all__ = ["SimConfig", "create_app"]
