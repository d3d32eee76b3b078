"""Simulated external payment providers (acme, globex) in their own HTTP process.

Run with `python -m moneypath.reference.providersim`; build in-process with `create_app(SimConfig(...))`.
"""

from moneypath.reference.providersim.app import SimConfig, create_app

__all__ = ["SimConfig", "create_app"]
