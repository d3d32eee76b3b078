"""The reference catalog with optional features switched off as a catalog says it (`features: {ledger: false}`):
the feature's signals and built-in alerts gone, and what only it reads (the cost model; the ledger's SLO and its
balance query), as `moneypath init` leaves them out of a project that does not ask for the feature."""

from __future__ import annotations

from functools import cache

import yaml

from moneypath.catalog import parse_catalog
from moneypath.catalog.features import FEATURES
from moneypath.catalog.terms import parse_selector
from tests.conftest import CATALOG_PATH


def drop_from_map(data: dict, removed: set[str]) -> None:
    """The money path without the edges that read a removed signal, and without the nodes no edge is left to."""
    section = data.get("money_path")
    if not section:
        return
    section["edges"] = [e for e in section["edges"]
                        if not any(parse_selector(t).signal in removed for t in e.get("signals", {}).values())]
    ends = {e[side] for e in section["edges"] for side in ("from", "to")}
    section["nodes"] = {k: n for k, n in section["nodes"].items() if k in ends}


@cache
def without(*features: str):
    data = yaml.safe_load(CATALOG_PATH.read_text())
    for feature in features:
        data.setdefault("features", {})[feature] = False
        for key in FEATURES[feature].signals:
            data["signals"].pop(key, None)
        drop_from_map(data, set(FEATURES[feature].signals))
        for key in FEATURES[feature].alerts:
            data.get("alerts", {}).pop(key, None)
        if feature == "cost":
            data.pop("cost", None)
        if feature == "ledger":  # its SLO and its balance query go with it
            data["slos"].pop("ledger-durability", None)
            data["money_checks"].pop("balance", None)
    where = f"moneypath.yaml ({', '.join(f'features.{f}: false' for f in features)})"
    return parse_catalog(yaml.safe_dump(data, sort_keys=False), where)
