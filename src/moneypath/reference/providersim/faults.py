"""The provider simulator's faults: each one hits one provider (moneypath.protocol.fault_specs)."""

from __future__ import annotations

from moneypath.protocol.fault_specs import simulator_specs
from moneypath.protocol.faults import FaultError
from moneypath.protocol.faults import Faults as _Faults

PROVIDERS = ("acme", "globex")


class Faults(_Faults):
    def __init__(self, seed: int, providers: tuple[str, ...] = PROVIDERS):
        super().__init__(simulator_specs(providers), seed)


__all__ = ["FaultError", "Faults", "PROVIDERS"]
