"""Risk: fraud screening before a payment reaches a provider, called with a timeout.

The score is a stand-in for a fraud model: deterministic per payment reference, so a
retried request gets the same answer. When screening is slow or down, the payment
degrades per the configured policy instead of stopping: `hold` it for review, or
`allow` it when the amount is under a limit (and hold it above).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from moneypath.instrument import MoneyPath
from moneypath.protocol.faults.switches import Faults
from moneypath.reference.refservice.cost import CostMeter

REVIEW_AT, DECLINE_AT = 0.7, 0.9


class RiskUnavailable(Exception):
    pass


@dataclass(frozen=True)
class RiskPolicy:
    timeout_s: float = 0.15
    fallback: str = "allow"  # allow | hold
    allow_limit_minor: int = 50_00  # above it a payment is held even when fallback is allow

    def __post_init__(self):
        if self.fallback not in ("allow", "hold"):
            raise ValueError(f"risk fallback must be allow or hold, not {self.fallback!r}")
        if not 0 < self.timeout_s <= 30:
            raise ValueError("risk timeout must be between 0 and 30 seconds")
        if self.allow_limit_minor < 0:
            raise ValueError("risk allow limit must not be negative")


@dataclass(frozen=True)
class RiskDecision:
    decision: str  # approve | review | decline, or the fallback: allow | hold
    score: float | None  # None when screening did not answer

    @property
    def proceeds(self) -> bool:
        return self.decision in ("approve", "review", "allow")


def _uniform(reference: str, salt: str) -> float:
    digest = hashlib.blake2b(f"{salt}:{reference}".encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64


class RiskScreen:
    def __init__(self, mp: MoneyPath, policy: RiskPolicy, cost: CostMeter, faults: Faults | None = None):
        self.mp, self.policy, self.cost, self.faults = mp, policy, cost, faults

    async def _score(self, amount_minor: int, reference: str) -> float:
        faults = self.faults
        if faults is not None:
            if faults.get("risk_down") is not None:
                raise RiskUnavailable("risk screening is down (risk_down fault)")
            if slow := faults.get("risk_latency"):
                await asyncio.sleep(slow["extra_ms"] / 1000)
            if faults.fires("fraud_spike"):
                return 0.9 + 0.099 * _uniform(reference, "spike")
        # A long-tailed score: about 0.7 % of payments decline and 3 % go to review; large amounts score higher.
        score = 0.05 + 0.9 * _uniform(reference, "score") ** 8 + (0.1 if amount_minor > 1_000_000 else 0.0)
        return min(score, 0.999)

    async def screen(self, amount_minor: int, reference: str) -> RiskDecision:
        self.cost.fraud_check()
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                score = await self._score(amount_minor, reference)
        except (TimeoutError, RiskUnavailable):
            fallback = self.policy.fallback
            if fallback == "allow" and amount_minor > self.policy.allow_limit_minor:
                fallback = "hold"
            self.mp.count_fraud_timeout(fallback)
            return RiskDecision(fallback, None)
        decision = "decline" if score >= DECLINE_AT else "review" if score >= REVIEW_AT else "approve"
        self.mp.record_fraud_decision(decision, score)
        return RiskDecision(decision, round(score, 4))
