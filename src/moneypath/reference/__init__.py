"""The reference payment system moneypath is shown and tested on: a payment service and a provider simulator, each run
as its own process; no other room imports them.

Modules:
refservice (the reference payment service),
providersim (the simulated payment providers),
signing (providers' webhook signatures),
heap (the garbage collector's settings for both processes).
"""
