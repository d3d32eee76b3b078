"""The money invariants, hard gates of the canary whatever the statistics: a duplicate charge, a ledger out of
balance, an acknowledged write lost. Any one in the canary's window fails it at once. A zero passes only when the
detector that computes it (moneypath.check.detector_runs) ran in the canary's window on the canary's own series.

From Prometheus (the features the catalog declares): the canary's duplicate charges (and their amount), and its
ledger imbalance gauge (ledger feature) not 0 at any scrape of the window. With `--database URL` the catalog's
`money_checks.breaks` query, limited to breaks found since the canary started, names the payments charged twice and
finds the captures the service's records lost (breaks of kind missing_in_ledger); the database does not say which
instance served a payment, so those are every instance's breaks in the window, and the report says so.
"""

from __future__ import annotations

from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, not_measured
from moneypath.canary.queries import selector_of
from moneypath.canary.results import InvariantResult
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import BREAK_DUPLICATE, BREAK_MISSING_IN_LEDGER, Key
from moneypath.catalog.detectors import detector_of
from moneypath.check.detector_runs import seen_running

NO_DATABASE = "payments not named: no --database"


def grown(metric: str, arm: tuple[str, ...], window_s: int, by: str) -> str:
    """How much a counter grew in the window, exactly: each series' highest minus lowest sample, summed. increase()
    extrapolates to the window's edges (1 duplicate of JPY 1,200 would read 1.2 and JPY 1,465); a gate names what
    happened. Any growth shows, a counter reset included (a restart within the window is the canary's own)."""
    series = selector_of(metric, *arm)
    return f"sum by ({by}) (max_over_time({series}[{window_s}s]) - min_over_time({series}[{window_s}s]))"


def duplicate_charges(catalog: Catalog, prom: Prometheus, arm: tuple[str, ...], window_s: int,
                      at: float) -> InvariantResult:
    dup = catalog.metric(Key.DUPLICATE_CHARGES_TOTAL)
    query = grown(dup, arm, window_s, "provider")
    result = InvariantResult("duplicate_charges", "no customer charged twice by the canary", NOT_MEASURED, "",
                             [query])
    try:
        counts = {k: v for k, v in _vector_at(prom, query, "provider", at).items() if v == v}  # NaN left out
    except PrometheusError as exc:
        result.reason = not_measured(f"{query}: {exc}")
        return result
    if not counts:
        result.reason = not_measured(f"{query} returned nothing (no {dup} series for the canary in the window)")
        return result
    result.values = {f"provider={k}": v for k, v in counts.items()}
    charged = {k: v for k, v in counts.items() if v > 0}
    if not charged:
        seen = _detector_seen(catalog, prom, Key.DUPLICATE_CHARGES_TOTAL, arm, window_s, at)
        result.status, result.reason = (PASS, f"no duplicate charge in the canary's window ({query})") if seen.ok \
            else (NOT_MEASURED, not_measured(f"no duplicate charge counted, and {_unseen(seen)}"))
        return result
    result.status = FAIL
    where = ", ".join(f"{v:g} on {k}" for k, v in sorted(charged.items()))
    result.reason = f"duplicate charges in the canary: {where}"
    if catalog.has(Key.DUPLICATE_CHARGED_MINOR_TOTAL):
        money_query = grown(catalog.metric(Key.DUPLICATE_CHARGED_MINOR_TOTAL), arm, window_s, "currency")
        result.queries.append(money_query)
        try:
            amounts = {c: v for c, v in _vector_at(prom, money_query, "currency", at).items() if v and v == v}
            if amounts:
                result.reason += " (" + ", ".join(catalog.money(v, c) for c, v in sorted(amounts.items())) + ")"
        except PrometheusError:
            pass  # the count alone fails the canary; the amount is a courtesy
    return result


def ledger_imbalance(catalog: Catalog, prom: Prometheus, arm: tuple[str, ...], window_s: int,
                     at: float) -> InvariantResult:
    gauge = selector_of(catalog.metric(Key.LEDGER_IMBALANCE_MINOR), *arm)
    queries = [f"max by (currency) (max_over_time({gauge}[{window_s}s]))",
               f"min by (currency) (min_over_time({gauge}[{window_s}s]))"]
    result = InvariantResult("ledger_imbalance", "the ledger's postings sum to 0 in every currency", NOT_MEASURED, "",
                             queries)
    seen: dict[str, float] = {}
    try:
        for query in queries:
            for currency, value in _vector_at(prom, query, "currency", at).items():
                if value == value and abs(value) > abs(seen.get(currency, 0.0)):
                    seen[currency] = value
                seen.setdefault(currency, value)
    except PrometheusError as exc:
        result.reason = not_measured(f"{queries[0]}: {exc}")
        return result
    if not seen:
        result.reason = not_measured(f"{queries[0]} returned nothing (no ledger imbalance series for the canary)")
        return result
    result.values = {f"currency={c}": v for c, v in seen.items()}
    off = {c: v for c, v in seen.items() if v != 0}
    if off:
        result.status = FAIL
        result.reason = "ledger out of balance while the canary ran: " + ", ".join(
            f"{catalog.money(v, c)} in {c}" for c, v in sorted(off.items()))
    elif not (seen := _detector_seen(catalog, prom, Key.LEDGER_IMBALANCE_MINOR, arm, window_s, at)).ok:
        result.reason = not_measured(f"the imbalance gauge read 0, and {_unseen(seen)}")
    else:
        result.status, result.reason = PASS, "the ledger balanced at every scrape of the canary's window"
    return result


def _unseen(check) -> str:
    return check.why.removeprefix("not measured: ")


def _detector_seen(catalog: Catalog, prom: Prometheus, key: str, arm: tuple[str, ...], window_s: int, at: float):
    """Whether the detector a signal's zero rests on ran in the canary's window, on the arm's own series."""
    return seen_running(catalog, prom.instant, detector_of(catalog, key) or "", at - window_s, at, arm)


def _vector_at(prom: Prometheus, query: str, label: str, at: float) -> dict[str, float]:
    return {s["metric"].get(label, ""): float(s["value"][1]) for s in prom.instant(query, at=at)}


def writes_lost(has_database: bool) -> InvariantResult:
    """Acknowledged writes lost, found in the money checks' breaks; without a database shown as not measured and
    not blocking (no signal counts them)."""
    return InvariantResult("writes_lost", "every capture the provider made is in the service's records",
                           NOT_MEASURED, not_measured("no --database: acknowledged writes lost are found in the "
                                                      "money checks' reconciliation breaks"), judged=has_database)


def prometheus_invariants(catalog: Catalog, prom: Prometheus, arm: tuple[str, ...], window_s: int,
                          at: float) -> list[InvariantResult]:
    """The gates the catalog's features declare, read from Prometheus for the canary's selector."""
    out = [duplicate_charges(catalog, prom, arm, window_s, at)]
    if catalog.has(Key.LEDGER_IMBALANCE_MINOR):
        out.append(ledger_imbalance(catalog, prom, arm, window_s, at))
    return out


def read_breaks(catalog: Catalog, database: str, since: float) -> list[dict]:
    """The catalog's money_checks.breaks rows found since `since` (Unix seconds), read-only. Raises LookupError
    when the catalog declares no such query; BadDbUrl / DatabaseUnavailable from open_database."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from moneypath.check.runbooks import DatabaseUnavailable, database_error, open_database

    sql = catalog.money_checks.breaks
    if sql is None:
        raise LookupError(f"{catalog.path}: money_checks.breaks is not declared")
    db = open_database(database)
    try:
        with db.connect() as conn:
            if db.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            return [dict(row._mapping) for row in conn.execute(text(sql), {"since": since})]
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"money_checks.breaks: {database_error(exc)}") from None
    finally:
        db.dispose()


def name_payments(results: list[InvariantResult], breaks: list[dict] | None, why_not: str | None) -> None:
    """Name the payments behind the gates from the breaks (None: `why_not` says why they are not named), and
    judge writes lost from them."""
    dup = next((r for r in results if r.invariant == "duplicate_charges"), None)
    lost = next((r for r in results if r.invariant == "writes_lost"), None)
    if breaks is None:
        if dup is not None and dup.status == FAIL:
            dup.reason += f"; {why_not or NO_DATABASE}"
        if lost is not None and why_not:
            lost.reason = not_measured(why_not.replace("payments not named", "writes lost not checked", 1))
        return

    def ids(kind: str) -> list[str]:
        return sorted({str(b.get("payment_id") or b.get("provider_ref") or b.get("subject"))
                       for b in breaks if b.get("kind") == kind})

    if dup is not None:
        dup.payments = ids(BREAK_DUPLICATE)
        if dup.status == FAIL:
            dup.reason += ("; payments charged twice since the canary started (all instances): "
                           + ", ".join(dup.payments) if dup.payments else
                           "; no duplicate break in the database yet to name the payments")
    if lost is not None:
        lost.payments, lost.judged = ids(BREAK_MISSING_IN_LEDGER), True
        lost.queries = ["money_checks.breaks (since the canary started)"]
        if lost.payments:
            lost.status = FAIL
            lost.reason = ("captures the service's records do not hold, since the canary started (all instances): "
                           + ", ".join(lost.payments))
        else:
            lost.status, lost.reason = PASS, "no capture missing from the service's records since the canary started"
