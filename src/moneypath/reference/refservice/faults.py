"""The reference service's own faults (the provider simulator has the provider-side ones).

Off unless the service is started with faults enabled; set and cleared over HTTP with the
admin:faults scope. The vocabulary is moneypath._common.fault_specs.service_specs.
"""

from __future__ import annotations

from moneypath._common.fault_specs import service_specs
from moneypath._common.faults import Faults
from moneypath.reference.refservice.outbox import QUEUES


def service_faults(seed: int = 7) -> Faults:
    return Faults(service_specs(QUEUES), seed)
