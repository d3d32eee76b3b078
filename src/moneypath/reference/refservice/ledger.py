"""Double-entry ledger: every transaction balances to zero per currency; append-only.

Balances are derived from postings, never stored. Call inside the caller's database
transaction so a payment's state change and its postings commit together.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from moneypath.reference.refservice.db import ledger_postings, ledger_transactions
from moneypath.reference.refservice.statements import Prepared, padded

_TRANSACTION = Prepared(ledger_transactions.insert().values(
    payment_id=bindparam("payment_id"), kind=bindparam("kind"), created_at=bindparam("created_at"))
    .returning(ledger_transactions.c.id))
_POSTING = Prepared(ledger_postings.insert().values({name: bindparam(name) for name in (
    "transaction_id", "account", "currency", "amount_minor")}))


class UnbalancedError(ValueError):
    pass


@dataclass(frozen=True)
class Posting:
    account: str
    currency: str
    amount_minor: int  # debit > 0, credit < 0

    def __post_init__(self):
        # TigerBeetle-style: refuse what would corrupt money at the boundary.
        if type(self.amount_minor) is not int:
            raise TypeError(f"amount_minor must be an int of minor units, got {type(self.amount_minor).__name__}")
        if self.amount_minor == 0:
            raise ValueError("a posting moves money; zero is not a posting")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"{self.currency!r} is not an ISO 4217 currency code")


def post(conn: Connection, payment_id: str, kind: str, postings: list[Posting], now: float | None = None) -> int:
    """Append one balanced transaction; returns its id. Raises UnbalancedError before writing."""
    totals: dict[str, int] = defaultdict(int)
    for p in postings:
        totals[p.currency] += p.amount_minor
    unbalanced = {cur: total for cur, total in totals.items() if total != 0}
    if len(postings) < 2 or unbalanced:
        raise UnbalancedError(f"transaction {kind} for {payment_id} does not balance: {unbalanced or 'one leg'}")
    tx_id = _TRANSACTION.scalar(conn, {"payment_id": payment_id, "kind": kind, "created_at": now or time.time()})
    _POSTING.many(conn, [{"transaction_id": tx_id, "account": p.account, "currency": p.currency,
                          "amount_minor": p.amount_minor} for p in postings])
    return tx_id


def balances(conn: Connection) -> dict[tuple[str, str], int]:
    """(account, currency) → balance in minor units."""
    rows = conn.execute(select(ledger_postings.c.account, ledger_postings.c.currency,
                               func.sum(ledger_postings.c.amount_minor))
                        .group_by(ledger_postings.c.account, ledger_postings.c.currency))
    return {(account, currency): int(total) for account, currency, total in rows}


def imbalance(conn: Connection) -> dict[str, int]:
    """Sum of all postings per currency: 0 everywhere when double entry holds."""
    rows = conn.execute(select(ledger_postings.c.currency, func.sum(ledger_postings.c.amount_minor))
                        .group_by(ledger_postings.c.currency))
    return {currency: int(total) for currency, total in rows}


class RunningImbalance:
    """`imbalance` kept current by reading only the postings added since the last read (the ledger is
    append-only), so the periodic measure costs what is new, never the whole history.

    On PostgreSQL ids are handed out before commit, so a lower id can commit after a higher one was read;
    ids skipped over are read again for `settle_s` (after that they were rolled back). SQLite has one
    writer and commits in id order, so it never leaves any."""

    def __init__(self, settle_s: float = 60.0, max_pending: int = 100_000):
        self.sums: dict[str, int] = defaultdict(int)
        self.after = 0  # the highest posting id read
        self.pending: dict[int, float] = {}  # id skipped over -> when first seen missing
        self.settle_s, self.max_pending = settle_s, max_pending

    def update(self, conn: Connection, now: float | None = None) -> dict[str, int]:
        now = time.time() if now is None else now
        c = ledger_postings.c
        new = select(c.id, c.currency, c.amount_minor).where(c.id > self.after).order_by(c.id)
        rows = list(conn.execute(new))
        if self.pending:
            late = select(c.id, c.currency, c.amount_minor).where(c.id.in_(padded(list(self.pending))))
            rows += list(conn.execute(late))
        expected = self.after + 1
        for posting_id, currency, amount in rows:
            self.sums[currency] += int(amount)
            self.pending.pop(posting_id, None)
            if posting_id > self.after:
                self.pending.update(dict.fromkeys(range(expected, posting_id), now))
                expected, self.after = posting_id + 1, posting_id
        self.pending = {i: t for i, t in self.pending.items() if now - t < self.settle_s}
        if len(self.pending) > self.max_pending:  # a huge rollback: keep the newest
            self.pending = dict(sorted(self.pending.items())[-self.max_pending:])
        return dict(self.sums)


def transactions_for(conn: Connection, payment_id: str) -> list[str]:
    rows = conn.execute(select(ledger_transactions.c.kind).where(ledger_transactions.c.payment_id == payment_id)
                        .order_by(ledger_transactions.c.id))
    return [kind for (kind,) in rows]
