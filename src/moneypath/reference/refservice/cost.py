"""Cost model from the catalog, accrued into the cost counter as money is spent.

Infrastructure accrues by the hour (per service process), provider fees per capture
(fixed + basis points of the amount in its currency's major units, read as USD: there is no FX), fraud
screening per check. The cost_increase fault multiplies every component, as a price
change or a runaway resource would.
"""

from __future__ import annotations

import time

from moneypath.catalog import Catalog
from moneypath.instrument import MoneyPath
from moneypath.protocol.faults.switches import Faults


class CostMeter:
    def __init__(self, mp: MoneyPath, catalog: Catalog, faults: Faults | None = None, clock=time.monotonic):
        self.mp, self.model, self.faults, self._clock = mp, catalog.cost, faults, clock
        self._major_units = catalog.major_units
        self._since = clock()

    def _factor(self) -> float:
        more = self.faults.get("cost_increase") if self.faults is not None else None
        return more["factor"] if more else 1.0

    def provider_fee(self, provider: str, amount_minor: int, currency: str) -> None:
        fee = self.model.provider_fees.get(provider)
        if fee is not None:
            major = self._major_units(amount_minor, currency)
            self.mp.add_cost("provider_fee", (fee.fixed_usd + major * fee.bps / 10_000) * self._factor(), provider)

    def fraud_check(self) -> None:
        self.mp.add_cost("fraud_screening", self.model.fraud_screening_usd_per_check * self._factor())

    def accrue_infrastructure(self) -> None:
        """Add the infrastructure cost of the time since the last call."""
        now = self._clock()
        hours, self._since = (now - self._since) / 3600, now
        self.mp.add_cost("infrastructure", self.model.infrastructure_usd_per_hour * hours * self._factor())
