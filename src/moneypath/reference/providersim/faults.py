"""The provider simulator's faults: each one hits one provider (moneypath._common.fault_specs)."""

from __future__ import annotations

from moneypath._common.fault_specs import simulator_specs
from moneypath._common.faults import FaultError
from moneypath._common.faults import Faults as _Faults

PROVIDERS = ("acme", "globex")


class Faults(_Faults):
    def __init__(self, seed: int, providers: tuple[str, ...] = PROVIDERS):
        super().__init__(simulator_specs(providers), seed)


__all__ = ["FaultError", "Faults", "PROVIDERS"]
