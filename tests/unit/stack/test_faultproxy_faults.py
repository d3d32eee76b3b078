"""The fault proxy's faults (moneypath.stack.faultproxy.proxy_faults): holds end with their fault, fired faults are counted
and logged."""

from __future__ import annotations

import asyncio

from moneypath.stack import faultproxy as fp
from tests.support.faultproxy import PROVIDERS


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_hold_ends_when_its_fault_is_cleared_or_ends():
    async def go():
        clock = FakeClock()
        faults = fp.ProxyFaults(PROVIDERS, clock=clock)
        faults.set("timeout", {"provider": "knet", "rate": 1, "delay_s": 600, "duration_s": 60})
        held = asyncio.create_task(faults.hold("timeout", "knet", 600))
        await asyncio.sleep(0.05)
        assert not held.done()
        assert [f["name"] for f in faults.clear("timeout", "knet")] == ["timeout"]
        await asyncio.wait_for(held, 5)  # released by the clear, not after 600 s

        faults.set("latency", {"provider": "komoju", "extra_ms": 60_000, "duration_s": 10})
        clock.now += 9.95  # 50 ms of the fault left: the hold is cut to that
        await asyncio.wait_for(faults.hold("latency", "komoju", 60), 5)
        clock.now += 1  # over: nothing is held at all
        await asyncio.wait_for(faults.hold("latency", "komoju", 60), 0.5)

        faults.set("delay_webhooks", {"provider": "knet", "delay_s": 600})
        held = asyncio.create_task(faults.hold("delay_webhooks", "knet", 600))
        await asyncio.sleep(0.05)
        faults.set("delay_webhooks", {"provider": "knet", "delay_s": 1})  # replaced: what the old one held goes
        await asyncio.wait_for(held, 5)
        held = asyncio.create_task(faults.hold("delay_webhooks", "knet", 600))
        await asyncio.sleep(0.05)
        faults.release_all()  # shutting down
        await asyncio.wait_for(held, 5)

    asyncio.run(asyncio.wait_for(go(), 30))


def test_fired_faults_are_counted_and_logged_at_most_once_a_second(caplog):
    clock = FakeClock()
    faults = fp.ProxyFaults(PROVIDERS, clock=clock)
    faults.set("error_rate", {"provider": "komoju", "rate": 1})
    caplog.set_level("INFO", "moneypath.faultproxy")
    caplog.clear()
    for _ in range(5):
        assert faults.fires("error_rate", "komoju", {"x-correlation-id": "corr-12345678"}) == {"rate": 1, "status": 503}
    clock.now += 1.5
    assert faults.fires("error_rate", "komoju")
    assert faults.fires("error_rate", "knet") is None
    assert faults.fired == {("error_rate", "komoju"): 6}
    assert [r.getMessage() for r in caplog.records] == [
        "fault error_rate fired on komoju (1 time since the last line)",
        "fault error_rate fired on komoju (5 times since the last line)"]
    assert caplog.records[0].correlation_id == "corr-12345678"
