"""A Django shop as a Saleor-like team builds it: a three-step GraphQL checkout, payment plugins calling the
providers with `requests`, captures in Celery workers on Redis. Run from tests/foreign (see README.md), where
this package is the top-level `djangoshop`."""
