"""Stand-in for the drill history (its owner's module replaces this one): append() and read() as the contract
says, records in <dir>/records/<seq>.json as canonical JSON chained by the sha256 of the previous record."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

GENESIS = "0" * 64


class HistoryError(Exception):
    def __init__(self, message: str, seq: int | None = None):
        self.seq = seq
        super().__init__(message)


def canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _files(history_dir: Path) -> list[Path]:
    return sorted((Path(history_dir) / "records").glob("*.json"))


def append(history_dir: Path, record_fields: dict) -> dict:
    records = read(history_dir)
    prev = hashlib.sha256(canonical(records[-1])).hexdigest() if records else GENESIS
    record = {**record_fields, "seq": len(records) + 1, "prev": prev}
    directory = Path(history_dir) / "records"
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / f"{record['seq']:08d}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(canonical(record))
    return record


def read(history_dir: Path) -> list[dict]:
    out: list[dict] = []
    prev = GENESIS
    for n, path in enumerate(_files(history_dir), start=1):
        try:
            record = json.loads(path.read_bytes())
        except ValueError:
            raise HistoryError(f"record {n}: not JSON", n) from None
        if record.get("seq") != n or path.name != f"{n:08d}.json" or record.get("prev") != prev:
            raise HistoryError(f"record {n}: the chain breaks here", n)
        prev = hashlib.sha256(path.read_bytes()).hexdigest()
        out.append(record)
    return out
