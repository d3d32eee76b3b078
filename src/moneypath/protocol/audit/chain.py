"""The audit trail's hash chain: how an event is hashed, and the walk that finds the first broken one.

A service appends one event per state change of a financial record, in the transaction that makes the
change (the reference service: moneypath.reference.refservice.audit.trail). Each event carries the hash of
the one before it, and its own hash is sha256(prev_hash + canonical JSON of its fields), so editing an
event changes its hash, deleting one leaves a gap in `seq` (or a `prev_hash` that no longer matches),
and cutting off the newest ones leaves the chain shorter than the one-row head table says.

The table layout is shared by the writer and by `moneypath audit verify` (which never imports the
service): the names below and the columns of HASHED.

Two ways to check a chain: `verify_database` walks all of it (on demand: `moneypath audit verify`);
`ChainWatch` is the running service's check, whose cost follows what is new, never the whole history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

EVENTS_TABLE = "audit_events"
HEAD_TABLE = "audit_head"  # one row (id 1): the last seq and its hash
# Events written but not yet chained (a writer may park an event here when another transaction is chaining,
# and a sealer links it into the chain soon after: moneypath.reference.refservice.audit.trail). Optional: a chain
# without this table has nothing pending. A pending event is reported, never skipped; one older than
# PENDING_MAX_S is a break (nothing seals, and until it is chained it can be edited or deleted unseen).
PENDING_TABLE = "audit_pending"
PENDING_MAX_S = 60.0
GENESIS = "0" * 64  # prev_hash of the first event
# The event fields the hash covers, in this order (seq included: a row moved to another seq is an edit).
HASHED = ("seq", "at", "actor", "scope", "correlation_id", "entity", "entity_id", "action", "before", "after")
ROW = (*HASHED, "prev_hash", "hash")  # what a walk reads, in this order (ChainWalk.steps takes tuples)
_COLUMNS = ", ".join(ROW)
# On SQLite the walk has the database quote the string fields (json_quote escapes as json.dumps does with
# ensure_ascii=False): five columns per row instead of twelve, and no quoting in Python. Whatever it quotes
# otherwise only costs time: an event whose hash does not match is hashed again from its fields in Python
# (ChainWalk.steps_prejoined), so a difference in quoting can never pass for an edit, nor an edit for one.
_SQLITE_COLUMNS = "seq, at, " + " || ',' || ".join(f"json_quote({c})" for c in HASHED[2:]) + ", prev_hash, hash"


def canonical_state(state: Mapping[str, object] | None) -> str | None:
    """A record's state as stored in `before`/`after`: JSON with sorted keys, no spaces (None stays None)."""
    return None if state is None else json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(prev_hash: str, event: Mapping[str, object]) -> str:
    """sha256 of the previous hash and the event's HASHED fields as canonical JSON, hex."""
    body = json.dumps([event[k] for k in HASHED], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_quote = json.encoder.encode_basestring  # the C escaper json.dumps(ensure_ascii=False) uses for a str


def _body(row: tuple) -> str:
    """The canonical JSON of a row's HASHED fields (row: those fields first, in HASHED order), exactly what
    event_hash hashes, built without the generic encoder when every field has its usual type (a full walk is
    mostly this). Anything else (a NULL or a number where a string is
    expected, a non-finite float) goes through the encoder."""
    seq, at, *strings = row[:10]
    if type(seq) is int and (type(at) is float and at - at == 0.0 or type(at) is int):
        try:
            if strings[6] is None:  # before: NULL on the event that creates a record
                return (f"[{seq},{at!r},{_quote(strings[0])},{_quote(strings[1])},{_quote(strings[2])},"
                        f"{_quote(strings[3])},{_quote(strings[4])},{_quote(strings[5])},null,{_quote(strings[7])}]")
            return (f"[{seq},{at!r},{_quote(strings[0])},{_quote(strings[1])},{_quote(strings[2])},{_quote(strings[3])},"
                    f"{_quote(strings[4])},{_quote(strings[5])},{_quote(strings[6])},{_quote(strings[7])}]")
        except TypeError:  # a field that is not a str
            pass
    return _encode(list(row[:10]))


def event_tail(fields: Iterable[object]) -> str:
    """What event_hash hashes after the previous hash, without the event's seq: `'[' + str(seq) + tail` is the
    whole of it (fields: HASHED[1:] in order). For a writer whose database numbers and hashes the event."""
    return _body((0, *fields))[2:]


@dataclass(frozen=True)
class ChainVerdict:
    """The result of walking a chain: intact, or the first broken seq and why."""

    events: int  # events walked
    last_seq: int
    last_hash: str = GENESIS
    broken_seq: int | None = None
    reason: str = ""
    pending: int = 0  # events written but not yet chained (PENDING_TABLE), younger than PENDING_MAX_S

    @property
    def intact(self) -> bool:
        return self.broken_seq is None

    def line(self) -> str:
        if self.intact:
            waiting = f"; {self.pending} event(s) pending, not yet chained" if self.pending else ""
            return (f"audit chain intact: {self.events} event(s), seq 1..{self.last_seq}" if self.events else
                    "audit chain intact: no events yet") + waiting
        return f"audit chain BROKEN at seq {self.broken_seq}: {self.reason} ({self.events} event(s) walked)"


class ChainWalk:
    """Walks events in seq order (`steps` on a page of rows, then `finish`): stops at the first break.

    `marks` are hashes known from outside the database, by seq: what an earlier walk saw (`anchor`) and the
    signed checkpoints (moneypath.protocol.audit.checkpoint), each with the words that name it. The chain must
    pass through every one of them: an event at a marked seq with another hash means the chain was rewritten
    (or the newest event edited and re-hashed), a chain that ends before a mark was cut off."""

    def __init__(self, anchor: tuple[int, str] | None = None,
                 marks: Mapping[int, tuple[str, str]] | None = None):
        self.prev_seq, self.prev_hash, self.events = 0, GENESIS, 0
        self.marks: dict[int, tuple[str, str]] = dict(marks or {})
        if anchor is not None:  # (seq, hash) a previous walk saw: a chain re-hashed since then is caught
            self.marks.setdefault(anchor[0], (anchor[1], "the one verified earlier"))
        self.verdict: ChainVerdict | None = None  # set at the first break

    def _broken(self, seq: int, reason: str) -> ChainVerdict:
        self.verdict = ChainVerdict(self.events, self.prev_seq, self.prev_hash, seq, reason)
        return self.verdict

    def step(self, row: Mapping[str, object]) -> ChainVerdict | None:
        """One event (a mapping with HASHED, prev_hash and hash); the verdict when it breaks the chain."""
        return self.steps([tuple(row[k] for k in ROW)])

    def steps(self, rows: Iterable[tuple]) -> ChainVerdict | None:
        """Events as tuples in ROW order (what a walk SELECTs); the verdict at the first break, else None.
        The loop a full walk spends its time in: locals only, one dict lookup for the marks."""
        if self.verdict is not None:
            return self.verdict
        prev_seq, prev_hash, marks, sha256, body = self.prev_seq, self.prev_hash, self.marks, hashlib.sha256, _body
        count = 0
        try:
            for row in rows:
                seq = row[0]
                if seq != prev_seq + 1:
                    seq = int(seq)  # type: ignore[arg-type]
                    if seq != prev_seq + 1:
                        return self._gap(prev_seq, seq)
                if row[10] != prev_hash:
                    return self._broken(seq, "its prev_hash is not the hash of the event before it")
                digest = sha256((prev_hash + body(row)).encode()).hexdigest()
                if row[11] != digest:
                    return self._broken(seq, "its fields do not hash to its stored hash: the event was edited")
                if seq in marks and marks[seq][0] != digest:
                    return self._broken(seq, f"its hash differs from {marks[seq][1]}: the chain was rewritten")
                prev_seq, prev_hash = seq, digest
                count += 1
            return None
        finally:
            self._walked(count, prev_seq, prev_hash)

    def _gap(self, prev_seq: int, seq: int) -> ChainVerdict:
        return self._broken(prev_seq + 1, f"seq {prev_seq + 1} is missing (seq {seq} follows {prev_seq}): an "
                                          "event was deleted")

    def _walked(self, count: int, prev_seq: int, prev_hash: str) -> None:
        """After a batch (the hot loops keep their state in locals): count it and keep where the walk stands."""
        self.events += count
        if self.verdict is None:
            self.prev_seq, self.prev_hash = prev_seq, prev_hash
        else:
            self.verdict = ChainVerdict(self.events, prev_seq, prev_hash, self.verdict.broken_seq, self.verdict.reason)

    def steps_prejoined(self, rows: Iterable[tuple], refetch: Callable[[int], tuple]) -> ChainVerdict | None:
        """As `steps`, on rows (seq, at, the string fields already quoted and joined, prev_hash, hash); an event
        that does not hash to its stored hash this way is fetched again whole (`refetch(seq)`, a ROW tuple) and
        hashed as `steps` does before it counts as edited."""
        if self.verdict is not None:
            return self.verdict
        prev_seq, prev_hash, marks, sha256 = self.prev_seq, self.prev_hash, self.marks, hashlib.sha256
        count = 0
        try:
            for seq, at, joined, stored_prev, stored in rows:
                if seq != prev_seq + 1:
                    seq = int(seq)
                    if seq != prev_seq + 1:
                        return self._gap(prev_seq, seq)
                if stored_prev != prev_hash:
                    return self._broken(seq, "its prev_hash is not the hash of the event before it")
                if type(seq) is int and (type(at) is float and at - at == 0.0 or type(at) is int):
                    digest = sha256(f"{prev_hash}[{seq},{at!r},{joined}]".encode()).hexdigest()
                else:
                    digest = ""
                if stored != digest:
                    digest = sha256((prev_hash + _body(refetch(seq))).encode()).hexdigest()
                    if stored != digest:
                        return self._broken(seq, "its fields do not hash to its stored hash: the event was edited")
                if seq in marks and marks[seq][0] != digest:
                    return self._broken(seq, f"its hash differs from {marks[seq][1]}: the chain was rewritten")
                prev_seq, prev_hash = seq, digest
                count += 1
            return None
        finally:
            self._walked(count, prev_seq, prev_hash)

    def finish(self, head: tuple[int, str] | None) -> ChainVerdict:
        """After the last event: the head (last seq and hash the writer recorded), if there is one."""
        if self.verdict is not None:
            return self.verdict
        beyond = [seq for seq in self.marks if seq > self.prev_seq]
        if beyond:
            first = min(beyond)
            return self._broken(self.prev_seq + 1, f"the chain ends at seq {self.prev_seq}, but seq {first} is "
                                                   f"in {self.marks[first][1]}: events were deleted")
        if head is not None:
            head_seq, head_hash = head
            if head_seq > self.prev_seq:
                return self._broken(self.prev_seq + 1, f"the chain ends at seq {self.prev_seq}, the head records "
                                                       f"seq {head_seq}: the newest events were deleted")
            if head_hash != self.prev_hash:
                return self._broken(head_seq, "the head's hash is not the last event's hash")
        return ChainVerdict(self.events, self.prev_seq, self.prev_hash)


def verify_chain(rows: Iterable[Mapping[str, object]], head: tuple[int, str] | None = None,
                 anchor: tuple[int, str] | None = None) -> ChainVerdict:
    """Walk events in seq order: intact, or the first broken seq (edited, deleted, truncated)."""
    walk = ChainWalk(anchor)
    for row in rows:
        if walk.step(row) is not None:
            break
    return walk.finish(head)


SPAN_MIN = 100_000  # a parallel walk gives each process at least this many events (fewer: one walk)


def verify_database(conn, anchor: tuple[int, str] | None = None, batch: int = 20_000,
                    marks: Mapping[int, tuple[str, str]] | None = None,
                    spans: Callable[[list[tuple[int, int]], Mapping[int, tuple[str, str]]], list[ChainVerdict]]
                    | None = None, workers: int = 1) -> ChainVerdict:
    """Walk the chain stored in a database (a SQLAlchemy connection), `batch` rows at a time in seq order,
    up to the head read first: events appended meanwhile are left for the next walk, so the walk needs no
    snapshot and never holds a lock the writers wait for. Then no event may lie beyond the head: read
    together with the head in one statement (one snapshot), so a writer's append, which moves the head in
    the same transaction, is never mistaken for one. `marks`: see ChainWalk (signed checkpoints).

    Rows come through the driver's own cursor as plain tuples, in pages by seq. With `spans` (a function that
    walks seq ranges elsewhere, each with walk_span, and returns their verdicts in order:
    moneypath.check.audit_trail runs them in processes) and `workers` > 1, a long chain is cut into that many
    ranges walked at once; each range starts from the stored hash of the event before it, which the range before
    verified, so together they prove what one walk proves. benchmarks/bench_audit.py measures both on 1,000,000 events."""
    found = conn.exec_driver_sql(f"SELECT seq, hash FROM {HEAD_TABLE} WHERE id = 1").first()
    head = (int(found[0]), found[1]) if found is not None else None
    walk = ChainWalk(anchor, marks)
    if spans is not None and workers > 1 and head is not None and head[0] >= 2 * SPAN_MIN:
        count = min(workers, head[0] // SPAN_MIN)
        bounds = [head[0] * i // count for i in range(count + 1)]
        walked, last_hash = 0, GENESIS
        for verdict in spans([(bounds[i] + 1, bounds[i + 1]) for i in range(count)], walk.marks):
            if not verdict.intact:
                return ChainVerdict(walked + verdict.events, verdict.last_seq, verdict.last_hash, verdict.broken_seq,
                                    verdict.reason)
            walked, last_hash = walked + verdict.events, verdict.last_hash
        walk.prev_seq, walk.prev_hash, walk.events = head[0], last_hash, walked
    else:
        upto = "" if head is None else f" AND seq <= {head[0]:d}"
        if _walk_pages(conn, walk, 0, upto, batch) is not None:
            return walk.verdict  # type: ignore[return-value]
    verdict = walk.finish(head)
    if not verdict.intact:
        return verdict
    if head is None:  # the writer keeps the row from its first start (seq 0): without it no cut-off or append shows
        return verdict if not verdict.events else ChainVerdict(
            verdict.events, verdict.last_seq, verdict.last_hash, broken_seq=verdict.last_seq,
            reason=f"the head row ({HEAD_TABLE} id 1) is missing: it was deleted, so where the chain ends is unknown")
    return _beyond_head(conn, verdict.events) or pending(conn, verdict)


def pending(conn, verdict: ChainVerdict, now: float | None = None, has_table: bool | None = None) -> ChainVerdict:
    """An intact verdict with the events still waiting to be chained counted in, or a break when the oldest
    has waited longer than PENDING_MAX_S. `has_table`: whether PENDING_TABLE exists (None: look it up)."""
    import time

    from sqlalchemy import inspect

    if not verdict.intact or not (has_table if has_table is not None else inspect(conn).has_table(PENDING_TABLE)):
        return verdict
    count, oldest = conn.exec_driver_sql(f"SELECT count(*), min(at) FROM {PENDING_TABLE}").first()
    if not count:
        return verdict
    waited = (time.time() if now is None else now) - float(oldest)
    if waited > PENDING_MAX_S:
        return ChainVerdict(verdict.events, verdict.last_seq, verdict.last_hash, verdict.last_seq + 1,
                            f"{count} event(s) not yet chained, the oldest written {waited:.0f} s ago (more than "
                            f"{PENDING_MAX_S:g} s): nothing seals them, and until they are chained they can be edited "
                            "or deleted unseen", pending=int(count))
    return ChainVerdict(verdict.events, verdict.last_seq, verdict.last_hash, pending=int(count))


def _walk_pages(conn, walk: ChainWalk, after: int, upto: str, batch: int,
                between_pages: Callable[[], object] | None = None) -> ChainVerdict | None:
    """Feed `walk` the events after seq `after` (and within `upto`, SQL) page by page; its verdict at a break.
    `between_pages()` is called after each full page (ChainWatch's pause)."""
    cursor = conn.connection.driver_connection.cursor()
    sqlite = conn.dialect.name == "sqlite"
    columns = _SQLITE_COLUMNS if sqlite else _COLUMNS

    def refetch(seq: int) -> tuple:
        return tuple(conn.exec_driver_sql(f"SELECT {_COLUMNS} FROM {EVENTS_TABLE} WHERE seq = {seq:d}").one())

    try:
        while True:
            cursor.execute(f"SELECT {columns} FROM {EVENTS_TABLE} WHERE seq > {after:d}{upto} ORDER BY seq "
                           f"LIMIT {batch:d}")
            rows = cursor.fetchall()
            if (walk.steps_prejoined(rows, refetch) if sqlite else walk.steps(rows)) is not None:
                return walk.verdict
            if len(rows) < batch:
                return None
            after = int(rows[-1][0])
            if between_pages is not None:
                between_pages()
    finally:
        cursor.close()


def walk_span(conn, first: int, last: int, marks: Mapping[int, tuple[str, str]] | None = None,
              batch: int = 20_000, between_pages: Callable[[], object] | None = None) -> ChainVerdict:
    """Events first..last in seq order, linked to the stored hash of the event before `first` (which the walk of
    the range before verifies): one range of a parallel verify_database, or what a ChainWatch check walks (on
    SQLite the database quotes the fields, cheaper than Python). Intact: last_hash is last's
    hash."""
    walk = ChainWalk(marks={seq: mark for seq, mark in (marks or {}).items() if first <= seq <= last})
    if first > 1:
        before = conn.exec_driver_sql(f"SELECT hash FROM {EVENTS_TABLE} WHERE seq = {first - 1:d}").scalar()
        if before is None:
            return ChainVerdict(0, first - 2, broken_seq=first - 1, reason=f"seq {first - 1} is missing: an event was "
                                                                      "deleted")
        walk.prev_seq, walk.prev_hash = first - 1, before
    if _walk_pages(conn, walk, first - 1, f" AND seq <= {last:d}", batch, between_pages) is not None:
        return walk.verdict  # type: ignore[return-value]
    if walk.prev_seq < last:
        return walk._broken(walk.prev_seq + 1, f"seq {walk.prev_seq + 1} is missing: an event was deleted")
    return ChainVerdict(walk.events, walk.prev_seq, walk.prev_hash)


def _beyond_head(conn, walked: int = 0) -> ChainVerdict | None:
    """An event stored after the head (read in one statement with it): appended without moving the head, or
    the head moved back over it. Rows after the head are an error, never left unread."""
    head_seq, last_seq = conn.exec_driver_sql(
        f"SELECT (SELECT seq FROM {HEAD_TABLE} WHERE id = 1), (SELECT max(seq) FROM {EVENTS_TABLE})").first()
    if last_seq is not None and head_seq is not None and int(last_seq) > int(head_seq):
        return ChainVerdict(walked, int(head_seq), broken_seq=int(head_seq) + 1,
                            reason=f"events up to seq {int(last_seq)} lie beyond the head (seq {int(head_seq)}): "
                              "they were added without moving the head, or the head was moved back")
    return None


class ChainWatch:
    """A service's periodic check of its own chain: each `check` costs O(new events + sweep_min), however
    long the history, and together the checks keep the full walk's guarantees.

    - The tip: the event the previous check ended on must still have the hash it had then, so a chain
      re-hashed from any earlier point (head included) is caught at once; deleting it is caught too.
    - Forward: the events appended since are walked from the tip up to the head, and the head must match.
    - Sweep: a slice of older events is re-verified, as many as were new and at least `sweep_min`, wrapping
      around at the tip; an event edited or deleted in place, long after it was first verified, is found
      within one sweep cycle (history / max(new, sweep_min) checks).

    The first check starts at the head (verifying the head event itself) and leaves the history to the
    sweep, so a restart with millions of events costs no more than any other check; `resume` starts it at a
    head known from outside instead (the newest signed checkpoint), so a chain rewritten or cut off while the
    service was down is caught at its first check. After a break, each check re-verifies the broken place
    only, until it is whole again (the drill's restore from backup). Events beyond the head are a break.
    """

    def __init__(self, sweep_min: int = 1000, batch: int = 5000, between_pages: Callable[[], object] | None = None):
        """`between_pages` is called after each page of `batch` events (a service's check: a pause, so a thread
        hashing events does not hold the interpreter's lock from its request handling for the whole check)."""
        self.sweep_min, self.batch, self.between_pages = sweep_min, batch, between_pages
        self.tip: tuple[int, str] | None = None  # (seq, hash) the last check ended on
        self.sweep_next = 1  # the next seq the sweep re-verifies
        self.broken: ChainVerdict | None = None
        self._recheck: tuple[int, int] | None = None  # the seq window that must verify to clear `broken`
        self.tip_from = "verified earlier"  # where the tip's hash is known from (words for the reasons)
        self._has_pending: bool | None = None  # whether the chain has a PENDING_TABLE (looked up once)

    def resume(self, seq: int, hash_: str, known_from: str) -> None:
        """Start at (seq, hash) known from outside the database, e.g. "signed in checkpoint F"."""
        self.tip, self.tip_from = (seq, hash_), known_from

    def check(self, conn) -> ChainVerdict:
        """One check on a SQLAlchemy connection: intact (`events` = those verified now) or the first break."""
        from sqlalchemy import text

        if self.broken is not None:  # whole again there? then the full check below decides
            if not self._walk_range(conn, *self._recheck).intact:  # type: ignore[misc]
                return self.broken
            self.broken = self._recheck = None
        found = conn.execute(text(f"SELECT seq, hash, (SELECT max(seq) FROM {EVENTS_TABLE}) FROM {HEAD_TABLE} "
                                  "WHERE id = 1")).first()
        head = (int(found[0]), found[1]) if found is not None and int(found[0]) > 0 else None
        if found is not None and found[2] is not None and int(found[2]) > int(found[0]):
            return self._fail(ChainVerdict(0, int(found[0]), broken_seq=int(found[0]) + 1, reason=(
                f"events up to seq {int(found[2])} lie beyond the head (seq {int(found[0])}): they were added "
                "without moving the head, or the head was moved back")), (int(found[0]), int(found[0]) + 1))
        if head is None and self.tip is None:
            return self._pending(conn, ChainVerdict(0, 0))
        verified = 0
        if self.tip is None:  # first check: the head event alone; the sweep covers the rest
            start = self._walk_range(conn, head[0], head[0])  # type: ignore[index]
            if not start.intact:
                return self._fail(start, (head[0], head[0]))  # type: ignore[index]
            self.tip, verified = (start.last_seq, start.last_hash), 1
        tip_seq, tip_hash = self.tip
        stored = conn.execute(text(f"SELECT hash FROM {EVENTS_TABLE} WHERE seq = :s"), {"s": tip_seq}).scalar()
        if stored is None:
            return self._fail(ChainVerdict(0, tip_seq - 1, broken_seq=tip_seq, reason=f"seq {tip_seq} was "
                                           f"{self.tip_from} and is gone: events were deleted"), (tip_seq, tip_seq))
        if stored != tip_hash:
            return self._fail(ChainVerdict(0, tip_seq, broken_seq=tip_seq, reason="its hash differs from the one "
                                           f"{self.tip_from}: the chain was rewritten"), (tip_seq, tip_seq))
        head_seq, head_hash = head if head is not None else (0, GENESIS)
        if head_seq < tip_seq:
            return self._fail(ChainVerdict(0, tip_seq, broken_seq=head_seq + 1, reason=f"the head records seq "
                                           f"{head_seq}, but seq {tip_seq} was {self.tip_from}: the head was moved back"),
                              (tip_seq, tip_seq))
        forward = self._walk_range(conn, tip_seq + 1, head_seq)
        if not forward.intact:
            return self._fail(forward, (forward.broken_seq - 1, forward.broken_seq + 1))  # type: ignore[operator]
        if head_seq > tip_seq:
            if forward.last_hash != head_hash:
                return self._fail(ChainVerdict(forward.events, head_seq, broken_seq=head_seq,
                                               reason="the head's hash is not the last event's hash"), (head_seq, head_seq))
            self.tip, self.tip_from = (head_seq, head_hash), "verified earlier"
        if self.sweep_next > tip_seq:
            self.sweep_next = 1
        sweep_last = min(tip_seq, self.sweep_next + max(self.sweep_min, forward.events) - 1)
        swept = self._walk_range(conn, self.sweep_next, sweep_last)
        if not swept.intact:
            return self._fail(swept, (swept.broken_seq - 1, swept.broken_seq + 1))  # type: ignore[operator]
        # Wrap once the sweep has reached the tip: while events keep arriving the tip moves on every check,
        # and a sweep that only waited for `sweep_next > tip` re-read the newest events forever, never the old.
        self.sweep_next = 1 if sweep_last >= tip_seq else sweep_last + 1
        return self._pending(conn, ChainVerdict(verified + forward.events + swept.events, self.tip[0], self.tip[1]))

    def _pending(self, conn, verdict: ChainVerdict) -> ChainVerdict:
        """The events waiting to be chained, checked anew at every check (no broken state to clear)."""
        if self._has_pending is None:
            from sqlalchemy import inspect

            self._has_pending = inspect(conn).has_table(PENDING_TABLE)
        return pending(conn, verdict, has_table=self._has_pending)

    def _fail(self, verdict: ChainVerdict, window: tuple[int, int]) -> ChainVerdict:
        self.broken, self._recheck = verdict, (max(1, window[0]), max(1, window[1]))
        return verdict

    def _walk_range(self, conn, first: int, last: int) -> ChainVerdict:
        """Events first..last in seq order, linked to the stored hash of the one before `first`."""
        if first > last:
            return ChainVerdict(0, last)
        return walk_span(conn, first, last, batch=self.batch, between_pages=self.between_pages)
