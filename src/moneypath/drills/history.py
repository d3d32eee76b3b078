"""Stand-in for the drill history's reader (the history module replaces this file): records under
`<dir>/records/<seq>.json`, canonical JSON, each naming the sha256 of the one before."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

GENESIS = "0" * 64


class HistoryError(Exception):
    """A history whose chain does not verify; `seq` is the first bad record."""

    def __init__(self, message: str, seq: int | None = None):
        self.seq = seq
        super().__init__(message)


def canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def read(history_dir: str | Path) -> list[dict]:
    """Every record in seq order, the chain verified; HistoryError names the first bad seq."""
    records, prev = [], GENESIS
    for i, path in enumerate(sorted((Path(history_dir) / "records").glob("*.json")), start=1):
        data = path.read_bytes()
        try:
            record = json.loads(data)
        except ValueError:
            raise HistoryError(f"{path}: not JSON", i) from None
        if record.get("seq") != i or record.get("prev") != prev:
            raise HistoryError(f"{path}: seq {i} does not follow the chain", i)
        records.append(record)
        prev = hashlib.sha256(canonical(record)).hexdigest()
    return records
