"""The ticket shop's catalog (tests/foreign) as data to change before it is parsed: with its audit trail on, or
anything else a test sets."""

from __future__ import annotations

import yaml

from moneypath.catalog import parse_catalog
from moneypath.catalog.conventions import Key
from moneypath.catalog.features import SIGNAL_FEATURE
from tests.conftest import FOREIGN_PATH
from tests.support.feature_catalogs import drop_from_map


def foreign_data() -> dict:
    return yaml.safe_load(FOREIGN_PATH.read_text())


def load(data: dict):
    """The catalog of `data`; its map without the edges that read a signal the test removed or switched off."""
    off = {name for name, on in data.get("features", {}).items() if on is False}
    drop_from_map(data, {key for key in SIGNAL_FEATURE if key not in data["signals"] or SIGNAL_FEATURE[key] in off})
    return parse_catalog(yaml.safe_dump(data, sort_keys=False), "team/moneypath.yaml")


AUDIT_SIGNALS = {
    Key.AUDIT_CHAIN_BROKEN: {"type": "gauge", "help": "1 while the chain does not verify.", "labels": {}},
    Key.AUDIT_CHECKPOINT_SEQ: {"type": "gauge", "help": "Seq of the newest signed checkpoint.", "labels": {}},
    Key.AUDIT_HEAD_SEQ: {"type": "gauge", "help": "Seq of the verified head.", "labels": {}},
}


def with_audit(checkpoints: bool = True, stale_alert: bool = True) -> dict:
    """The ticket shop with its audit trail on; `checkpoints`: it declares the checkpoint signals."""
    data = foreign_data()
    data["features"]["audit"] = True
    data["signals"] |= {k: v for k, v in AUDIT_SIGNALS.items() if checkpoints or k == Key.AUDIT_CHAIN_BROKEN}
    data["alerts"]["AuditChainBroken"] = {"severity": "page", "threshold": 0, "summary": "The audit trail broke."}
    if stale_alert:
        data["alerts"]["AuditCheckpointStale"] = {"severity": "ticket", "threshold": 600, "for": "10m",
                                                  "summary": "Audit events wait for a signed checkpoint."}
    return data
