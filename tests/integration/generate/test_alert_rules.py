"""The generated rules, evaluated by Prometheus' own promtool: every alert fires on the
input it exists for (with the labels and text on-call will read) and stays quiet on
healthy input; SLO pages detect a full outage and a 10 % error rate in the time the
SRE Workbook's burn-rate math predicts."""

from __future__ import annotations

import pytest

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import INCIDENT_METRICS
from tests.conftest import ROOT
from tests.support.promtool_rules import (
    case,
    detection_seconds,
    promtool,
)


def stale_description(seq: int, wait: str = "15m") -> str:
    return (f"The newest signed checkpoint of the audit trail covers seq {seq}, but events appended more than {wait} ago "
            "lie beyond it: the service stopped signing (checkpoint directory unwritable or full, or a checkpoint "
            "there that contradicts the chain; see its log). Until it signs again, the newest events can be "
            "rewritten without `moneypath audit verify --checkpoints` noticing.")


HEALTHY_LAST_SUCCESS = ("reconciliation_last_success_timestamp_seconds{provider=\"globex\"}", "0+15x80")


def due_description(report: str, incident: str, left: str, before: str = "1h") -> str:
    return (f"The DORA {report} report of incident {incident} is due in {left} (negative: overdue; ticket from "
            f"{before} before). Submit it, or tell the competent authority before the deadline why it will be late "
            "(RTS 2025/301 Art. 5); then `moneypath incident clock report`.")


def business_cases(c):
    """(alert key, firing test, healthy test) — input in catalog terms, expectations as on-call reads them."""
    deadline = f"{c.namespace}_{INCIDENT_METRICS['deadline']}"
    return [
        ("LedgerImbalance",
         case(c, "LedgerImbalance", [('ledger_imbalance_minor{currency="EUR"}', "0x10 250x20")], "4m",
              {"currency": "EUR"}, "Ledger postings in EUR sum to 250 minor units instead of 0: money was created or "
              "destroyed. Stop writes that do not balance and find the entry."),
         case(c, "LedgerImbalance", [('ledger_imbalance_minor{currency="EUR"}', "0x30")], "4m", {}, "", fires=False)),
        ("LedgerWriteFailures",
         case(c, "LedgerWriteFailures", [('ledger_writes_total{outcome="committed"}', "0+60x40"),
                                         ('ledger_writes_total{outcome="failed"}', "0x10 0+3x30")], "10m", {},
              "4.762% of ledger writes failed over 5 minutes (threshold 1%). Payments may be approved at the provider "
              "but not booked."),
         case(c, "LedgerWriteFailures", [('ledger_writes_total{outcome="committed"}', "0+60x40"),
                                         ('ledger_writes_total{outcome="failed"}', "0x40")], "10m", {}, "",
              fires=False)),
        ("DuplicateChargeDetected",
         case(c, "DuplicateChargeDetected", [('duplicate_charges_total{provider="acme"}', "0x10 1x20")], "5m",
              {"provider": "acme"}, "1 duplicate charge(s) at acme in the last 10 minutes. Customers were charged "
              "twice; refund and notify."),
         case(c, "DuplicateChargeDetected", [('duplicate_charges_total{provider="acme"}', "0x30")], "5m", {}, "",
              fires=False)),
        ("ReconciliationLagHigh",
         case(c, "ReconciliationLagHigh", [('reconciliation_oldest_unreconciled_seconds{provider="globex"}',
                                            "100x10 1000x70"), HEALTHY_LAST_SUCCESS], "15m",
              {"provider": "globex"}, "Reconciliation with globex is 16m 40s behind (threshold 900 s): settlement "
              "drift would go unnoticed."),
         case(c, "ReconciliationLagHigh", [('reconciliation_oldest_unreconciled_seconds{provider="globex"}', "100x80"),
                                           HEALTHY_LAST_SUCCESS], "15m", {}, "", fires=False)),
        ("SettlementMismatch",
         case(c, "SettlementMismatch", [('reconciliation_mismatches_total{provider="acme",mismatch_kind="amount_differs"}',
                                         "0x10 2x20")], "5m", {"provider": "acme", "mismatch_kind": "amount_differs"},
              "2 settlement mismatch(es) of kind amount_differs with acme in the last 15 minutes."),
         case(c, "SettlementMismatch", [('reconciliation_mismatches_total{provider="acme",mismatch_kind="duplicate"}',
                                         "0x30")], "5m", {}, "", fires=False)),
        ("DeadLettersGrowing",
         case(c, "DeadLettersGrowing", [('dead_letters_total{queue="notifications"}', "0+1x60")], "12m",
              {"queue": "notifications"}, "40 message(s) dead-lettered on notifications in 10 minutes; notifications "
              "or compliance records are not being delivered."),
         case(c, "DeadLettersGrowing", [('dead_letters_total{queue="notifications"}', "5x60")], "12m", {}, "",
              fires=False)),
        ("ProviderPartialOutage",
         case(c, "ProviderPartialOutage", [
             ('provider_requests_total{provider="acme",operation="authorize",outcome="success"}', "0+100x60"),
             ('provider_requests_total{provider="acme",operation="authorize",outcome="error"}', "0x20 0+10x40")],
             "12m", {"provider": "acme", "reason": "error_ratio"}, "9.091% of calls to acme failed, timed out or were "
             "refused by the circuit breaker over 5 minutes (threshold 5%). Payments routed there are failing."),
         case(c, "ProviderPartialOutage", [
             ('provider_requests_total{provider="acme",operation="authorize",outcome="success"}', "0+100x60"),
             ('provider_requests_total{provider="acme",operation="authorize",outcome="error"}', "0+1x60"),
             ('provider_circuit_state{provider="acme"}', "0x60")], "12m", {}, "", fires=False)),
        ("ProviderPartialOutage",
         case(c, "ProviderPartialOutage", [('provider_circuit_state{provider="globex"}', "0x10 2x40")], "10m",
              {"provider": "globex", "reason": "circuit_open"},
              "The circuit breaker for globex is not closed: calls are refused or on trial."),
         case(c, "ProviderPartialOutage", [('provider_circuit_state{provider="globex"}', "0x60")], "10m", {}, "",
              fires=False)),
        ("ApprovalRateDrop",
         case(c, "ApprovalRateDrop", [
             ('authorizations_total{provider="acme",method="card",outcome="approved"}', "0+95x240 22845+45x59"),
             ('authorizations_total{provider="acme",method="card",outcome="declined"}', "0+5x240 1255+55x59")],
             "270m", {"provider": "acme", "method": "card"},
             "acme (card) approved 45% of the payments it answered over 30m, more than 20% below its share over the "
             "last 1d (at least 50 answers). Declines count as answers, so the availability SLO does not see this: "
             "customers are being turned away.", interval="1m"),
         case(c, "ApprovalRateDrop", [
             ('authorizations_total{provider="acme",method="card",outcome="approved"}', "0+95x300"),
             ('authorizations_total{provider="acme",method="card",outcome="declined"}', "0+5x300")], "270m", {}, "",
             interval="1m", fires=False)),
        ("FraudSpike",
         case(c, "FraudSpike", [('fraud_decisions_total{decision="approve"}', "0+99x300"),
                                ('fraud_decisions_total{decision="decline"}', "0+1x240 260+20x60")], "270m", {},
              "Fraud declines are 16.81% of decisions over 15 minutes, more than 3x their 1-day rate: an attack, "
              "or a broken risk model declining good customers.", interval="1m"),
         case(c, "FraudSpike", [('fraud_decisions_total{decision="approve"}', "0+99x300"),
                                ('fraud_decisions_total{decision="decline"}', "0+1x300")], "270m", {}, "",
              interval="1m", fires=False)),
        ("CostPerTransactionRegression",
         case(c, "CostPerTransactionRegression", [
             ('cost_usd_total{component="provider_fee",provider="acme"}', "0+1x120 123+3x60"),
             ('authorizations_total{provider="acme",method="card",outcome="approved"}', "0+100x180")], "180m", {},
             "Cost per authorization is $0.0300, more than 1.5x its 7-day average.", interval="1m"),
         case(c, "CostPerTransactionRegression", [
             ('cost_usd_total{component="provider_fee",provider="acme"}', "0+1x180"),
             ('authorizations_total{provider="acme",method="card",outcome="approved"}', "0+100x180")], "180m", {}, "",
             interval="1m", fires=False)),
        ("AuthorizationsSilent",
         case(c, "AuthorizationsSilent", [('authorizations_total{provider="acme",method="card",outcome="approved"}',
                                           "0+10x10 100x30")], "10m", {},
              "No authorizations recorded for 5 minutes, or the money path's metrics are missing: either nobody can "
              "pay, or we cannot see them paying."),
         case(c, "AuthorizationsSilent", [('authorizations_total{provider="acme",method="card",outcome="approved"}',
                                           "0+10x40")], "10m", {}, "", fires=False)),
        ("AuditChainBroken",
         case(c, "AuditChainBroken", [("audit_chain_broken", "0x10 1x10")], "4m", {},
              "The audit trail's hash chain no longer verifies: an event recording a change to a payment or payout "
              "was edited or deleted after it was written. Who changed what can no longer be proven; "
              "`moneypath audit verify` names the first broken event."),
         case(c, "AuditChainBroken", [("audit_chain_broken", "0x20")], "4m", {}, "", fires=False)),
        # A checkpoint stuck at 200 while the head grows 10 a minute: a ticket 15m + 5m after the head passed it.
        # Busy and healthy: the checkpoint trails the head by one interval (a minute here), never 15.
        ("AuditCheckpointStale",
         case(c, "AuditCheckpointStale", [("audit_head_seq", "100+10x40"), ("audit_checkpoint_seq", "100+10x10 200x30")],
              "35m", {}, stale_description(200), interval="1m"),
         case(c, "AuditCheckpointStale", [("audit_head_seq", "100+10x40"), ("audit_checkpoint_seq", "100 100+10x39")],
              "35m", {}, "", interval="1m", fires=False)),
        # Signing failed from the start (the gauge never left 0) fires too; an idle service (the head stopped, the
        # next checkpoint signed it) and a service without checkpoints (both gauges 0) never do.
        ("AuditCheckpointStale",
         case(c, "AuditCheckpointStale", [("audit_head_seq", "0+10x40"), ("audit_checkpoint_seq", "0x40")],
              "35m", {}, stale_description(0), interval="1m"),
         case(c, "AuditCheckpointStale", [("audit_head_seq", "0+10x5 50x35"), ("audit_checkpoint_seq", "0 0+10x5 50x34")],
              "35m", {}, "", interval="1m", fires=False)),
        ("AuditCheckpointStale", None,
         case(c, "AuditCheckpointStale", [("audit_head_seq", "0x40"), ("audit_checkpoint_seq", "0x40")],
              "35m", {}, "", interval="1m", fires=False)),
        ("LoadShedding",
         case(c, "LoadShedding", [('http_requests_total{route="/healthz",method="GET",status_class="2xx"}', "0+90x40"),
                                  ('http_requests_total{route="/healthz",method="GET",status_class="5xx"}', "0+10x40"),
                                  ('requests_shed_total{priority="normal"}', "0+10x40")], "10m", {},
              "10% of requests were refused over 5 minutes (threshold 5%): more demand than the service carries, "
              "or a release that costs more per request. Customers see 503 and retry; the SLOs do not count a "
              "refused payment."),
         case(c, "LoadShedding", [('http_requests_total{route="/healthz",method="GET",status_class="2xx"}', "0+98x40"),
                                  ('http_requests_total{route="/healthz",method="GET",status_class="5xx"}', "0+2x40"),
                                  ('requests_shed_total{priority="normal"}', "0+2x40")], "10m", {}, "",
              fires=False)),
        # the initial report due at t=7200 s: 50 minutes left at 70m (ticket from 1 h before), 90 at 30m
        ("IncidentReportDue",
         case(c, "IncidentReportDue", [(f'{deadline}{{incident="INC-1",report="initial"}}', "7200x80")], "70m",
              {"incident": "INC-1", "report": "initial"}, due_description("initial", "INC-1", "50m 0s"), interval="1m"),
         case(c, "IncidentReportDue", [(f'{deadline}{{incident="INC-1",report="initial"}}', "7200x80")], "30m", {}, "",
              interval="1m", fires=False)),
        ("AuthorizationsSilent",
         case(c, "AuthorizationsSilent", [('queue_depth{queue="notifications"}', "0x40")], "10m", {},
              "No authorizations recorded for 5 minutes, or the money path's metrics are missing: either nobody can "
              "pay, or we cannot see them paying."),
         None),
    ]


def test_every_business_alert_has_a_firing_and_a_quiet_case(catalog):
    covered = {key for key, _, _ in business_cases(catalog)}
    assert covered == set(catalog.alerts)


# One promtool run per alert: all of them in one took ~115 s on a loaded 2-core machine, near its timeout.
@pytest.mark.parametrize("key", sorted(load_catalog(ROOT / "moneypath.yaml").alerts))
def test_business_alerts_fire_on_their_input_and_stay_quiet_when_healthy(catalog, tmp_path, key):
    tests = [t for k, firing, healthy in business_cases(catalog) if k == key for t in (firing, healthy)
             if t is not None]
    result = promtool(tmp_path, tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_changed_threshold_changes_the_verdict(catalog, tmp_path):
    """The tests above can fail: a ledger failure ratio under the threshold must not page."""
    quiet = case(catalog, "LedgerWriteFailures", [('ledger_writes_total{outcome="committed"}', "0+1000x40"),
                                                  ('ledger_writes_total{outcome="failed"}', "0x10 0+3x30")],
                 "10m", {}, "", fires=False)
    loud = case(catalog, "LedgerWriteFailures", [('ledger_writes_total{outcome="committed"}', "0+1000x40"),
                                                 ('ledger_writes_total{outcome="failed"}', "0x10 0+3x30")],
                "10m", {}, "anything")
    assert promtool(tmp_path, [quiet]).returncode == 0
    assert promtool(tmp_path, [loud]).returncode != 0


def test_audit_checkpoint_stale_on_a_foreign_catalog(tmp_path):
    """The ticket shop with its audit trail and checkpoints on (threshold 600 s, for: 10m): its own metric names,
    alert name and wait; quiet while signing trails the head, firing once it stops."""
    from moneypath.generate.build import rules_yaml
    from moneypath.generate.rules import alert_rules, recording_rules
    from tests.support.shop_catalog import load, with_audit

    shop = load(with_audit())
    files = []
    for name, doc in (("recording.yaml", recording_rules(shop)), ("alerts.yaml", alert_rules(shop))):
        (tmp_path / name).write_text(rules_yaml(doc))
        files.append(str(tmp_path / name))
    firing = case(shop, "AuditCheckpointStale", [("audit_head_seq", "0+5x40"), ("audit_checkpoint_seq", "0+5x5 25x35")],
                  "30m", {}, stale_description(25, "10m"), interval="1m")
    quiet = case(shop, "AuditCheckpointStale", [("audit_head_seq", "0+5x40"), ("audit_checkpoint_seq", "0 0+5x39")],
                 "30m", {}, "", interval="1m", fires=False)
    assert firing["alert_rule_test"][0]["alertname"] == "ShopAuditCheckpointStale"
    assert firing["input_series"][0]["series"] == "shop_audit_head_seq"
    result = promtool(tmp_path, [firing, quiet], rule_files=files)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- SLO detection time













def test_full_outage_pages_within_about_a_minute(catalog, tmp_path):
    seconds = detection_seconds(catalog, tmp_path, "authorization-availability", 1.0, watch_min=4)
    print(f"\nfull outage → 14.4x page after {seconds} s of rule time (SRE Workbook: ~52 s)")
    assert seconds is not None and 45 <= seconds <= 90


def test_ten_percent_errors_page_in_about_nine_minutes(catalog, tmp_path):
    seconds = detection_seconds(catalog, tmp_path, "authorization-availability", 0.10)
    print(f"\n10% errors → 14.4x page after {seconds} s of rule time (SRE Workbook: ~8.6 min)")
    assert seconds is not None and 8 * 60 <= seconds <= 10 * 60


def test_healthy_traffic_never_pages(catalog, tmp_path):
    assert detection_seconds(catalog, tmp_path, "authorization-availability", 0.0, watch_min=10) is None
