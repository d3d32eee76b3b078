"""The audit trail's hash chain: how an event is hashed, and the walk that finds the first broken one.

A service appends one event per state change of a financial record, in the transaction that makes the
change (the reference service: moneypath.reference.refservice.audit). Each event carries the hash of
the one before it, and its own hash is sha256(prev_hash + canonical JSON of its fields), so editing an
event changes its hash, deleting one leaves a gap in `seq` (or a `prev_hash` that no longer matches),
and cutting off the newest ones leaves the chain shorter than the one-row head table says.

The table layout is shared by the writer and by `moneypath audit verify` (which never imports the
service): the names below and the columns of HASHED.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

EVENTS_TABLE = "audit_events"
HEAD_TABLE = "audit_head"  # one row (id 1): the last seq and its hash
GENESIS = "0" * 64  # prev_hash of the first event
# The event fields the hash covers, in this order (seq included: a row moved to another seq is an edit).
HASHED = ("seq", "at", "actor", "scope", "correlation_id", "entity", "entity_id", "action", "before", "after")


def canonical_state(state: Mapping[str, object] | None) -> str | None:
    """A record's state as stored in `before`/`after`: JSON with sorted keys, no spaces (None stays None)."""
    return None if state is None else json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(prev_hash: str, event: Mapping[str, object]) -> str:
    """sha256 of the previous hash and the event's HASHED fields as canonical JSON, hex."""
    body = json.dumps([event[k] for k in HASHED], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """The result of walking a chain: intact, or the first broken seq and why."""

    events: int  # events walked
    last_seq: int
    last_hash: str = GENESIS
    broken_seq: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None

    def line(self) -> str:
        if self.intact:
            return f"audit chain intact: {self.events} event(s), seq 1..{self.last_seq}" if self.events else \
                "audit chain intact: no events yet"
        return f"audit chain BROKEN at seq {self.broken_seq}: {self.reason} ({self.events} event(s) walked)"


class ChainWalk:
    """Walks events in seq order (`step` each, then `finish`): stops at the first break."""

    def __init__(self, anchor: tuple[int, str] | None = None):
        self.prev_seq, self.prev_hash, self.events = 0, GENESIS, 0
        self.anchor = anchor  # (seq, hash) a previous walk saw: a chain re-hashed since then is caught
        self.verdict: Verdict | None = None  # set at the first break

    def _broken(self, seq: int, reason: str) -> Verdict:
        self.verdict = Verdict(self.events, self.prev_seq, self.prev_hash, seq, reason)
        return self.verdict

    def step(self, row: Mapping[str, object]) -> Verdict | None:
        """One event; the verdict when it breaks the chain, else None."""
        if self.verdict is not None:
            return self.verdict
        seq = int(row["seq"])  # type: ignore[arg-type]
        expected = self.prev_seq + 1
        if seq != expected:
            return self._broken(expected, f"seq {expected} is missing (seq {seq} follows {self.prev_seq}): "
                                          "an event was deleted")
        if row["prev_hash"] != self.prev_hash:
            return self._broken(seq, "its prev_hash is not the hash of the event before it")
        digest = event_hash(self.prev_hash, row)
        if row["hash"] != digest:
            return self._broken(seq, "its fields do not hash to its stored hash: the event was edited")
        if self.anchor is not None and seq == self.anchor[0] and digest != self.anchor[1]:
            return self._broken(seq, "its hash differs from the one verified earlier: the chain was rewritten")
        self.prev_seq, self.prev_hash = seq, digest
        self.events += 1
        return None

    def finish(self, head: tuple[int, str] | None) -> Verdict:
        """After the last event: the head (last seq and hash the writer recorded), if there is one."""
        if self.verdict is not None:
            return self.verdict
        if self.anchor is not None and self.prev_seq < self.anchor[0]:
            return self._broken(self.prev_seq + 1, f"the chain ends at seq {self.prev_seq}, but seq "
                                                   f"{self.anchor[0]} was verified earlier: events were deleted")
        if head is not None:
            head_seq, head_hash = head
            if head_seq > self.prev_seq:
                return self._broken(self.prev_seq + 1, f"the chain ends at seq {self.prev_seq}, the head records "
                                                       f"seq {head_seq}: the newest events were deleted")
            if head_hash != self.prev_hash:
                return self._broken(head_seq, "the head's hash is not the last event's hash")
        return Verdict(self.events, self.prev_seq, self.prev_hash)


def verify_chain(rows: Iterable[Mapping[str, object]], head: tuple[int, str] | None = None,
                 anchor: tuple[int, str] | None = None) -> Verdict:
    """Walk events in seq order: intact, or the first broken seq (edited, deleted, truncated)."""
    walk = ChainWalk(anchor)
    for row in rows:
        if walk.step(row) is not None:
            break
    return walk.finish(head)


def verify_database(conn, anchor: tuple[int, str] | None = None, batch: int = 5000) -> Verdict:
    """Walk the chain stored in a database (a SQLAlchemy connection), `batch` rows at a time in seq order,
    up to the head read first: events appended meanwhile are left for the next walk, so the walk needs no
    snapshot and never holds a lock the writers wait for."""
    from sqlalchemy import text

    found = conn.execute(text(f"SELECT seq, hash FROM {HEAD_TABLE} WHERE id = 1")).first()
    head = (int(found[0]), found[1]) if found is not None else None
    columns = ", ".join((*HASHED, "prev_hash", "hash"))
    upto = "" if head is None else f" AND seq <= {head[0]:d}"
    page = text(f"SELECT {columns} FROM {EVENTS_TABLE} WHERE seq > :after{upto} ORDER BY seq LIMIT :n")
    walk, after = ChainWalk(anchor), 0
    while True:
        rows = conn.execute(page, {"after": after, "n": batch}).mappings().all()
        for row in rows:
            if walk.step(row) is not None:
                return walk.verdict  # type: ignore[return-value]
        if len(rows) < batch:
            return walk.finish(head)
        after = int(rows[-1]["seq"])
