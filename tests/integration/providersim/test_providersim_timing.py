"""The provider simulator in-process: what it promises about wall-clock time (latency, faults, webhook retries that
never block an answer). The `timing` tier; the rest: tests/unit/providersim/ (test_providers.py and its neighbours)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.providersim import (
    acme_authorize,
    approved,
    capture,
    clear_fault,
    globex_charge,
    make_app,
    run,
    set_fault,
)


@pytest.mark.timing
def test_latency_scale_slows_calls(tmp_path):
    async def scenario(c):
        start = time.perf_counter()
        for i in range(5):
            await acme_authorize(c, f"slow-{i}")
        return time.perf_counter() - start

    assert run(make_app(tmp_path, latency_scale=1.0), scenario) > 5 * 0.03
    assert run(make_app(tmp_path), scenario) < 0.15


@pytest.mark.timing
def test_webhooks_are_retried_and_never_block_the_response(tmp_path, receiver):
    app = make_app(tmp_path, receiver)

    async def scenario(c):
        ref = await approved(c, "acme", "r")
        receiver.fail_next, receiver.delay_s = 2, 1.0
        start = time.perf_counter()
        assert (await capture(c, "acme", ref, "cap")).status_code == 200
        return time.perf_counter() - start

    assert run(app, scenario) < 0.5  # the receiver is failing and slow; the API answered anyway
    assert receiver.attempts == 3 and len(receiver.events) == 1 and app.state.webhooks.delivered == 1


@pytest.mark.timing
def test_fault_latency_adds_delay_and_clears(tmp_path):
    async def scenario(c):
        await set_fault(c, "latency", provider="globex", extra_ms=250)
        start = time.perf_counter()
        await globex_charge(c, "l1")
        slow = time.perf_counter() - start
        await clear_fault(c, "latency")
        start = time.perf_counter()
        await globex_charge(c, "l2")
        assert slow >= 0.25 and time.perf_counter() - start < 0.1

    run(make_app(tmp_path, enable_faults=True), scenario)


@pytest.mark.timing
def test_fault_timeout_late_success_applies_the_effect_before_answering(tmp_path):
    app = make_app(tmp_path, enable_faults=True)
    acme = app.state.providers["acme"]

    async def scenario(c):
        await set_fault(c, "timeout_late_success", provider="acme", rate=1, delay_s=2)
        with pytest.raises(TimeoutError):  # the client gives up…
            await asyncio.wait_for(acme_authorize(c, "t1"), 0.2)
        assert [ch.reference for ch in acme.charges.values()] == ["ord-t1"]  # …but the charge exists
        await clear_fault(c, "timeout_late_success")
        start = time.perf_counter()
        replay = await acme_authorize(c, "t1")  # the client's retry finds the original outcome
        assert time.perf_counter() - start < 0.1 and replay.json()["id"] == next(iter(acme.charges))
        assert len(acme.charges) == 1

    run(app, scenario)
