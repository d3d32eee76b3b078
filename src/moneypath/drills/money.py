"""Money impact of a drill, from what the load generator saw and what the ledger database holds.

Pure functions over plain rows (unit-tested without a database) plus `LedgerReader`, which runs the
catalog's `money_checks:` queries (the team's own table names: its payments table and its copy of
the provider's records; a ledger only for `balance`) read-only against the service's database: the
stack's SQLite file or any SQLAlchemy URL (PostgreSQL sessions are set read-only). A query the catalog
does not declare, or one the database refuses, raises `NotChecked`: the report says "not measured" and
why, never that money was lost and never a pass.

- payments affected: moneypath.drills.journal.PAYMENTS_AFFECTED (the report prints it beside the figure);
- duplicate amount: per currency, what breaks of kind ``duplicate`` say was charged twice;
- unreconciled difference: per currency, the money in every other break (the amount that
  differs, or the whole line/capture when one side is missing);
- writes lost: payments the service acknowledged (2xx, in a state the request template counts as
  approved) that the ledger does not hold, and captures it acknowledged that have no capture
  transaction. Must be 0;
- refused: of the payments affected, those the service refused (429/503 with Retry-After: shed by admission
  control, rate-limited) on their last attempt. Never acknowledged, so they are not writes lost: the customer
  was told "not now", and nothing may have been booked for them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from moneypath._common.verdict import Check, Outcome, register
from moneypath.catalog import Catalog, MoneyChecks
from moneypath.catalog.currencies import format_money
from moneypath.drills.baseline_load import PaymentOutcome

Money = Callable[[int | float, str], str]  # minor units and currency -> "JPY 6,235" (Catalog.money)


def amounts_text(amounts: dict[str, int | float], money: Money = format_money, none: str = "none") -> str:
    """Per-currency minor units as people read them, e.g. "JPY 6,235, KWD 6.235"; `none` when empty."""
    return ", ".join(money(v, cur) for cur, v in sorted(amounts.items())) or none


def reads_money(c: Catalog, expr: str) -> bool:
    """Whether a query reads one of the catalog's money signals (unit minor: minor units of a `currency` label)."""
    names = [s.name for s in c.signals.values() if s.unit == "minor" and s.name]
    return any(re.search(rf"(?<![A-Za-z0-9_:]){re.escape(n)}(?![A-Za-z0-9:])", expr) for n in names)


def affected_payments(outcomes: Iterable[PaymentOutcome], start: float | None, end: float | None,
                      breaks: Iterable[dict] = ()) -> set[str]:
    """Ids (payment id, or the correlation id when there is none) of the payments the fault touched."""
    ids: set[str] = set()
    if start is not None:
        for o in outcomes:
            if not start <= o.t <= (end if end is not None else float("inf")):
                continue
            if o.failed or o.flagged:
                ids.add(o.payment_id or o.correlation_id)
    for b in breaks:
        ids.add(str(b.get("payment_id") or b.get("provider_ref") or b.get("subject")))
    return ids


def refused_payments(outcomes: Iterable[PaymentOutcome], start: float | None, end: float | None) -> set[str]:
    """Correlation ids of the payments started in the window that the service refused (never acknowledged)."""
    if start is None:
        return set()
    stop = end if end is not None else float("inf")
    return {o.correlation_id for o in outcomes if start <= o.t <= stop and o.failed and o.refused}


def duplicate_amounts(breaks: Iterable[dict]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for b in breaks:
        if b.get("kind") == "duplicate" and b.get("currency"):
            out[b["currency"]] += int(b.get("amount_minor") or 0)
    return dict(out)


def unreconciled_amounts(breaks: Iterable[dict]) -> dict[str, int]:
    """Per currency: |settled - captured| for amount_differs, the whole amount when a side is missing."""
    out: dict[str, int] = defaultdict(int)
    for b in breaks:
        kind, currency = b.get("kind"), b.get("currency")
        if kind == "duplicate" or not currency:
            continue
        amount = int(b.get("amount_minor") or 0)
        if kind == "amount_differs" and b.get("captured_minor") is not None:
            amount = abs(amount - int(b["captured_minor"]))
        out[currency] += amount
    return dict(out)


def acknowledged(outcomes: Iterable[PaymentOutcome], approved: Iterable[str] | None = None) -> tuple[set[str], set[str]]:
    """(payment ids the service acknowledged as money — a 2xx whose state is one of `approved`, any 2xx when
    None: a declined charge confirms no money, and a service need not store it — ids whose capture it
    acknowledged)."""
    states = set(approved) if approved is not None else None
    payments, captures = set(), set()
    for o in outcomes:
        if o.payment_id and (states is None or o.state in states or o.captured):
            payments.add(o.payment_id)
            if o.captured:
                captures.add(o.payment_id)
    return payments, captures


def writes_lost(acked_payments: set[str], acked_captures: set[str], stored_payments: set[str],
                booked_captures: set[str] | None) -> list[str]:
    """What was acknowledged but is not stored (in the ledger or the team's tables), one line each (captures only
    when they were read)."""
    lost = [f"payment {p} acknowledged, not stored" for p in sorted(acked_payments - stored_payments)]
    if booked_captures is not None:
        lost += [f"capture of {p} acknowledged, no capture transaction"
                 for p in sorted(acked_captures - booked_captures)]
    return lost


def cap_exceeded(affected: int, duplicates: dict[str, int], max_affected: int | None,
                 max_duplicate_minor: int | None, money: Money = format_money) -> str | None:
    """The blast-radius reason to stop the fault now, or None. The cap is minor units in any currency."""
    if max_affected is not None and affected > max_affected:
        return f"blast-radius cap: {affected} payments affected (cap {max_affected})"
    if max_duplicate_minor is not None:
        for currency, amount in sorted(duplicates.items()):
            if amount > max_duplicate_minor:
                return (f"blast-radius cap: {money(amount, currency)} charged twice "
                        f"(cap {money(max_duplicate_minor, currency)})")
    return None


def _check(name: str, ok: bool | None, why: str) -> Check:
    return Check(name=name, outcome=Outcome.of(ok), why=why)


def captured_once(counts: list[dict], subjects: set[str], auto: bool = False) -> Check:
    """Captured once, on the provider's records (`money_checks.capture_counts` rows: id, captures): a fail naming
    the payments captured more than once, not measured when the rows hold none of `subjects`, else a pass.
    `subjects` are the captures the service acknowledged, or with `auto` (the target captures by itself) every
    payment it acknowledged: one it has not captured yet (0 captures) is no failure."""
    what = "acknowledged payments" if auto else "acknowledged captures"
    if not subjects:
        return _check("captured_once", None,
                      f"captured once: not measured: the service acknowledged no {what.split()[1][:-1]}")
    seen = {str(r["id"]): int(r.get("captures") or 0) for r in counts if r.get("id") is not None}
    # an acknowledged capture the provider's records hold 0 times is no evidence of one capture: not counted
    unseen = sorted(p for p in seen.keys() & subjects if not auto and seen[p] == 0)
    found = seen.keys() & subjects - set(unseen)
    if not found:
        return _check("captured_once", None, f"captured once: not measured: money_checks.capture_counts returned "
                                             f"none of the {len(subjects)} {what}")
    twice = sorted(p for p in found if seen[p] > 1)
    if twice:
        named = ", ".join(f"{p} ({seen[p]} captures)" for p in twice[:5])
        return _check("captured_once", False, f"{len(twice)} payment(s) captured more than once "
                      f"(money_checks.capture_counts): {named}" + (f" and {len(twice) - 5} more" if len(twice) > 5 else ""))
    once = sum(1 for p in found if seen[p] == 1)
    if auto:
        return _check("captured_once", True, f"{len(found)} of {len(subjects)} acknowledged payments found on the "
                      f"provider's records, none captured more than once ({once} captured once; "
                      "money_checks.capture_counts)")
    missing = f"; {len(unseen)} with no capture on them yet, e.g. {unseen[0]}" if unseen else ""
    return _check("captured_once", True, f"{len(found)} of {len(subjects)} acknowledged captures found once "
                                         f"(money_checks.capture_counts){missing}")


def refunds_within_captures(rows: list[dict], money: Money = format_money) -> Check:
    """Refunds never exceed the capture (`money_checks.refunds` rows: id, captured_minor, refunded_minor, and
    currency when the table has it): not measured on no row."""
    if not rows:
        return _check("refunds_within_captures", None,
                      "refunds within captures: not measured: money_checks.refunds returned no payment")
    over = [r for r in rows if int(r.get("refunded_minor") or 0) > int(r.get("captured_minor") or 0)]
    if over:
        r = over[0]
        cur = r.get("currency")
        amounts = ((money(int(r["refunded_minor"]), str(cur)), money(int(r.get("captured_minor") or 0), str(cur)))
                   if cur else (r["refunded_minor"], r.get("captured_minor") or 0))
        return _check("refunds_within_captures", False, f"{len(over)} payment(s) refunded more than captured, "
                                                        f"e.g. {r['id']}: {amounts[0]} refunded of {amounts[1]}")
    return _check("refunds_within_captures", True, f"refunds within the capture on all {len(rows)} payment(s)")


def payments_present(acked: set[str], stored: set[str] | None) -> Check:
    """Every payment the service acknowledged is stored; not measured when nothing was acknowledged or the store
    could not be read."""
    if stored is None:
        return _check("stored", None, "not measured: no way to read the stored payments")
    if not acked:
        return _check("stored", None, "not measured: the service acknowledged no payment")
    lost = sorted(acked - stored)
    if lost:
        return _check("stored", False, f"{len(lost)} acknowledged payment(s) not stored, e.g. {lost[0]}")
    return _check("stored", True, f"all {len(acked)} acknowledged payments stored")


def balanced(sums: dict[str, int], money: Money = format_money) -> Check:
    """Ledger postings sum to 0 per currency (`money_checks.balance`); not measured on no row (an empty ledger)."""
    if not sums:
        return _check("balance", None, "not measured: money_checks.balance returned no currency")
    off = {c: v for c, v in sums.items() if v != 0}
    if off:
        return _check("balance", False, f"postings do not sum to 0: {amounts_text(off, money)}")
    return _check("balance", True, f"postings sum to 0 in {', '.join(sorted(sums))}")


register("drills.money.payments_present", payments_present)
register("drills.money.captured_once", captured_once)
register("drills.money.refunds_within_captures", refunds_within_captures)
register("drills.money.ledger_balanced", balanced)


NOT_MEASURED_PREFIX = "not measured: "


class NotChecked(Exception):
    """A money check that could not run: the catalog declares no query for it, or the database refused the
    query. One line, for the report: a check that did not run is "not checked", never money lost."""


class LedgerReader:
    """The catalog's money-check queries (`Catalog.money_checks`), run read-only on the service's database."""

    def __init__(self, url: str, queries: MoneyChecks):
        from sqlalchemy import create_engine, event

        self.url, self.queries = url, queries
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            self.engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
        else:
            self.engine = create_engine(url)

            @event.listens_for(self.engine, "connect")
            def _read_only(dbapi_connection, _record):
                cursor = dbapi_connection.cursor()
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                cursor.close()
                dbapi_connection.commit()

    def close(self) -> None:
        self.engine.dispose()

    def declares(self, check: str) -> bool:
        return getattr(self.queries, check) is not None

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Any read, e.g. a runbook's SQL diagnosis step; SQLAlchemyError as it comes."""
        from sqlalchemy import bindparam, text

        query = text(sql)
        if "ids" in (params or {}):
            query = query.bindparams(bindparam("ids", expanding=True))
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query, params or {}).mappings()]

    def _rows(self, check: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from sqlalchemy.exc import SQLAlchemyError

        from moneypath.check.runbooks import database_error

        sql = getattr(self.queries, check)
        if sql is None:
            raise NotChecked(f"the catalog declares no money_checks.{check} query")
        try:
            return self.rows(sql, params)
        except SQLAlchemyError as exc:
            raise NotChecked(f"money_checks.{check} failed on the database: {database_error(exc)}") from None

    def breaks_since(self, t: float) -> list[dict]:
        return self._rows("breaks", {"since": t})

    def imbalance(self) -> dict[str, int]:
        rows = self._rows("balance")
        try:
            return {str(r["currency"]): int(r["total"] or 0) for r in rows}
        except KeyError as exc:
            raise NotChecked(f"money_checks.balance returns no {exc.args[0]!r} column (it needs currency, total)") \
                from None

    def stored(self, payment_ids: set[str]) -> tuple[set[str], set[str] | None]:
        """(ids the payments query finds, ids the captures query finds — None when it is not declared), 500
        ids per query."""
        present: set[str] = set()
        captured: set[str] | None = set() if self.declares("captures") else None
        ids = sorted(payment_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            present |= self._ids("payments", chunk)
            if captured is not None:
                captured |= self._ids("captures", chunk)
        return present, captured

    def for_ids(self, check: str, payment_ids: set[str]) -> list[dict[str, Any]]:
        """The rows of an `:ids` query (capture_counts, refunds) for these payments, 500 ids per query."""
        ids, rows = sorted(payment_ids), []
        for i in range(0, len(ids), 500):
            rows += self._rows(check, {"ids": ids[i:i + 500]})
        if rows and "id" not in rows[0]:
            raise NotChecked(f"money_checks.{check} returns no 'id' column (columns: {', '.join(rows[0])})")
        return rows

    def _ids(self, check: str, ids: list[str]) -> set[str]:
        rows = self._rows(check, {"ids": ids})
        if rows and "id" not in rows[0]:
            raise NotChecked(f"money_checks.{check} returns no 'id' column (columns: {', '.join(rows[0])})")
        return {str(r["id"]) for r in rows}

