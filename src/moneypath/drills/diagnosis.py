"""The diagnosis: the runbook's diagnosis steps the drill names (PromQL on Prometheus, SQL read-only on the
ledger database), run again and again until every one returns the evidence the drill expects, or the
diagnosis deadline (counted from the first expected page, else from when the diagnosis starts).
"""

from __future__ import annotations

from decimal import Decimal

from moneypath._common.verdict import PASS, Check, IfNotMeasured, Outcome, Verdict, register
from moneypath.check.counter_resets import reads_rates
from moneypath.drills.context import DrillContext
from moneypath.drills.journal import EvidenceStep
from moneypath.drills.money import Money, reads_money
from moneypath.formats.drill import StepSpec
from moneypath.formats.expect import Expect, check_all, describe_all


class Diagnosis:
    def __init__(self, ctx: DrillContext):
        self.ctx = ctx
        self.steps: list[EvidenceStep] = []  # each step as last run, in the drill's order
        self.diagnosed_at: float | None = None  # when every step had its evidence

    def run_step(self, step_name: str, expects: list[Expect]) -> EvidenceStep:
        step = self.ctx.drill.runbook_steps[step_name]
        kind = "promql" if step.get("promql") else "sql"
        query = step.get("promql") or step.get("sql")
        entry = EvidenceStep(step=step_name, kind=kind, query=query, at=self.ctx.clock(), result="", ok=False,
                             expect=f"{step.get('expect')} — checked: {describe_all(expects)}")
        if kind == "promql" and reads_rates(query) and (why := self.ctx.counters_not_data()):
            entry.ok, entry.result = None, f"not measured: {why}"  # rates that are not the run's: no evidence
            return entry
        try:
            if kind == "promql":
                # the runbook's production ranges on this target's clock, since the drill began: never an earlier incident
                window = self.ctx.confine(query, runbook=True, since=self.ctx.started_at)
                entry.window = window.why
                if not window.confined:
                    entry.ok, entry.result = None, f"not measured: {window.why}"
                    return entry
                entry.query = window.expr
                items = self.ctx.prom.query(window.expr)
                entry.result = _render_series(items, self.ctx.catalog.money if reads_money(self.ctx.catalog, query)
                                              else None)
            elif self.ctx.db is None:
                entry.ok, entry.result = None, "not measured: not run, no database (--db-url)"
                return entry
            else:
                items = self.ctx.db.rows(query)
                entry.result = _render_rows(items, self.ctx.catalog.money)
        except Exception as exc:  # noqa: BLE001 - a failing query is evidence not found, with its reason
            entry.ok, entry.result = None, f"not measured: error: {' '.join(str(exc).split())[:200]}"
            return entry
        entry.ok, entry.reason = check_all(expects, items)
        return entry

    def run(self, first_page: float | None) -> None:
        """Run the steps until all hold or the deadline; the "diagnosed" objective. A drill that expects a page
        diagnoses from it: when none came, evidence read at the deadline diagnosed nothing (not measured)."""
        ctx = self.ctx
        steps = ctx.drill.diagnosis.steps
        base = first_page if first_page is not None else ctx.clock()
        deadline = base + ctx.s(ctx.drill.diagnosis.within)
        latest: dict[str, EvidenceStep] = {}
        ctx.event("phase", f"diagnosis: {len(steps)} step(s) of {ctx.drill.runbook_page}")
        while True:
            for step in steps:
                if step.step in latest and latest[step.step].ok:
                    continue  # evidence found stays found
                entry = self.run_step(step.step, step.expect)
                before = latest.get(step.step)
                latest[step.step] = entry
                if before is None or entry.ok:
                    on = f" (window: {entry.window})" if entry.window and entry.ok is not None else ""
                    ctx.event("diagnosis", f"{'evidence' if entry.ok else 'no evidence yet'}: {step.step} → "
                                           f"{entry.result[:120]}{on}", {"ok": entry.ok, "window": entry.window})
            if all(_done(e, s) for e, s in zip((latest[s.step] for s in steps), steps)):
                self.diagnosed_at = ctx.clock()
                break
            if ctx.clock() >= deadline:
                break
            ctx.sleep_ticking(min(2.0, max(0.1, deadline - ctx.clock())))
        self.steps = [latest[s.step] for s in steps]
        missing = [e for e, s in zip(self.steps, steps) if not _done(e, s)]
        if first_page is None and ctx.drill.alerts.expected:  # nobody was paged: there was nobody to diagnose
            found = len(steps) - len(missing)
            ctx.objective("diagnosed", None, f"not measured: no expected page came, so the runbook's {len(steps)} "
                                             f"step(s) were read without one ({found} returned the evidence); "
                                             "diagnosis is judged from a page")
            return
        outcome = Verdict(tuple(Check(name=s.step, outcome=Outcome.of(e.ok), if_not_measured=s.if_not_measured)
                                for e, s in zip(self.steps, steps))).outcome
        if outcome is not PASS and missing:
            e = next((e for e in missing if e.ok is False), missing[0])
            ctx.objective("diagnosed", outcome,
                          f"{len(missing)} of {len(steps)} runbook step(s) found no evidence by the deadline "
                          f"({ctx.s(ctx.drill.diagnosis.within):.0f} s); first: {e.step!r}: {e.reason or e.result}")
        elif outcome is not PASS:  # every step skipped (if_not_measured: pass): nothing is evidence
            ctx.objective("diagnosed", None, f"not measured: none of the {len(steps)} runbook step(s) returned "
                                             f"evidence (each skipped: if_not_measured: pass); first: "
                                             f"{self.steps[0].step!r}: {self.steps[0].result}")
        else:
            ctx.objective("diagnosed", True, f"all {len(steps)} runbook step(s) returned the expected evidence "
                                             f"{self.diagnosed_at - base:.0f} s after "
                                             f"{'the page' if first_page else 'the diagnosis started'}")


def _done(entry: EvidenceStep, step: StepSpec) -> bool:
    """The step has its evidence, or measured nothing and says `if_not_measured: pass` (skipped)."""
    return bool(entry.ok) or entry.ok is None and step.if_not_measured == IfNotMeasured.PASS


register("drills.diagnosis_step", Diagnosis.run_step)


def _render_series(series: list[tuple[dict, float]], money: Money | None = None, limit: int = 240) -> str:
    """Series as `{labels} value`; a money query's values (minor units) also read in their currency:
    `{currency="KWD"} 6235 (KWD 6.235)`."""
    if not series:
        return "(empty)"
    parts = []
    for labels, value in series:
        text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
        shown = f"{value:.4g}" if money is None else f"{value:.10g}"
        if money is not None and labels.get("currency") and value == value and abs(value) != float("inf"):
            shown += f" ({money(value, labels['currency'])})"
        parts.append(f"{{{text}}} {shown}" if text else shown)
    out = "; ".join(parts)
    return out if len(out) <= limit else out[:limit - 1] + "…"


def _render_rows(rows: list[dict], money: Money | None = None, limit: int = 240) -> str:
    """Rows as `k=v`; with `money`, a `*_minor` column of a row that has a currency also reads in it:
    `amount_minor=6235 (KWD 6.235)`."""
    if not rows:
        return "0 rows"

    def cell(row: dict, k: str, v) -> str:
        if money is not None and k.endswith("_minor") and isinstance(v, int | float | Decimal) \
                and not isinstance(v, bool) and row.get("currency"):
            return f"{k}={v} ({money(v, str(row['currency']))})"
        return f"{k}={v}"

    first = "; ".join(", ".join(cell(row, k, v) for k, v in row.items()) for row in rows[:3])
    out = f"{len(rows)} row(s): {first}" + (" …" if len(rows) > 3 else "")
    return out if len(out) <= limit else out[:limit - 1] + "…"
