"""The reference service's secrets and audit-checkpoint key, made in the stack's state directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

from moneypath.catalog import Catalog
from moneypath.protocol.audit.checkpoint import CheckpointError, write_key_pair
from moneypath.stack.state import StackError

AUDIT_KEY = "audit-checkpoint"  # <state>/audit-checkpoint.key (signer, 0600) and .pub (verifier), made once
AUDIT_CHECKPOINTS = "audit-checkpoints"  # <state>/audit-checkpoints/<seq>.note: what the service signed
# How often the service signs its verified head: the fast stack's rules are compressed 60x (drills), so its
# checkpoints must trail the head by seconds; otherwise the service's production default.
AUDIT_CHECKPOINT_INTERVAL_S = {True: "2", False: "60"}


def audit_checkpoint_env(c: Catalog, state_dir: Path, fast: bool) -> dict[str, str]:
    """The reference service's checkpoint settings: the stack's key, made on the first `up` and kept (the
    checkpoints already signed stay verifiable), and the directory beside the ledger."""
    private = state_dir / f"{AUDIT_KEY}.key"
    if not private.exists():
        try:
            write_key_pair(AUDIT_KEY, state_dir)
        except CheckpointError as exc:
            raise StackError(f"audit checkpoint key: {exc}") from None
    return {"MONEYPATH_AUDIT_CHECKPOINT_DIR": str(state_dir / AUDIT_CHECKPOINTS),
            "MONEYPATH_AUDIT_CHECKPOINT_KEY": str(private),
            "MONEYPATH_AUDIT_CHECKPOINT_INTERVAL_S": AUDIT_CHECKPOINT_INTERVAL_S[fast]}


SECRETS_FILE = "secrets.json"


def write_secrets(state_dir: Path) -> dict[str, str]:
    """Fresh secrets for this stack's services, readable only by the owner (drills mint tokens with them)."""
    import secrets as random_secrets

    values = {"token_secret": random_secrets.token_hex(32), "webhook_secret": random_secrets.token_hex(32)}
    path = state_dir / SECRETS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values


def read_secrets(state_dir: Path) -> dict[str, str]:
    return json.loads((state_dir / SECRETS_FILE).read_text())

