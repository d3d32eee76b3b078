"""The catalogs the drill records name, kept beside the history: `<dir>/catalogs/<sha256>.yaml`, each text once.

A record carries `catalog_sha256`, the hex sha256 of its catalog file's bytes as the drill ran on it; the record's
hash chain and the signed checkpoints over it cover that field, so the hash is as trustworthy as the record.
The copy is content-addressed: a copy whose bytes no longer hash to its name is not that catalog, and whoever
reads it (the evidence pack's data-flow diagram) says "not measured", never draws another catalog in its place.
A record made before records kept the hash has none: its catalog is "not recorded", not measured either.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from moneypath._common.atomic import create_once
from moneypath._common.verdict import NOT_MEASURED, PASS, Outcome
from moneypath.readiness.history import CATALOG_FIELD

FOLDER = "catalogs"
FIELD = CATALOG_FIELD
SHA256 = re.compile(r"[0-9a-f]{64}")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def copy_path(history_dir: str | Path, sha256: str) -> Path:
    return Path(history_dir) / FOLDER / f"{sha256}.yaml"


def keep(history_dir: str | Path, catalog_path: str | Path) -> str:
    """Copy the catalog file's bytes to the history (once per content) and return their sha256; OSError when the
    catalog cannot be read or the copy written. A copy already there is left as it is."""
    data = Path(catalog_path).read_bytes()
    sha = digest(data)
    final = copy_path(history_dir, sha)
    if final.is_file():
        return sha
    final.parent.mkdir(parents=True, exist_ok=True)
    create_once(final, data)  # False: another run kept the same text meanwhile
    return sha


@dataclass(frozen=True)
class Recorded:
    """A record's catalog as the history holds it: pass with its text, or not measured and why."""
    sha256: str | None
    outcome: Outcome
    why: str = ""
    text: str | None = None
    path: Path | None = None


def recorded(record: dict, history_dir: str | Path) -> Recorded:
    """The catalog a record names, its copy checked against the recorded hash."""
    sha = record.get(FIELD)
    if sha is None:
        return Recorded(None, NOT_MEASURED, f"record {record.get('seq')}: catalog not recorded (a record made "
                                              "before records kept their catalog's hash)")
    if not isinstance(sha, str) or not SHA256.fullmatch(sha):
        return Recorded(None, NOT_MEASURED, f"record {record.get('seq')}: {FIELD} is not a sha256")
    path = copy_path(history_dir, sha)
    try:
        data = path.read_bytes()
    except OSError:
        return Recorded(sha, NOT_MEASURED, f"record {record.get('seq')}: the copy of catalog {sha[:12]}… is missing "
                                           f"({FOLDER}/{sha}.yaml)")
    if digest(data) != sha:
        return Recorded(sha, NOT_MEASURED, f"record {record.get('seq')}: {FOLDER}/{sha}.yaml does not hash to the "
                                           "recorded sha256 (changed after it was kept): not drawn")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Recorded(sha, NOT_MEASURED, f"record {record.get('seq')}: {FOLDER}/{sha}.yaml is not UTF-8")
    return Recorded(sha, PASS, "", text, path)
