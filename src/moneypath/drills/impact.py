"""What the fault costs in money, and whether the ledger still holds: payments affected, amounts charged
twice, unreconciled differences and acknowledged writes lost, from the ledger database when the target
has one (--db-url), else from Prometheus and the payments API. The blast-radius cap reads the same
measures while the fault is on; the money objective ("ledger_balanced" with the ledger feature, else
"money_kept") judges them at the end.
"""

from __future__ import annotations

import math
from dataclasses import replace

import httpx

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Check, IfNotMeasured, Outcome, Verdict, register
from moneypath.catalog.conventions import Key
from moneypath.catalog.detectors import detector_of
from moneypath.check.detector_runs import seen_running
from moneypath.drills import baseline_load, money
from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.drills.context import DrillContext
from moneypath.drills.endpoints import TargetError
from moneypath.drills.journal import MoneyImpact
from moneypath.formats.drill import Cap
from moneypath.generate.compress import format_duration


def ledger_breaks(ctx: DrillContext, since: float | None) -> tuple[list[dict] | None, str]:
    """Reconciliation breaks found since `since` from the ledger database, or (None, why not)."""
    if ctx.db is None:
        return None, "no --db-url"
    if since is None:
        return [], ""
    try:
        return ctx.db.breaks_since(since), ""
    except money.NotChecked as exc:
        return None, str(exc)


def prom_duplicates(ctx: DrillContext, seconds: float) -> dict[str, int]:
    """Minor units charged twice over the last `seconds`, per currency, from the service's own counter."""
    m = ctx.catalog.metric(Key.DUPLICATE_CHARGED_MINOR_TOTAL)
    window = format_duration(max(seconds, 1))
    try:
        series = ctx.prom.query(f"sum by (currency) (increase({m}[{window}]))")
    except TargetError:
        return {}
    return {labels.get("currency", "?"): round(v) for labels, v in series if not math.isnan(v) and v > 0}


def cap_exceeded(ctx: DrillContext, cap: Cap, injected: float) -> str | None:
    """Why the blast-radius cap is exceeded since the injection, or None."""
    if cap.payments_affected is None and cap.duplicate_minor is None:
        return None
    breaks, _ = ledger_breaks(ctx, injected)
    outcomes = ctx.load.snapshot() if ctx.load else []
    affected = money.affected_payments(outcomes, injected, None, breaks or ())
    duplicates = money.duplicate_amounts(breaks) if breaks is not None else prom_duplicates(ctx, ctx.clock() - injected)
    return money.cap_exceeded(len(affected), duplicates, cap.payments_affected, cap.duplicate_minor, ctx.catalog.money)


def money_impact(ctx: DrillContext, outcomes: list[PaymentOutcome], injected: float | None, cleared: float | None,
                 window_end: float | None) -> tuple[MoneyImpact, list[str]]:
    """The drill's money impact, and a line per acknowledged write lost. A check that cannot run (no query in
    the catalog, a query the database refuses) is "not checked" with its reason, never a loss."""
    settle = 5.0 * ctx.scale  # the window runs a little past the clear: payments in flight then still count
    end = (cleared or window_end or ctx.clock()) + settle if injected is not None else None
    breaks, breaks_unchecked = ledger_breaks(ctx, ctx.started_at)
    affected = money.affected_payments(outcomes, injected, end, breaks or ())
    refused = money.refused_payments(outcomes, injected, end)
    duplicates = (money.duplicate_amounts(breaks) if breaks is not None
                  else prom_duplicates(ctx, ctx.clock() - ctx.started_at))
    unreconciled = money.unreconciled_amounts(breaks) if breaks is not None else None  # only the database knows
    api = ctx.drill.load.requests if ctx.drill.load else None
    acked, acked_captures = money.acknowledged(outcomes, api.approved if api is not None else None)
    lost: list[str] | None
    lost_unchecked = ""
    if ctx.db is not None and ctx.db.declares("payments"):
        try:
            stored, booked = ctx.db.stored(acked)
            lost = money.writes_lost(acked, acked_captures, stored, booked)
        except money.NotChecked as exc:
            lost, lost_unchecked = None, str(exc)
    else:
        lost, lost_unchecked = _lost_via_api(ctx, acked, acked_captures)
        if lost is None and not lost_unchecked:
            lost_unchecked = ("no --db-url, and the drill's requests have no read call" if ctx.db is None else
                              "the catalog declares no money_checks.payments query, and the drill's requests have no "
                              "read call")
    not_checked = {k: v for k, v in (("unreconciled", breaks_unchecked), ("writes_lost", lost_unchecked)) if v}
    impact = MoneyImpact(payments_affected=len(affected), duplicate_amount_minor=duplicates,
                         unreconciled_minor=unreconciled, writes_lost=None if lost is None else len(lost),
                         acknowledged_payments=len(acked), acknowledged_captures=len(acked_captures),
                         payments_refused=len(refused), not_checked=not_checked)
    unreconciled_text = (f"not checked ({breaks_unchecked})" if unreconciled is None
                         else money.amounts_text(unreconciled, ctx.catalog.money))
    lost_text = f"not checked ({lost_unchecked})" if lost is None else f"{len(lost)}"
    refused_text = f" ({len(refused)} refused by the service, never acknowledged)" if refused else ""
    ctx.event("note", f"money: {len(affected)} payment(s) affected{refused_text}, duplicates "
                      f"{money.amounts_text(duplicates, ctx.catalog.money, 'none reported')}, unreconciled "
                      f"{unreconciled_text}, "
                      f"writes lost {lost_text} of {len(acked)} acknowledged")
    return impact, lost or []


def _lost_via_api(ctx: DrillContext, acked: set[str], acked_captures: set[str]) -> tuple[list[str] | None, str]:
    """Acknowledged writes the team's API no longer knows, read back with the template's read call: (lines, "");
    (None, "") when the template has none, (None, why) when a payment could not be read back (an error or an
    answer neither 200 nor 404 is no evidence either way: not measured)."""
    api = ctx.drill.load.requests if ctx.drill.load else None
    if api is None or api.read is None:
        return None, ""
    lost, unread = [], []
    for pid in sorted(acked):
        args = baseline_load.request_args(api.read, {"payment_id": pid})
        url = f"{ctx.target.service.rstrip('/')}{args.pop('url')}"
        args["headers"] = ctx.api_headers() | args["headers"]
        try:
            r = ctx.http.request(url=url, **args)
        except httpx.HTTPError as exc:
            unread.append(f"payment {pid}: {type(exc).__name__}")
            continue
        if r.status_code == 404:
            lost.append(f"payment {pid} acknowledged, not found")
        elif r.status_code != 200:
            unread.append(f"payment {pid}: HTTP {r.status_code}")
        elif pid in acked_captures and api.captured:
            state = baseline_load.dig(_json(r), api.read.outcome) if api.read.outcome else None
            if str(state) not in api.captured:
                lost.append(f"capture of {pid} acknowledged, payment is {state}")
    if unread and not lost:
        return None, f"{len(unread)} of {len(acked)} acknowledged payments could not be read back, e.g. {unread[0]}"
    return lost, ""


def _json(r: httpx.Response):
    try:
        return r.json()
    except ValueError:
        return None


def ledger_objective(ctx: DrillContext, impact: MoneyImpact, lost_lines: list[str],
                     outcomes: list[PaymentOutcome] | None = None) -> None:
    """The money objective: `ledger_balanced` while the catalog has the ledger feature, else `money_kept`.
    Each check passes, fails, or is not measured (its query absent, the database refusing it, nothing to judge),
    never a pass on nothing: acknowledged payments stored (writes lost), captured once and refunds within the
    capture on the team's own tables (on the captures the load asked for, or, when the target captures by itself
    — `load.capture: 0` — on every payment it acknowledged), the duplicates figure's detector seen running, and the
    ledger's balance (database and gauge). A check the drill names in `if_not_measured: {<check>: pass}` is
    skipped when it measured nothing (shown, never a pass); the objective passes only on a check that passed."""
    api = ctx.drill.load.requests if ctx.drill.load else None
    acked, acked_captures = money.acknowledged(outcomes or [], api.approved if api is not None else None)
    checks: list[Check] = []
    if impact.writes_lost is None:
        checks.append(_check("stored", None, "acknowledged writes: " + money.NOT_MEASURED_PREFIX +
                             impact.not_checked.get("writes_lost", "no way to read them")))
    elif lost_lines:
        checks.append(_check("stored", False, f"{len(lost_lines)} acknowledged write(s) lost, e.g. {lost_lines[0]}"))
    elif not impact.acknowledged_payments:
        checks.append(_check("stored", None, "not measured: the service acknowledged no payment"))
    else:
        checks.append(_check("stored", True, f"all {impact.acknowledged_payments} acknowledged payments and "
                                             f"{impact.acknowledged_captures} captures are stored"))
    checks += capture_checks(ctx, acked, acked_captures)
    checks.append(duplicates_check(ctx, impact, checks))
    if checks[-1].outcome is NOT_MEASURED:  # the money line's figure too: "none" read from nothing is not a figure
        impact.not_checked["duplicates"] = "no duplicates reported, detector not seen running"
    if ctx.catalog.enabled("ledger"):
        checks += _balance_checks(ctx)
    skip = getattr(ctx.drill, "if_not_measured", {}) or {}
    checks = [skipping(expected(ctx, c), skip) for c in checks]
    verdict = Verdict(tuple(checks))
    lines = [c.why for c in checks]
    if impact.payments_refused:  # a fact, not evidence: shown, never judged (it passes or fails nothing)
        lines.append(f"{impact.payments_refused} payment(s) refused (429/503 + Retry-After), never acknowledged: "
                     "not lost")
    name = "ledger_balanced" if ctx.catalog.enabled("ledger") else "money_kept"
    if verdict.outcome is FAIL:
        ctx.objective(name, FAIL, "; ".join(c.why for c in verdict.of(FAIL)))
    else:
        ctx.objective(name, verdict.outcome, "; ".join(lines) or "not measured: no money check ran")


register("drills.money_objective", ledger_objective)

# the objective's checks a drill's `money_expect:` may name (each check is named as the drill names it)
_EXPECT_NAMES = ("stored", "captured_once", "refunds_within_captures", "duplicates")


def _check(name: str, ok: bool | None, why: str) -> Check:
    return Check(name=name, outcome=Outcome.of(ok), why=why)


def skipping(check: Check, policy: dict) -> Check:
    """The check as the drill's `if_not_measured: {captured_once: pass}` has it: measuring nothing, it is skipped
    (shown, never a pass), and its line says so."""
    if policy.get(check.name) != IfNotMeasured.PASS:
        return check
    why = check.why + " (skipped: if_not_measured)" if check.outcome is NOT_MEASURED else check.why
    return replace(check, why=why, if_not_measured=IfNotMeasured.PASS)


def capture_checks(ctx: DrillContext, acked: set[str], acked_captures: set[str]) -> list[Check]:
    """captured once and refunds within captures, each on the team's own tables (`money_checks.capture_counts`,
    `.refunds`): on the captures the load acknowledged, or — the target capturing by itself (`load.capture: 0`) —
    on every payment it acknowledged, where 0 captures is no failure. Not measured without --db-url, without the
    query, or when the answer holds none of them."""
    load = getattr(ctx.drill, "load", None)
    auto = load is None or getattr(load, "capture", 0) == 0
    subjects = acked if auto else acked_captures
    out: list[Check] = []
    for query, check, label in (("capture_counts", "captured_once", "captured once"),
                                ("refunds", "refunds_within_captures", "refunds within captures")):
        if ctx.db is None:
            out.append(_check(check, None, f"{label}: not measured: no --db-url"))
            continue
        try:
            rows = ctx.db.for_ids(query, subjects) if subjects else []
            if query == "capture_counts":
                out.append(money.captured_once(rows, subjects, auto))
            else:
                out.append(money.refunds_within_captures(rows, ctx.catalog.money))
        except money.NotChecked as exc:
            out.append(_check(check, None, f"{label}: not measured: {exc}"))
    return out


def duplicates_check(ctx: DrillContext, impact: MoneyImpact, checks: list[Check]) -> Check:
    """No money charged twice during the drill (a drill whose fault charges twice says `money_expect: {duplicates:
    fail}`), read from the reconciliation breaks on the database, or from the service's duplicate detector seen
    running during the drill (its heartbeat advanced, its counter increased, or captured once
    read the provider's records). A counter the library creates at 0 and nothing else is "no duplicates reported,
    detector not seen running": not measured, never "none"."""
    shown = money.amounts_text(impact.duplicate_amount_minor, ctx.catalog.money)
    if "unreconciled" not in impact.not_checked and impact.unreconciled_minor is not None:
        source = "reconciliation breaks, money_checks.breaks"
    elif not_data := ctx.counters_not_data():  # the service's counters go backwards: its increases are no figure
        return _check("duplicates", None, f"duplicates: not measured: {not_data}")
    elif impact.duplicate_amount_minor:
        source = "reported by the service's duplicate detector"
    else:
        source, unseen = _detector_seen(ctx)
        if source is None and any(c.name == "captured_once" and c.outcome is not NOT_MEASURED for c in checks):
            source = "captured once read the provider's records"
        if source is None:
            return _check("duplicates", None, "duplicates: not measured: no duplicates reported, detector not seen "
                                              f"running ({unseen}; no capture_counts check measured)")
    if impact.duplicate_amount_minor:
        return _check("duplicates", False, f"money charged twice: {shown} ({source})")
    return _check("duplicates", True, f"duplicates none ({source})")


def _detector_seen(ctx: DrillContext) -> tuple[str | None, str]:
    """How the service showed its duplicate detector running during the drill, or (None, why not): its heartbeat
    advanced since the drill's start (moneypath.check.detector_runs), or the duplicate counter increased."""
    check = detector_check(ctx, Key.DUPLICATE_CHARGES_TOTAL)
    if check is not None and check.ok:
        return check.why, ""
    if ctx.catalog.has(Key.DUPLICATE_CHARGES_TOTAL):
        window = format_duration(max(ctx.clock() - ctx.started_at, 1))
        try:
            series = ctx.prom.query(f"sum(increase({ctx.catalog.metric(Key.DUPLICATE_CHARGES_TOTAL)}[{window}]))")
        except TargetError:
            series = []
        if any(not math.isnan(v) and v > 0 for _, v in series):
            return "the duplicate counter increased", ""
    return None, check.figures["detail"] if check is not None else "no detector declared"


def detector_check(ctx: DrillContext, key: str) -> Check | None:
    """Whether the detector a signal's zero rests on ran since the drill's start (None: the signal has none)."""
    detector = detector_of(ctx.catalog, key)
    if detector is None:
        return None

    def instant(query: str, at: float) -> list[dict]:
        return [{"metric": labels, "value": [at, v]} for labels, v in ctx.prom.query(query)]

    return seen_running(ctx.catalog, instant, detector, ctx.started_at, ctx.clock(), errors=(TargetError,))


def expected(ctx: DrillContext, check: Check) -> Check:
    """A check the drill expects to fail (`money_expect: {captured_once: fail}`: its fault takes money) passes
    when it fails and fails when it passes; not measured stays not measured."""
    name = check.name
    if (name not in _EXPECT_NAMES or getattr(ctx.drill, "money_expect", {}).get(name, "pass") == "pass"
            or check.outcome is NOT_MEASURED):
        return check
    if check.ok:
        return replace(check, outcome=FAIL, why=f"{name} was expected to fail (money_expect) and passed: {check.why}")
    return replace(check, outcome=PASS, why=f"{name} failed as the drill expects (money_expect): {check.why}")


def _balance_checks(ctx: DrillContext) -> list[Check]:
    """The ledger's balance: postings per currency on the database (money_checks.balance) and the service's
    imbalance gauge in Prometheus; each not measured when it returns nothing."""
    out: list[Check] = []
    if ctx.db is not None:
        try:
            out.append(money.balanced(ctx.db.imbalance(), ctx.catalog.money))
        except money.NotChecked as exc:
            out.append(_check("balance", None, f"balance on the database: not measured: {exc}"))
    gauge = ctx.catalog.metric(Key.LEDGER_IMBALANCE_MINOR)
    try:
        series = ctx.prom.query(f"max by (currency) (abs({gauge}))")
    except TargetError as exc:
        series, error = None, str(exc)
    if series is None:
        out.append(_check("gauge", None, f"{gauge}: not measured: {error}"))
    elif not series:
        out.append(_check("gauge", None, f"{gauge}: not measured: Prometheus has no such series"))
    else:
        off = {s.get("currency", "?"): v for s, v in series if v != 0}
        seen = None if off else detector_check(ctx, Key.LEDGER_IMBALANCE_MINOR)  # a 0 its check never computed
        if seen is not None and not seen.ok:
            out.append(_check("gauge", None, f"{gauge} is 0: not measured: detector not seen running "
                                             f"({seen.figures['detail']})"))
            return out
        out.append(_check("gauge", not off, f"{gauge} is not 0: {money.amounts_text(off, ctx.catalog.money)}" if off
                          else f"{gauge} is 0 in {', '.join(sorted(s.get('currency', '?') for s, _ in series))}"))
    return out
