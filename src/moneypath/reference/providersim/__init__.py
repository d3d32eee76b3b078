"""Simulated external payment providers, one per provider of the catalog, in their own HTTP process.

Run with `python -m moneypath.reference.providersim`; build in-process with
`create_app(SimConfig(...))` (the shipped catalog's acme and globex) or `SimConfig.from_catalog(catalog, ...)`.

Modules:
__main__ (serving it with uvicorn),
simulator_app (the HTTP face: one API per provider, the admin endpoints, errors),
providers (the simulated providers in two API styles, no HTTP),
simulator_faults (its faults, each hitting one provider),
webhook_delivery (signed webhooks sent in the background),
settlement (settlement files, one CSV per provider).
"""

from moneypath.reference.providersim.simulator_app import SimConfig, create_app

__all__ = ["SimConfig", "create_app"]
