"""The catalog (moneypath.yaml): the single source of truth every artifact is generated from.

model.py is the typed model, load.py reads a file (one line per problem, ``file:line: key.path: what
is wrong``), validate.py checks cross-references and conventions, conventions.py holds the names
code uses, pan.py card-number detection, matchers.py whether a PromQL label matcher can match a
declared value (did-you-mean included). Imports nothing else from moneypath, so
`moneypath.instrument` can build on it and a service can depend on the library alone.
"""

from moneypath.catalog.load import find_catalog, load_catalog, parse_catalog
from moneypath.catalog.model import *  # noqa: F403 - the model is the package's public face
from moneypath.catalog.model import DEFAULT_PATH, DURATION, OTHER, Catalog, CatalogError, duration_seconds
from moneypath.catalog.validate import summary

__all__ = ["DEFAULT_PATH", "DURATION", "OTHER", "Catalog", "CatalogError", "duration_seconds", "find_catalog",
           "load_catalog", "parse_catalog", "summary"]
