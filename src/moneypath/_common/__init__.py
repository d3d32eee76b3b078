"""Plumbing shared by the layers above, written once: atomic writes, the Prometheus HTTP client,
problem+json, the report model (markdown and HTML), plots, the strict model base, scoped tokens and fault
switches. Imports no other moneypath package."""
