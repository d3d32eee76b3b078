"""Reconciliation: match the ledger's captures against the providers' settlement files.

Each run imports new files from the settlement directory (a file is imported once, in one
transaction with its lines), then matches open lines to captured payments by provider
reference. Differences are recorded once each in `reconciliation_breaks` and counted by
kind:

- duplicate: a second settlement line for a capture already matched (the customer was
  charged twice; also counted as a duplicate charge with its amount);
- amount_differs: the line's amount or currency is not what the ledger captured;
- missing_in_ledger: a line still matches no capture after `grace_s` (money moved at the
  provider that the ledger does not know about, e.g. an ambiguous timeout); if the capture
  is booked later, the line matches it then (the break stays: it was real for a while);
- missing_at_provider: a capture no settlement has mentioned after `missing_after_s`.

After each run, per provider: the age of the oldest unreconciled capture and the time of
the run.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from pathlib import Path

from sqlalchemy import and_, bindparam, exists, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from moneypath.catalog.conventions import Detector
from moneypath.instrument import MoneyPath
from moneypath.reference.refservice.audit import trail as audit
from moneypath.reference.refservice.db import payments, reconciliation_breaks, settlement_files, settlement_lines
from moneypath.reference.refservice.statements import Prepared, padded

log = logging.getLogger("moneypath.refservice.reconciliation")
ACTOR = "system:reconciliation"  # who the audit trail says reconciled a payment
COLUMNS = ("provider_ref", "reference", "amount_minor", "currency", "status", "settled_at")


# Run once per settlement line (statements.Prepared)
_CLOSE = Prepared(update(settlement_lines).where(settlement_lines.c.id == bindparam("b_id"))
                  .values(state=bindparam("b_state"), payment_id=bindparam("b_payment")))
_RECONCILED = Prepared(update(payments).where(payments.c.id == bindparam("b_id")).values(reconciled_at=bindparam("b_now")))


class Reconciler:
    def __init__(self, engine: Engine, mp: MoneyPath, directory: Path | str, providers: list[str],
                 grace_s: float = 30.0, missing_after_s: float = 3600.0):
        self.engine, self.mp, self.directory = engine, mp, Path(directory)
        self.providers, self.grace_s, self.missing_after_s = list(providers), grace_s, missing_after_s
        # Lines matched per transaction, and transactions per run (the rest wait for the next run): a transaction
        # holds the ledger's write lock, which the payments on the event loop wait for, so it stays short.
        self.batch, self.rounds = 500, 10
        self._imported: set[str] = set()  # names known imported: the database is asked only about new ones

    def run_once(self, now: float | None = None) -> dict[str, int]:
        """Import, match, measure. Returns counts: files, lines, matched and breaks by kind."""
        now = time.time() if now is None else now
        counts = {"files": 0, "lines": 0, "matched": 0}
        for path in self._new_files():
            counts["lines"] += self._import(path, now)
            counts["files"] += 1
            self._imported.add(path.name)
        for round_ in range(self.rounds):
            with self.engine.begin() as conn, audit.acting(ACTOR):
                if not self._match(conn, now, counts) or round_ == self.rounds - 1:
                    ages = self._oldest_unreconciled(conn, now)
                    break
        for provider in self.providers:
            self.mp.record_reconciliation(provider, ages.get(provider, 0.0), succeeded_at=now)
        # One run matched every settlement line against the ledger: both its detectors ran (duplicates are the
        # second line for one capture), so a 0 in their counters is now a finding.
        self.mp.record_detector_run(Detector.RECONCILIATION, now)
        self.mp.record_detector_run(Detector.DUPLICATES, now)
        return counts

    # ------------------------------------------------------------ import

    def _new_files(self) -> list[Path]:
        # Every run lists the whole directory, which keeps every file ever settled unless someone archives them:
        # O(files) a run. Names only (os.scandir), far cheaper than Path.glob. The listing is not skipped while the
        # directory's mtime stands still: on a filesystem with coarse or skewed timestamps a file created in the
        # same tick as a listing would wait for the next file (a day) unread.
        try:
            with os.scandir(self.directory) as entries:
                csvs = {e.name for e in entries if e.name.endswith(".csv") and not e.name.startswith(".")}
        except OSError:  # no directory (yet), or not one
            return []
        self._imported &= csvs  # files archived away are forgotten: the set stays the directory's size
        names = sorted(csvs - self._imported)
        if not names:
            return []
        known = select(settlement_files.c.name).where(settlement_files.c.name.in_(padded(names)))
        with self.engine.begin() as conn:  # COMMIT, not ROLLBACK: keeps the connection's prepared statements (payments.load)
            seen = {name for (name,) in conn.execute(known)}
        self._imported |= seen
        return [self.directory / name for name in names if name not in seen]

    def _import(self, path: Path, now: float) -> int:
        provider = path.name.split("-", 1)[0]
        error, rows = None, []
        try:
            rows = self._read(path, provider)
        except (OSError, ValueError, csv.Error) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
            log.warning("settlement file %s not imported: %s", path.name, error)
            rows = []
        try:
            with self.engine.begin() as conn:
                conn.execute(settlement_files.insert().values(name=path.name, provider=provider, lines=len(rows),
                                                              error=error, imported_at=now))
                if rows:
                    conn.execute(settlement_lines.insert(), [{**row, "file": path.name, "provider": provider,
                                                              "imported_at": now, "state": "open"} for row in rows])
        except IntegrityError:
            return 0  # another worker imported it first
        return len(rows)

    def _read(self, path: Path, provider: str) -> list[dict]:
        if provider not in self.providers:
            raise ValueError(f"unknown provider {provider!r} in the file name")
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise ValueError(f"header is {reader.fieldnames}, expected {list(COLUMNS)}")
            rows = []
            for number, line in enumerate(reader, start=2):
                try:
                    rows.append({"provider_ref": line["provider_ref"], "reference": line["reference"],
                                 "amount_minor": int(line["amount_minor"]), "currency": line["currency"],
                                 "status": line["status"]})
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"line {number}: {exc}") from None
            return rows

    # ------------------------------------------------------------ match

    def _break(self, conn: Connection, provider: str, kind: str, subject: str, now: float, detail: str,
               **fields) -> bool:
        """Record a difference once; count it the first time only."""
        try:
            with conn.begin_nested():
                conn.execute(reconciliation_breaks.insert().values(provider=provider, kind=kind, subject=subject,
                                                                   detail=detail[:200], found_at=now, **fields))
        except IntegrityError:
            return False
        self.mp.count_mismatch(provider, kind)
        return True

    def _reopen_late(self, conn: Connection) -> None:
        """A line closed as missing_in_ledger whose capture has since been booked (the capture committed
        after the grace period) goes back to open, so it matches below: the break stays recorded and
        counted once, and the capture is reconciled instead of later looking missing at the provider."""
        late = (select(settlement_lines.c.id)
                .join(payments, and_(payments.c.provider == settlement_lines.c.provider,
                                     payments.c.provider_ref == settlement_lines.c.provider_ref))
                .where(settlement_lines.c.state == "break", settlement_lines.c.payment_id.is_(None),
                       payments.c.captured_at.is_not(None), payments.c.reconciled_at.is_(None)))
        ids = [line_id for (line_id,) in conn.execute(late)]
        if ids:
            conn.execute(update(settlement_lines).where(settlement_lines.c.id.in_(padded(ids))).values(state="open"))

    def _match(self, conn: Connection, now: float, counts: dict) -> bool:
        """Match a batch of open lines; True when the batch was full (more may be open)."""
        self._reopen_late(conn)
        lines = conn.execute(select(settlement_lines).where(settlement_lines.c.state == "open")
                             .order_by(settlement_lines.c.id).limit(self.batch)).all()
        refs: dict[str, set[str]] = {}
        for line in lines:
            refs.setdefault(line.provider, set()).add(line.provider_ref)
        reconciled = []  # audited last: on PostgreSQL the audit head stays locked from the first append to the commit
        captured = {}
        if refs:
            # By (provider, provider_ref), the index's own order: provider_ref alone would scan every payment ever
            # booked, each run, a cost that grows with the ledger.
            # One statement per provider, its list padded (statements.padded): an OR of lists of two lengths
            # was a new statement text at almost every run.
            for provider, named in refs.items():
                wanted = and_(payments.c.provider == provider, payments.c.provider_ref.in_(padded(sorted(named))))
                for row in conn.execute(select(payments).where(wanted, payments.c.captured_at.is_not(None))
                                        ).mappings():
                    captured[(row["provider"], row["provider_ref"])] = dict(row)
        for line in lines:
            payment = captured.get((line.provider, line.provider_ref))
            fields = {"provider_ref": line.provider_ref, "amount_minor": line.amount_minor, "currency": line.currency}
            if payment is None:
                if now - line.imported_at >= self.grace_s:
                    self._break(conn, line.provider, "missing_in_ledger", f"line:{line.id}", now,
                                f"settled {line.amount_minor} {line.currency} for {line.provider_ref}, "
                                "which the ledger never captured", **fields)
                    self._close(conn, line.id, "break")
                continue
            if payment["reconciled_at"] is not None:
                if self._break(conn, line.provider, "duplicate", f"line:{line.id}", now,
                               f"{line.provider_ref} settled again", payment_id=payment["id"], **fields):
                    self.mp.count_duplicate_charge(line.provider, line.currency, line.amount_minor)
                self._close(conn, line.id, "break", payment["id"])
                continue
            if line.amount_minor != payment["amount_minor"] or line.currency != payment["currency"]:
                self._break(conn, line.provider, "amount_differs", f"line:{line.id}", now,
                            f"settled {line.amount_minor} {line.currency}, ledger captured "
                            f"{payment['amount_minor']} {payment['currency']}", payment_id=payment["id"], **fields)
                state = "break"
            else:
                state = "matched"
                counts["matched"] += 1
            self._close(conn, line.id, state, payment["id"])
            _RECONCILED.count(conn, {"b_id": payment["id"], "b_now": now})
            payment["reconciled_at"] = now
            reconciled.append((payment, line, state))
        already = exists().where(reconciliation_breaks.c.kind == "missing_at_provider",
                                 reconciliation_breaks.c.payment_id == payments.c.id)
        overdue = conn.execute(select(payments.c.id, payments.c.provider, payments.c.provider_ref,
                                      payments.c.amount_minor, payments.c.currency)
                               .where(and_(payments.c.captured_at.is_not(None), payments.c.reconciled_at.is_(None),
                                           payments.c.captured_at <= now - self.missing_after_s, ~already))).all()
        for row in overdue:
            self._break(conn, row.provider, "missing_at_provider", f"payment:{row.id}", now,
                        f"captured {row.amount_minor} {row.currency} not settled after {self.missing_after_s:.0f} s",
                        provider_ref=row.provider_ref, payment_id=row.id, amount_minor=row.amount_minor,
                        currency=row.currency)
        for payment, line, state in reconciled:
            audit.append(conn, payment["kind"], payment["id"], "reconcile", {"reconciled_at": None},
                         {"reconciled_at": now, "settlement_line": line.id, "settled_minor": line.amount_minor,
                          "settled_currency": line.currency, "match": state}, now)
        return len(lines) == self.batch

    @staticmethod
    def _close(conn: Connection, line_id: int, state: str, payment_id: str | None = None) -> None:
        _CLOSE.count(conn, {"b_id": line_id, "b_state": state, "b_payment": payment_id})

    def _oldest_unreconciled(self, conn: Connection, now: float) -> dict[str, float]:
        rows = conn.execute(select(payments.c.provider, func.min(payments.c.captured_at))
                            .where(payments.c.captured_at.is_not(None), payments.c.reconciled_at.is_(None))
                            .group_by(payments.c.provider))
        return {provider: max(0.0, now - oldest) for provider, oldest in rows if oldest is not None}
