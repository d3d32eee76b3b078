"""What the fault costs in money (moneypath.drills.impact): the note and the ledger objective."""

from __future__ import annotations

from tests.support.drill_fakes import MoneyCtx


def test_the_money_impact_note_and_the_ledger_objective_say_money_in_its_currency(foreign):
    from moneypath.drills import impact

    duplicates, imbalance = foreign.metric("duplicate_charged_minor_total"), foreign.metric("ledger_imbalance_minor")

    def answer(expr):
        if duplicates in expr:
            return [({"currency": "JPY"}, 6235.0), ({"currency": "KWD"}, 6235.0)]
        if imbalance in expr:
            return [({"currency": "KWD"}, 6235.0)]
        return []

    ctx = MoneyCtx(foreign, answer)
    result, lost = impact.money_impact(ctx, [], 1010.0, 1050.0, None)
    assert result.duplicate_amount_minor == {"JPY": 6235, "KWD": 6235}  # the journal keeps integer minor units
    assert ctx.timeline == ["money: 0 payment(s) affected, duplicates JPY 6,235, KWD 6.235, unreconciled not "
                            "checked (no --db-url), writes lost not checked (no --db-url, and the drill's requests "
                            "have no read call) of 0 acknowledged"]
    impact.ledger_objective(ctx, result, lost)
    (objective,) = ctx.objectives
    assert not objective.ok and objective.reason == ("money charged twice: JPY 6,235, KWD 6.235 (reported by the "
                                                     f"service's duplicate detector); {imbalance} is not 0: KWD 6.235")
    ctx.http.close()
