"""The provider simulator's faults: each one hits one provider (see moneypath._common.faults)."""

from __future__ import annotations

from moneypath._common.faults import FaultError, Spec, integer, number, rate
from moneypath._common.faults import Faults as _Faults

PROVIDERS = ("acme", "globex")


def _per_provider(**params) -> Spec:
    return Spec(params, target="provider", targets=PROVIDERS)


SPECS: dict[str, Spec] = {
    "error_rate": _per_provider(rate=rate),                                        # 503 from the provider's API
    "latency": _per_provider(extra_ms=number(0, 60_000)),                          # added to every call
    "timeout_late_success": _per_provider(rate=rate, delay_s=number(0, 120)),      # effect now, answer after delay_s
    "duplicate_webhooks": _per_provider(rate=rate),                                # same body twice, fresh signatures
    "out_of_order_webhooks": _per_provider(),                                      # held, sent in reverse pairs
    "duplicate_capture": _per_provider(rate=rate),                                 # two settlement lines for one capture
    "settlement_drop": _per_provider(rate=rate),                                   # lines left out of the file
    "settlement_alter": _per_provider(rate=rate, delta_minor=integer),             # amount changed in the file
}


class Faults(_Faults):
    def __init__(self, seed: int):
        super().__init__(SPECS, seed)


__all__ = ["FaultError", "Faults", "PROVIDERS", "SPECS"]
