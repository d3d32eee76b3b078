"""The provider simulator's faults: each one hits one provider (moneypath.protocol.faults.vocabularies)."""

from __future__ import annotations

from moneypath.protocol.faults.switches import FaultError, Faults
from moneypath.protocol.faults.vocabularies import simulator_specs

PROVIDERS = ("acme", "globex")


class SimulatorFaults(Faults):
    def __init__(self, seed: int, providers: tuple[str, ...] = PROVIDERS):
        super().__init__(simulator_specs(providers), seed)


__all__ = ["FaultError", "PROVIDERS", "SimulatorFaults"]
