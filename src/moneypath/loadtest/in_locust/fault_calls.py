"""The faults a scenario sets, as HTTP calls to the fault API at `at`. Pure: the callers send them
(the Locust hooks when the test starts and stops, the runner once more after Locust exits).

Every fault API speaks the same shape (moneypath.protocol.faults.switches): `PUT {base}/admin/faults/{name}`
with the fault's body, `DELETE {base}/admin/faults/{name}?<target>=<value>`, a bearer token with
scope admin:faults. The bases: the provider simulator (`--providersim`), the fault proxy between a
service and its providers (`--faultproxy`), or the service itself (`--host`).
"""

from __future__ import annotations

from dataclasses import dataclass

from moneypath.formats.scenarios import ScenarioFault
from moneypath.protocol.faults.switches import DURATION, MAX_DURATION_S

OPTION = {"providersim": "--providersim", "faultproxy": "--faultproxy", "service": "--host"}
TARGETS = {"provider": "provider", "queue": "target"}  # body key -> the DELETE's query parameter
ENDS_AFTER_RUN_S = 60.0  # a fault nobody clears (Locust killed) ends this long after the run


class MissingBase(Exception):
    """A fault's API has no URL; the message names the option that gives one."""


@dataclass(frozen=True)
class FaultCall:
    url: str
    body: dict    # PUT body: the scenario's params, with an end (duration_s) unless it gives one
    query: dict   # DELETE query: the fault's target, when it has one


def calls(faults: list[ScenarioFault], bases: dict[str, str | None], run_s: float, scenario: str = "") -> list[FaultCall]:
    """One call per fault; `bases` maps each `at` to its URL (None: not given)."""
    out = []
    for fault in faults:
        base = bases.get(fault.at)
        if not base:
            raise MissingBase(f"scenario {scenario} sets a {fault.at} fault: pass {OPTION[fault.at]} URL")
        body = {DURATION: min(MAX_DURATION_S, run_s + ENDS_AFTER_RUN_S), **fault.params}
        query = {param: fault.params[key] for key, param in TARGETS.items() if key in fault.params}
        out.append(FaultCall(f"{base.rstrip('/')}/admin/faults/{fault.name}", body, query))
    return out
