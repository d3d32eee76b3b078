"""The catalog (moneypath.yaml): the single source of truth every artifact is generated from.

Imports nothing else from moneypath, so `moneypath.instrument` can build on it and a service can depend on the
library alone.

Modules:
model (the typed model: signals, SLOs, alerts, providers, cost, routes, roles),
load (a file read into a Catalog, one line per problem),
yaml_errors (where a YAML syntax error is, for that line),
validate (label references expanded, cross-references and conventions checked),
conventions (the names code uses: signal and alert keys, rule names, burn-rate windows),
terms (the small terms the sections share: durations, counter selectors, overflow values),
features (optional domains switched on and off),
matchers (whether a PromQL label matcher can match a declared value, did-you-mean included),
pan (card-number detection),
currencies (minor-unit exponents and how money reads),
moments (moments as written and as typed),
money_path (the `money_path:` section the map is drawn from),
business_services (business services' impact tolerances, DORA's classification inputs),
canary_policy (the `canary:` section the canary judge reads),
latency_resolution (what latency shift the histogram's buckets can resolve),
detectors (jobs whose healthy output is 0),
readiness_policy (the `readiness:` section: how recent and how fast a drill must be),
receivers (where a receiver delivers in production, secrets by file only).
"""

from moneypath.catalog.load import find_catalog, load_catalog, parse_catalog
from moneypath.catalog.model import *  # noqa: F403 - the model is the package's public face
from moneypath.catalog.model import DEFAULT_PATH, DURATION, OTHER, Catalog, CatalogError, duration_seconds
from moneypath.catalog.validate import summary

__all__ = ["DEFAULT_PATH", "DURATION", "OTHER", "Catalog", "CatalogError", "duration_seconds", "find_catalog",
           "load_catalog", "parse_catalog", "summary"]
