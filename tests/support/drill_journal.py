"""A drill journal that passed (duplicate-charge, with its timeline, objectives and series), as journal.json has
it, for the report tests; and a provider outage's, whose pages read edges of the reference catalog's map."""

from __future__ import annotations

from datetime import UTC, datetime

T0 = datetime(2026, 3, 14, 9, 0, 0, tzinfo=UTC).timestamp()  # drill start
INJECT = T0 + 30
PAGE = INJECT + 42
CLEAR = INJECT + 120
RESOLVED = INJECT + 185


def points(start: float, end: float, f) -> list[list[float]]:
    return [[t, f(t)] for t in range(int(start), int(end), 2)]


def passing_journal() -> dict:
    return {
        "schema": 1,
        "drill": "duplicate-charge",
        "file": "runbooks/drills/duplicate-charge.yaml",
        "title": "A customer is charged twice",
        "runbook": "runbooks/moneypathduplicatechargedetected.md",
        "narrative": "Friday 17:40. Support forwards three customers who see two debits for one order.",
        "target": {"service": "http://127.0.0.1:41001", "providersim": "http://127.0.0.1:41002",
                   "prometheus": "http://127.0.0.1:41003", "alertmanager": "http://127.0.0.1:41004",
                   "pager": "http://127.0.0.1:41005", "started_stack": True},
        "started_at": T0, "finished_at": T0 + 260,
        "fault": {"where": "providersim", "name": "duplicate_capture", "params": {"rate": 0.2}, "target": "acme",
                  "injected_at": INJECT, "cleared_at": CLEAR, "halted": None},
        "classification_at": PAGE,
        "timeline": [
            {"t": T0, "kind": "phase", "text": "steady state checks"},
            {"t": T0 + 5, "kind": "load", "text": "baseline load 20 payments/s"},
            {"t": INJECT, "kind": "fault", "text": "duplicate_capture injected on acme"},
            {"t": INJECT + 35, "kind": "alert_firing", "text": "MoneyPathDuplicateChargeDetected firing"},
            {"t": PAGE, "kind": "page", "text": "payments-oncall, compliance paged"},
            {"t": INJECT + 60, "kind": "diagnosis", "text": "runbook diagnosis: 5/5 steps found the evidence"},
            {"t": CLEAR, "kind": "mitigation", "text": "fault cleared"},
            {"t": RESOLVED, "kind": "resolved", "text": "MoneyPathDuplicateChargeDetected resolved"},
        ],
        "objectives": [
            {"name": "steady_state_before", "ok": True, "reason": "no alert firing, error ratio 0"},
            {"name": "detected", "ok": True, "reason": "MoneyPathDuplicateChargeDetected paged after 42 s (deadline 120 s)"},
            {"name": "diagnosed", "ok": True, "reason": "5 of 5 runbook steps returned the expected evidence"},
            {"name": "mitigated", "ok": True, "reason": "fault cleared"},
            {"name": "recovered", "ok": True, "reason": "alert resolved 65 s after mitigation (deadline 300 s)"},
            {"name": "no_unexpected_pages", "ok": True, "reason": "only expected pages"},
            {"name": "ledger_balanced", "ok": True, "reason": "postings sum to 0 in every currency"},
        ],
        "timings": {"detect_s": 35.0, "page_s": 42.0, "diagnose_s": 60.0, "recover_s": 185.0},
        "money": {"payments_affected": 17, "duplicate_amount_minor": {"EUR": 84150}, "unreconciled_minor": {"EUR": 0},
                  "writes_lost": 0},
        "alerts": [
            {"alert": "MoneyPathDuplicateChargeDetected", "expectation": "expected", "deadline_s": 120.0,
             "first_firing_at": INJECT + 35, "paged_at": PAGE, "resolved_at": RESOLVED,
             "receivers": ["payments-oncall", "compliance"], "ok": True, "reason": "paged within 42 s"},
            {"alert": "MoneyPathAuthorizationAvailabilityBudgetBurn", "expectation": "must_not_page",
             "deadline_s": None, "first_firing_at": None, "paged_at": None, "resolved_at": None,
             "receivers": [], "ok": True, "reason": "did not page"},
        ],
        "evidence": [
            {"step": "duplicate charges per provider, last hour", "kind": "promql",
             "query": "sum by (provider) (increase(moneypath_duplicate_charges_total[1h]))",
             "expect": "> 0 for acme", "result": "acme=17, globex=0", "ok": True, "at": INJECT + 58},
            {"step": "did WE book a capture twice?", "kind": "sql",
             "query": "SELECT payment_id, COUNT(*) FROM ledger_transactions GROUP BY payment_id HAVING COUNT(*) > 1",
             "expect": "empty", "result": "0 rows", "ok": True, "at": INJECT + 59},
        ],
        "roles": [
            {"role": "engineering", "checkpoint": "T+15m: say where the second charge comes from", "due_s": 900.0,
             "answered_by": None, "answer": None, "answered_at": None, "ok": None},
            {"role": "compliance", "checkpoint": "T+60m: classify (DORA major incident or not)", "due_s": 3600.0,
             "answered_by": None, "answer": None, "answered_at": None, "ok": None},
        ],
        "regulatory": [
            {"regime": "DORA initial notification", "basis": "4 h from classification", "due_at": PAGE + 4 * 3600,
             "applies": "if classified as a major ICT-related incident"},
            {"regime": "PCI DSS incident response", "basis": "no fixed deadline", "due_at": None,
             "applies": "if card data may be compromised"},
        ],
        "series": {
            "Duplicate charges": {"query": "sum(rate(moneypath_duplicate_charges_total[1m]))", "unit": "short",
                                  "points": {"acme": points(T0, T0 + 260,
                                                             lambda t: 0.2 if INJECT + 20 < t < CLEAR + 30 else 0.0)}},
            "Authorizations per second": {"query": "sum by (outcome) (rate(moneypath_authorizations_total[1m]))",
                                          "unit": "reqps",
                                          "points": {"approved": points(T0, T0 + 260, lambda t: 19.0),
                                                     "declined": points(T0, T0 + 260, lambda t: 1.0)}},
        },
        "verdict": "pass",
    }


def outage_journal() -> dict:
    """globex answers errors: ProviderPartialOutage pages (expected), the availability budget burn pages too
    (allowed), the ledger alert never pages."""
    j = passing_journal()
    j.update(drill="provider-partial-outage", file="runbooks/drills/provider-partial-outage.yaml")
    j["fault"].update(where="providersim", name="error_rate", target="globex", params={"rate": 0.3})
    j["alerts"] = [
        {"alert": "MoneyPathProviderPartialOutage", "labels": {"provider": "globex"}, "expectation": "expected",
         "deadline_s": 30.0, "first_firing_at": INJECT + 20, "paged_at": PAGE, "resolved_at": RESOLVED,
         "receivers": ["payments-oncall"], "ok": True, "reason": "paged"},
        {"alert": "MoneyPathAuthorizationAvailabilityBudgetBurn", "expectation": "allowed", "deadline_s": None,
         "first_firing_at": INJECT + 30, "paged_at": PAGE + 5, "resolved_at": RESOLVED,
         "receivers": ["payments-oncall"], "ok": True, "reason": "allowed"},
        {"alert": "MoneyPathLedgerWriteFailures", "expectation": "must_not_page", "deadline_s": None,
         "first_firing_at": None, "paged_at": None, "resolved_at": None, "receivers": [], "ok": True,
         "reason": "did not page"},
    ]
    return j
