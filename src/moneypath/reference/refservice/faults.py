"""The reference service's own faults (the provider simulator has the provider-side ones).

Off unless the service is started with faults enabled; set and cleared over HTTP with the
admin:faults scope.
"""

from __future__ import annotations

from moneypath._common.faults import Faults, Spec, number, rate
from moneypath.reference.refservice.outbox import QUEUES

SPECS: dict[str, Spec] = {
    "ledger_write_failure": Spec({"rate": rate}),                 # the booking transaction rolls back
    "consumer_failure": Spec({"rate": rate}, target="queue", targets=QUEUES),  # outbox delivery fails
    "fraud_spike": Spec({"rate": rate}),                          # this share of payments scores as fraud
    "risk_latency": Spec({"extra_ms": number(0, 60_000)}),        # risk screening slows down
    "risk_down": Spec(),                                          # risk screening fails at once
    "cost_increase": Spec({"factor": number(1, 1000)}),           # every cost component multiplied
}


def service_faults(seed: int = 7) -> Faults:
    return Faults(SPECS, seed)
