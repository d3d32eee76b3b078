"""The drill history: one record per drill run, in a directory the team keeps, chained by hashes.

Storage: `<dir>/records/<seq, 8 digits>.json`, one canonical JSON object per file (sorted keys, separators
(",", ":"), UTF-8, no NaN), each created exclusively: written and synced under a temporary name, then linked
to its own name, which fails when that seq exists (a crash leaves no partial record, two writers never
share a seq). Every record carries `seq` and `prev`, the hex sha256 of the previous record's bytes ("0"*64
for the first), so an edited, reordered, inserted or deleted record breaks the chain at that seq. What a
bare chain cannot show is its newest records deleted or the newest one edited: the signed checkpoints of
moneypath.readiness.checkpoints cover that.

API (readiness, dora and evidence build on it): `append(history_dir, fields) -> dict` assigns seq and prev
and writes the record; `read(history_dir) -> list[dict]` verifies the chain and returns the records, oldest
first, or raises HistoryError naming the first bad seq and what is wrong with it. Record fields: FIELDS
(others may add fields, never rename these), and `catalog_sha256` when the record keeps its catalog (a copy in
`<dir>/catalogs/`, moneypath.readiness.catalogs); moneypath.readiness.records builds them from a journal.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from moneypath._common.atomic import create_once
from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Outcome, register
from moneypath.catalog.moments import rfc3339

SCHEMA = 1
GENESIS = "0" * 64
RECORDS = "records"
LOCK = ".append.lock"  # flock'd by every appender: two runs finishing at once queue instead of racing
DEFAULT_DIR = "drill-history"  # beside the catalog: ops/drill-history/ for ops/moneypath.yaml
ENV_DIR = "MONEYPATH_HISTORY"
ENV_ENVIRONMENT = "MONEYPATH_ENVIRONMENT"
DEFAULT_ENVIRONMENT = "local"
KINDS = ("drill", "tabletop", "gameday")
VERDICTS = (PASS, FAIL, NOT_MEASURED)
SEVERITIES = ("page", "ticket")
NAME = re.compile(r"(\d{8})\.json")
# The contract's fields and their JSON types (appended records are checked against it; more fields may be added).
FIELDS: dict[str, tuple[type, ...]] = {
    "seq": (int,), "prev": (str,), "kind": (str,), "drill": (str,), "drill_file": (str,), "environment": (str,),
    "target": (str,), "started_at": (str,), "ended_at": (str,), "verdict": (str,), "compression": (int, float),
    "alerts": (list,), "controls": (list,), "roles": (list,), "impact": (dict,), "report": (str,),
    "journal_sha256": (str,),
}
ALERT_FIELDS: dict[str, tuple[type, ...]] = {
    "alert": (str,), "severity": (str,), "paged": (bool,), "time_to_page_s": (int, float, type(None)),
    "time_to_diagnose_s": (int, float, type(None)), "time_to_recover_s": (int, float, type(None)),
}
ROLE_FIELDS: dict[str, tuple[type, ...]] = {
    "role": (str,), "who": (str, type(None)), "asked_at": (str, type(None)), "answered_at": (str, type(None)),
    "late": (bool,),
}
CATALOG_FIELD = "catalog_sha256"  # optional: the sha256 of the catalog the drill ran on (readiness.catalogs)
APPEND_TRIES = 50  # a seq taken by a writer that holds no lock (another host on a shared mount): read the head again


class HistoryError(Exception):
    """A history that cannot be trusted or written: `seq` the first bad record (None: not one record's fault),
    `problem` one of edited, reordered, missing, extra, unreadable, invalid; the message is one line."""

    def __init__(self, message: str, seq: int | None = None, problem: str = "invalid"):
        super().__init__(message)
        self.seq, self.problem = seq, problem


# ---------------------------------------------------------------- encoding


def canonical(record: Mapping) -> bytes:
    """A record's bytes as stored and hashed: sorted keys, no spaces, UTF-8, no NaN or infinity."""
    try:
        return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise HistoryError(f"a record must be plain JSON: {exc}") from None


def record_hash(record_or_bytes: Mapping | bytes) -> str:
    """Hex sha256 of a record's canonical bytes: what the next record's `prev` holds."""
    data = record_or_bytes if isinstance(record_or_bytes, bytes) else canonical(record_or_bytes)
    return hashlib.sha256(data).hexdigest()


def parse_time(text: str) -> float:
    """RFC 3339 (with its offset, or Z) as unix seconds; ValueError otherwise."""
    if not isinstance(text, str) or "T" not in text:
        raise ValueError(f"{text!r} is not an RFC 3339 time (YYYY-MM-DDThh:mm:ssZ)")
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no offset (end it with Z for UTC)")
    return at.timestamp()


# ---------------------------------------------------------------- where the history is


def default_history_dir(catalog_path: str | Path) -> Path:
    """Where a team's history lives when no --history or MONEYPATH_HISTORY says: drill-history/ beside the
    catalog (ops/drill-history/ for ops/moneypath.yaml)."""
    return Path(catalog_path).parent / DEFAULT_DIR


def history_dir(option: str | None, catalog_path: str | Path | None) -> Path | None:
    """--history DIR, else $MONEYPATH_HISTORY, else beside the catalog (None without a catalog either)."""
    if option:
        return Path(option)
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    return default_history_dir(catalog_path) if catalog_path else None


def environment_name(option: str | None) -> str:
    """--environment NAME, else $MONEYPATH_ENVIRONMENT, else "local"."""
    name = (option or os.environ.get(ENV_ENVIRONMENT) or DEFAULT_ENVIRONMENT).strip()
    if not name:
        raise HistoryError("the environment's name is empty")
    return name


# ---------------------------------------------------------------- checking a record's fields


def _typed(where: str, data: Mapping, spec: Mapping[str, tuple[type, ...]]) -> None:
    for key, types in spec.items():
        if key not in data:
            raise HistoryError(f"{where}: no {key}")
        value = data[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise HistoryError(f"{where}: {key} must be {names}, not {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise HistoryError(f"{where}: {key} must be finite")


def check_fields(record: Mapping, where: str = "the record") -> None:
    """HistoryError (one line) unless the record has the contract's fields with their types and values."""
    _typed(where, record, FIELDS)
    if record["kind"] not in KINDS:
        raise HistoryError(f"{where}: kind must be one of {', '.join(KINDS)}, not {record['kind']!r}")
    if record["verdict"] not in VERDICTS:
        raise HistoryError(f"{where}: verdict must be one of {', '.join(VERDICTS)}, not {record['verdict']!r}")
    for key in ("drill", "environment"):
        if not record[key].strip():
            raise HistoryError(f"{where}: {key} is empty")
    if record["compression"] <= 0:
        raise HistoryError(f"{where}: compression must be positive (1.0: real time)")
    for key in ("started_at", "ended_at"):
        try:
            parse_time(record[key])
        except ValueError as exc:
            raise HistoryError(f"{where}: {key}: {exc}") from None
    for i, alert in enumerate(record["alerts"]):
        if not isinstance(alert, dict):
            raise HistoryError(f"{where}: alerts.{i} must be an object")
        _typed(f"{where}: alerts.{i}", alert, ALERT_FIELDS)
        if alert["severity"] not in SEVERITIES:
            raise HistoryError(f"{where}: alerts.{i}.severity must be page or ticket")
    for i, role in enumerate(record["roles"]):
        if not isinstance(role, dict):
            raise HistoryError(f"{where}: roles.{i} must be an object")
        _typed(f"{where}: roles.{i}", role, ROLE_FIELDS)
    if not all(isinstance(c, str) for c in record["controls"]):
        raise HistoryError(f"{where}: controls must be a list of strings")
    sha = record.get(CATALOG_FIELD)  # optional: records made before records kept their catalog have none
    if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        raise HistoryError(f"{where}: {CATALOG_FIELD} must be a hex sha256")


# ---------------------------------------------------------------- reading and verifying


@dataclass
class Chain:
    """A walk of the records: those that chain, oldest first, their bytes' hashes by seq, and the first break."""

    records: list[dict] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)
    error: HistoryError | None = None

    @property
    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest record that chains; (0, GENESIS) for none."""
        return (self.records[-1]["seq"], self.hashes[self.records[-1]["seq"]]) if self.records else (0, GENESIS)


def _files(history_dir: Path) -> list[tuple[int, Path]]:
    folder = Path(history_dir) / RECORDS
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise HistoryError(f"cannot read {folder}: {exc.strerror}", None, "unreadable") from None
    found = []
    for name in names:
        if name.startswith("."):  # a writer's temporary file, the lock: never part of the chain
            continue
        match = NAME.fullmatch(name)
        if match is None or int(match.group(1)) == 0:
            raise HistoryError(f"{RECORDS}/{name} is an extra file: records are named <seq, 8 digits from "
                               "00000001>.json and nothing else belongs there", None, "extra")
        found.append((int(match.group(1)), folder / name))
    return found


def walk(history_dir: str | Path) -> Chain:
    """Every record in seq order, checked: its file name is its seq, no seq is skipped, its bytes are canonical
    JSON with the contract's fields, and its prev is the hash of the record before it. Stops at the first break
    (Chain.error); what chained before it is kept (a signer must never sign past it)."""
    chain = Chain()
    try:
        files = _files(Path(history_dir))
    except HistoryError as exc:
        chain.error = exc
        return chain
    by_hash: dict[str, int] = {}
    prev_seq, prev_hash = 0, GENESIS
    for seq, path in files:
        if seq != prev_seq + 1:
            gap = f"seq {prev_seq + 1}" + (f"..{seq - 1}" if seq - 1 > prev_seq + 1 else "")
            chain.error = HistoryError(f"history BROKEN at seq {prev_seq + 1}: missing ({gap} deleted; "
                                       f"{path.name} follows seq {prev_seq})", prev_seq + 1, "missing")
            return chain
        try:
            data = path.read_bytes()
            record = json.loads(data.decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            chain.error = HistoryError(f"history BROKEN at seq {seq}: unreadable ({path.name}: "
                                       f"{getattr(exc, 'strerror', None) or exc})", seq, "unreadable")
            return chain
        problem = _record_problem(record, data, seq, prev_hash, by_hash, _vouched(files, seq, data))
        if problem is not None:
            chain.error = problem
            return chain
        digest = record_hash(data)
        by_hash[digest] = seq
        chain.records.append(record)
        chain.hashes[seq] = digest
        prev_seq, prev_hash = seq, digest
    return chain


def _vouched(files: list[tuple[int, Path]], seq: int, data: bytes) -> bool | None:
    """Whether the record after `seq` holds the hash of `seq`'s bytes as its prev (None: no record after it)."""
    after = next((path for s, path in files if s == seq + 1), None)
    if after is None:
        return None
    try:
        return json.loads(after.read_bytes()).get("prev") == record_hash(data)
    except (OSError, ValueError, AttributeError):
        return False


def _record_problem(record, data: bytes, seq: int, prev_hash: str, by_hash: dict[str, int],
                    vouched: bool | None) -> HistoryError | None:
    """What is wrong with record `seq` (None: nothing). Its prev not the hash of the record before: the record
    before was edited when the record after still vouches for this one (or there is none), else this one."""
    name = f"{seq:08d}.json"
    if not isinstance(record, dict):
        return HistoryError(f"history BROKEN at seq {seq}: edited ({name} is not a JSON object)", seq, "edited")
    if record.get("seq") != seq:
        return HistoryError(f"history BROKEN at seq {seq}: reordered ({name} holds seq {record.get('seq')!r}: "
                            "records were moved or renamed)", seq, "reordered")
    if record.get("prev") != prev_hash:
        earlier = by_hash.get(record.get("prev"))
        if earlier is not None and earlier == seq - 2:
            return HistoryError(f"history BROKEN at seq {seq - 1}: extra (inserted: seq {seq}'s prev is the hash of "
                                f"seq {seq - 2})", seq - 1, "extra")
        if earlier is not None:
            return HistoryError(f"history BROKEN at seq {seq}: reordered (its prev is the hash of seq {earlier}, "
                                f"not of seq {seq - 1})", seq, "reordered")
        if seq == 1:
            return HistoryError(f"history BROKEN at seq 1: edited (the first record's prev is not {GENESIS[:8]}…: "
                                "records before it were cut, or it was edited)", 1, "edited")
        if vouched is False:  # seq + 1 does not vouch for this one either: this one was rewritten
            return HistoryError(f"history BROKEN at seq {seq}: edited (its prev is not the hash of seq {seq - 1}, "
                                f"nor is its hash the prev of seq {seq + 1})", seq, "edited")
        return HistoryError(f"history BROKEN at seq {seq - 1}: edited (its bytes no longer hash to the prev that "
                            f"seq {seq} holds)", seq - 1, "edited")
    try:
        if canonical(record) != data:
            return HistoryError(f"history BROKEN at seq {seq}: edited ({name} is not the canonical JSON it was "
                                "written as)", seq, "edited")
        check_fields(record, name)
    except HistoryError as exc:
        return HistoryError(f"history BROKEN at seq {seq}: edited ({exc})", seq, "edited")
    return None


def read(history_dir: str | Path) -> list[dict]:
    """The records, oldest first, after verifying the chain; [] when there is no history yet. HistoryError
    names the first bad seq. The chain alone cannot show the newest records deleted (or the newest one edited):
    moneypath.readiness.checkpoints.verify checks the signed checkpoints too."""
    chain = walk(history_dir)
    if chain.error is not None:
        raise chain.error
    return chain.records


def report_folder(record: Mapping, history_dir: str | Path) -> Path:
    """Where a record's report folder is: its `report`, relative to the history when it is not absolute."""
    report = Path(record["report"])
    return report if report.is_absolute() else Path(history_dir) / report


def journal_check(records: list[dict], history_dir: str | Path) -> tuple[int, int, HistoryError | None]:
    """(journals that match their record's journal_sha256, journals not found here, the first that does not match)
    for the records' report folders: a journal edited after it was recorded is an edit of its record."""
    matched = absent = 0
    for record in records:
        path = report_folder(record, history_dir) / "journal.json"
        try:
            data = path.read_bytes()
        except OSError:
            absent += 1
            continue
        if hashlib.sha256(data).hexdigest() != record["journal_sha256"]:
            return matched, absent, HistoryError(
                f"history BROKEN at seq {record['seq']}: edited (its journal {path} is not the one recorded: its "
                "sha256 differs from journal_sha256)", record["seq"], "edited")
        matched += 1
    return matched, absent, None


# ---------------------------------------------------------------- appending


@contextmanager
def _locked(history_dir: Path) -> Iterator[None]:
    fd = os.open(history_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _create(folder: Path, seq: int, data: bytes) -> bool:
    """Write `seq`'s record whole or not at all; False when that seq exists already."""
    return create_once(folder / f"{seq:08d}.json", data)


def append(history_dir: str | Path, fields: Mapping) -> dict:
    """Append a record with `fields` (FIELDS but seq and prev, which are assigned; started_at and ended_at as
    given, so back-dated records are accepted; `recorded_at`, when it was appended, added unless given) and
    return it as stored. Refuses (HistoryError) a history whose chain is broken: nothing is added to a tampered
    history, and a signer never vouches for it. Concurrent appenders queue on a lock file, and a seq is taken
    by an exclusive link, so even writers that share no lock never fork the chain."""
    folder = Path(history_dir)
    try:
        (folder / RECORDS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HistoryError(f"cannot create {folder / RECORDS}: {exc.strerror}", None, "unreadable") from None
    base = {k: v for k, v in fields.items() if k not in ("seq", "prev")}
    base.setdefault("schema", SCHEMA)
    base.setdefault("recorded_at", rfc3339(time.time()))
    check_fields({**base, "seq": 1, "prev": GENESIS}, "the record to append")
    try:
        with _locked(folder):
            for _ in range(APPEND_TRIES):
                chain = walk(folder)
                if chain.error is not None:
                    raise HistoryError(f"not appended: {chain.error}", chain.error.seq, chain.error.problem)
                seq, prev = chain.head
                record = {**base, "seq": seq + 1, "prev": prev}
                if _create(folder / RECORDS, seq + 1, canonical(record)):
                    return record
    except OSError as exc:
        raise HistoryError(f"cannot write to {folder}: {exc.strerror or exc}", None, "unreadable") from None
    raise HistoryError(f"not appended: {APPEND_TRIES} tries lost the race for the next seq in {folder}")


# ---------------------------------------------------------------- the three results


def judge(records: int, broken: bool, covered: int | None) -> Outcome:
    """A history's verdict: fail when the chain is broken (or contradicts a checkpoint); not measured when there
    is no record, or no signed checkpoint covers the newest one (covered: the newest signed seq, None: no key
    given); pass when every record is chained and covered by a checkpoint."""
    if broken:
        return FAIL
    if records == 0 or covered is None or covered < records:
        return NOT_MEASURED
    return PASS


register("readiness.history", judge)
