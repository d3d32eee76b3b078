"""Plumbing shared by the layers above, written once: atomic writes, the Prometheus HTTP client,
problem+json, the report model (markdown and HTML), plots, the strict model base and SIGTERM ending a command
as Ctrl-C does. Wire formats live in moneypath.protocol. Imports no other moneypath package."""
