"""The service's background check of its audit trail: verify the hash chain, set the signal the catalog's
AuditChainBroken alert reads (`MoneyPath.set_audit_chain`), and log the first broken event once.

Each run costs what is new since the last one plus a bounded sweep of older events
(moneypath._common.audit_chain.ChainWatch), never a walk over all history: that walk, every second in
the fast stack, made the checkout mix collapse after ~25 s at 150 authorizations/s. A forger who
re-hashes the chain and the head is caught at the next run, an event edited in place within one sweep.

The drills' `audit_tamper` fault (moneypath._common.fault_specs) is applied here: while it is set, one
past event's `after` is edited in the database, as someone with write access would do by hand; when it
is cleared the row is put back (the restore from a backup the runbook's mitigation describes).
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from moneypath._common.audit_chain import ChainWatch, Verdict
from moneypath._common.faults import Faults
from moneypath.instrument import MoneyPath
from moneypath.reference.refservice.db import audit_events, audit_head

log = logging.getLogger("moneypath.refservice.audit")
TAMPER = "audit_tamper"


class AuditCheck:
    def __init__(self, engine: Engine, reader: Engine, mp: MoneyPath, faults: Faults | None = None,
                 sweep_min: int = 1000):
        """`engine` writes (only the drill's tamper does); `reader` walks without ever taking the write lock."""
        self.engine, self.reader, self.mp, self.faults = engine, reader, mp, faults
        self.watch = ChainWatch(sweep_min)
        self.tampered: tuple[int, str] | None = None  # (seq, original after) while the drill's edit is in place
        self._logged = ""

    def run_once(self) -> Verdict:
        if self.faults is not None:
            self._drill()
        with self.reader.connect() as conn:
            verdict = self.watch.check(conn)
        if verdict.intact:
            self._logged = ""
        elif verdict.line() != self._logged:
            self._logged = verdict.line()
            log.error("%s; run `moneypath audit verify --db URL`", verdict.line())
        self.mp.set_audit_chain(not verdict.intact)
        return verdict

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
