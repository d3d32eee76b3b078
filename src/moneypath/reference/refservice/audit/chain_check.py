"""The service's background check of its audit trail: verify the hash chain, set the signal the catalog's
AuditChainBroken alert reads (`MoneyPath.set_audit_chain`), and log the first broken event once.

Each run costs what is new since the last one plus a bounded sweep of older events
(moneypath.protocol.audit.chain.ChainWatch), never a walk over all history, whose cost would grow with the
ledger until checks crowd out requests. A forger who
re-hashes the chain and the head is caught at the next run, an event edited in place within one sweep. The
service's own run walks in a child process (walker.py: the hashing then never holds the interpreter's lock
that request handling needs); an app built in code walks in the calling thread, pausing between pages.

Checkpoints (when MONEYPATH_AUDIT_CHECKPOINT_DIR and _KEY are set; moneypath.protocol.audit.checkpoint): at
most every checkpoint interval, a check that found the chain intact signs the head it verified (its seq and
hash, never one read without verifying it) with a key the database never holds, publishes it to the
directory and sets the catalog's `audit_checkpoint_seq` (and, after every intact check, `audit_head_seq` to the
head it verified: the AuditCheckpointStale alert compares the two); the service's last act at shutdown is one more. A
restarted service starts its watch at the newest checkpoint, not at whatever head the database shows, so a
chain rewritten or cut off while it was down is caught at its first check. The cost is O(1) per checkpoint
(one signature, one small file); bookings do nothing more.

The drills' `audit_tamper` fault (moneypath.protocol.faults.vocabularies) is applied here: while it is set, one
past event's `after` is edited in the database, as someone with write access would do by hand; when it
is cleared the row is put back (the restore from a backup the runbook's mitigation describes).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from moneypath.catalog.conventions import Detector
from moneypath.instrument import MoneyPath
from moneypath.protocol.audit.chain import ChainVerdict, ChainWatch
from moneypath.protocol.audit.checkpoint import CheckpointDir, CheckpointError, Publisher, Signer, read_key
from moneypath.protocol.faults.switches import Faults
from moneypath.reference.refservice.audit import trail as audit
from moneypath.reference.refservice.audit.walker import WalkerError, WalkerProcess
from moneypath.reference.refservice.config import ServiceConfig
from moneypath.reference.refservice.db import audit_events, audit_head

log = logging.getLogger("moneypath.refservice.audit")
TAMPER = "audit_tamper"


@dataclass(frozen=True)
class Checkpointing:
    """How the check signs checkpoints: `publisher` signs and publishes them, at most every `interval_s`;
    `before_signing()` makes what the walk read durable (durability.GroupSync: a signed head must never name
    events a power cut can lose)."""

    publisher: Publisher
    interval_s: float = 60.0
    before_signing: Callable[[], object] | None = None


class AuditCheck:
    def __init__(self, engine: Engine, reader: Engine, mp: MoneyPath, faults: Faults | None = None,
                 sweep_min: int = 1000, checkpoints: Checkpointing | None = None, walker_db_url: str | None = None):
        """`engine` writes (only the drill's tamper does); `reader` walks without ever taking the write lock;
        `checkpoints`: how to sign checkpoints (None: no checkpoints); `walker_db_url`: walk in a child process on
        that database (walker.py), else in the calling thread."""
        self.engine, self.reader, self.mp, self.faults = engine, reader, mp, faults
        # In a thread: pages of 500 events with a 5 ms sleep between, so the check lets the event loop run between
        # pages instead of contending for the GIL through the whole walk.
        self.watch: ChainWatch | WalkerProcess = (
            WalkerProcess(walker_db_url, sweep_min) if walker_db_url is not None
            else ChainWatch(sweep_min, batch=500, between_pages=lambda: time.sleep(0.005)))
        self.tampered: tuple[int, str] | None = None  # (seq, original after) while the drill's edit is in place
        self._logged = ""
        self.publisher = checkpoints.publisher if checkpoints is not None else None
        self.checkpoint_interval_s = checkpoints.interval_s if checkpoints is not None else 60.0
        self.before_signing = checkpoints.before_signing if checkpoints is not None else None
        # monotonic time of the last checkpoint attempt; none yet: the first intact check signs (monotonic time counts
        # from boot, so 0.0 here held the first checkpoint back for an interval on a machine up for less than one)
        self._checkpointed_at = float("-inf")
        self._checkpoint_logged = ""
        # One check at a time: the shutdown's final check may start while a cancelled job's thread still runs.
        self._lock = threading.Lock()
        if self.publisher is not None:
            self._resume()

    def _resume(self) -> None:
        """Start the watch at the newest signed checkpoint: what the chain was is known from outside."""
        directory = self.publisher.directory.path  # type: ignore[union-attr]
        if not directory.exists():
            # A new service has published nothing yet (the first intact check creates the directory): no error. A
            # chain with events and no directory is worth a warning: never published here, or removed since.
            with self.reader.connect() as conn:
                events = conn.execute(select(audit_head.c.seq).where(audit_head.c.id == 1)).scalar() or 0
            (log.warning if events else log.info)(
                "audit checkpoints: no directory %s yet (the chain holds %d events); starting at the database's "
                "head, the first intact check publishes one", directory, events)
            return
        try:
            newest = self.publisher.newest()  # type: ignore[union-attr]
        except CheckpointError as exc:
            log.error("audit checkpoints: %s; starting at the database's head instead", exc)
            return
        if newest is not None:
            self.watch.resume(newest.seq, newest.hash, f"signed in {newest.label()}")
            self.mp.set_audit_checkpoint(newest.seq)

    def run_once(self, checkpoint_now: bool = False) -> ChainVerdict:
        with self._lock:
            return self._run_once(checkpoint_now)

    def _run_once(self, checkpoint_now: bool) -> ChainVerdict:
        if self.faults is not None:
            self._drill()
        if isinstance(self.watch, WalkerProcess):
            verdict = self.watch.check()
        else:
            with self.reader.connect() as conn:
                verdict = self.watch.check(conn)
        if verdict.intact:
            self._logged = ""
        elif verdict.line() != self._logged:
            self._logged = verdict.line()
            log.error("%s; run `moneypath audit verify --db URL`", verdict.line())
        self.mp.set_audit_chain(not verdict.intact)
        self.mp.record_detector_run(Detector.AUDIT_CHAIN)
        if verdict.intact and self.publisher is not None:
            # The head this check verified, beside the checkpoint's seq: AuditCheckpointStale compares the two.
            # Only while signing: a service without checkpoints has nothing that must catch up with its head.
            self.mp.set_audit_head(self.watch.tip[0] if self.watch.tip is not None else 0)
            now = time.monotonic()
            if checkpoint_now or now - self._checkpointed_at >= self.checkpoint_interval_s:
                self._checkpointed_at = now
                self._checkpoint()
        return verdict

    def seal(self) -> int:
        """Chain the events bookings parked (PostgreSQL: audit.seal)."""
        return audit.seal(self.engine)

    def final_seal(self) -> None:
        """At shutdown: chain what is parked (the next instance's job would, within PENDING_MAX_S)."""
        try:
            self.seal()
        except Exception:  # the database may be gone already
            log.exception("audit seal at shutdown failed")

    def final_checkpoint(self) -> None:
        """At shutdown: check once more and sign the head as the service leaves it."""
        try:
            self.run_once(checkpoint_now=True)
        except Exception:  # the database may be gone already; the checkpoints before stand
            log.exception("audit checkpoint at shutdown failed")

    def start(self) -> None:
        """Start the walker process now, if the walk has one (else the first check does); a failure is logged and
        left to the first check to retry."""
        with self._lock:
            if isinstance(self.watch, WalkerProcess):
                try:
                    self.watch.start()
                except (OSError, WalkerError) as exc:
                    log.warning("audit walker did not start: %s; the first check tries again", exc)

    def close(self) -> None:
        """After the last check: stop the walker process, if the walk has one."""
        with self._lock:
            if isinstance(self.watch, WalkerProcess):
                self.watch.close()

    def _checkpoint(self) -> None:
        """Sign the tip the watch has just verified (never a head read without verifying it)."""
        if self.watch.tip is None:
            return
        seq, hash_ = self.watch.tip
        try:
            if self.before_signing is not None:
                self.before_signing()
            made = self.publisher.publish(seq, hash_, time.time())  # type: ignore[union-attr]
        except (CheckpointError, OSError) as exc:
            line = str(exc) if isinstance(exc, CheckpointError) else f"cannot write a checkpoint: {exc}"
            if line != self._checkpoint_logged:
                self._checkpoint_logged = line
                log.error("audit checkpoints: %s", line)
            return
        self._checkpoint_logged = ""
        if made is not None:
            self.mp.set_audit_checkpoint(made.seq)

    def _drill(self) -> None:
        on = self.faults.get(TAMPER) is not None  # type: ignore[union-attr]
        if on and self.tampered is None:
            self.tampered = tamper(self.engine)
        elif not on and self.tampered is not None:
            seq, original = self.tampered
            with self.engine.begin() as conn:
                conn.execute(update(audit_events).where(audit_events.c.seq == seq).values(after=original))
            self.tampered = None


def tamper(engine: Engine) -> tuple[int, str] | None:
    """Edit the `after` of an event half way down the chain (its amount or state); (seq, original after),
    or None while there is no event yet."""
    with engine.begin() as conn:
        last = conn.execute(select(audit_head.c.seq)).scalar() or 0
        if last == 0:
            return None
        seq = last // 2 + 1
        original = conn.execute(select(audit_events.c.after).where(audit_events.c.seq == seq)).scalar_one()
        state = json.loads(original)
        if "amount_minor" in state:
            state["amount_minor"] += 100
        else:
            state["state"] = "edited"
        conn.execute(update(audit_events).where(audit_events.c.seq == seq).values(after=json.dumps(state)))
    return seq, original


def checkpoint_publisher(config: ServiceConfig) -> Publisher | None:
    """The publisher the configuration asks for (ServiceConfig.from_env checked the key already)."""
    if not config.audit_checkpoint_dir:
        return None
    return Publisher(Signer(read_key(config.audit_checkpoint_key, "signer key")),
                     CheckpointDir(config.audit_checkpoint_dir))
