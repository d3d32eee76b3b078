"""The fault switch every fault API shares (moneypath.protocol.faults.switches) and the vocabularies
(moneypath.protocol.faults.vocabularies): a fault ends by itself, optional parameters take their default."""

import pytest

from moneypath.protocol.faults.switches import DEFAULT_DURATION_S, FaultError, Faults
from moneypath.protocol.faults.vocabularies import proxy_specs, service_specs, simulator_specs


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def proxy(clock):
    return Faults(proxy_specs(("komoju", "knet")), seed=1, clock=clock)


def test_a_fault_ends_with_its_duration_even_if_nobody_clears_it():
    clock = Clock()
    faults = proxy(clock)
    faults.set("latency", {"provider": "knet", "extra_ms": 200, "duration_s": 30})
    assert faults.fires("latency", "knet") == {"extra_ms": 200}
    assert faults.active()[0]["ends_in_s"] == 30
    clock.now += 29.9
    assert faults.fires("latency", "knet") is not None
    clock.now += 0.2
    assert faults.fires("latency", "knet") is None
    assert faults.active() == []


def test_without_a_duration_the_default_bounds_it():
    clock = Clock()
    faults = proxy(clock)
    faults.set("reset", {"provider": "komoju", "rate": 1})
    clock.now += DEFAULT_DURATION_S - 1
    assert faults.get("reset", "komoju") is not None
    clock.now += 2
    assert faults.get("reset", "komoju") is None


def test_optional_parameters_take_their_default_and_are_checked():
    faults = proxy(Clock())
    assert faults.set("error_rate", {"provider": "komoju", "rate": 0.5})["status"] == 503
    assert faults.set("error_rate", {"provider": "komoju", "rate": 0.5, "status": 429})["status"] == 429
    with pytest.raises(FaultError, match="status: must be a number from 400 to 599"):
        faults.set("error_rate", {"provider": "komoju", "rate": 0.5, "status": 200})
    with pytest.raises(FaultError, match="duration_s: must be a number"):
        faults.set("error_rate", {"provider": "komoju", "rate": 0.5, "duration_s": 0})
    with pytest.raises(FaultError, match="provider: must be one of komoju, knet"):
        faults.set("error_rate", {"provider": "acme", "rate": 0.5})
    with pytest.raises(FaultError, match=r"nope: error_rate takes no such parameter \(it takes provider, rate, status, "
                                         r"duration_s\)"):
        faults.set("error_rate", {"provider": "knet", "rate": 0.5, "nope": 1})


def test_the_vocabularies_take_their_targets_from_the_caller():
    assert simulator_specs(("komoju",))["error_rate"].targets == ("komoju",)
    assert proxy_specs(("a", "b"))["timeout"].targets == ("a", "b")
    assert service_specs(("emails",))["consumer_failure"].targets == ("emails",)
    assert service_specs(())["ledger_write_failure"].target is None
