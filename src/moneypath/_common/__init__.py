"""Plumbing shared by the layers above, written once: atomic writes, the Prometheus HTTP client,
problem+json, the report model (markdown and HTML), plots, the strict model base, SIGTERM ending a command
as Ctrl-C does, and the time factor (timefactor: the one conversion between a compressed stack's clock and
production's). Wire formats live in moneypath.protocol. Imports no other moneypath package."""
