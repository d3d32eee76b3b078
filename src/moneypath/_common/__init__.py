"""Plumbing shared by the layers above, written once: atomic writes, the Prometheus HTTP client,
problem+json, the report model (markdown and HTML), plots, scoped tokens and fault switches.
Imports no other moneypath package."""
