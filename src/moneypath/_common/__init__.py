"""Plumbing shared by the layers above, written once: atomic writes, the Prometheus HTTP client,
problem+json, the report model (markdown and HTML), plots and the strict model base. Wire formats live in
moneypath.protocol. Imports no other moneypath package."""
