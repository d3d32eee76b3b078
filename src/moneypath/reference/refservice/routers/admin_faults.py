"""Fault injection for drills (left out of the OpenAPI document): GET /admin/faults,
PUT|DELETE /admin/faults/{name}, with the admin:faults scope; 403 unless the service was
started with faults enabled."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from moneypath.protocol.faults.switches import FaultError, Faults
from moneypath.reference.refservice.dependencies import Caller, require_scope
from moneypath.reference.refservice.problems import ApiProblem

router = APIRouter(include_in_schema=False)


async def enabled_faults(caller: Annotated[Caller, Depends(require_scope("admin:faults"))]) -> Faults:
    """The service's faults, for a caller with the admin:faults scope, if fault injection is on."""
    svc = caller.services
    if svc.faults is None:
        raise ApiProblem(403, "faults-disabled", "Faults disabled", "fault injection is off; start the service "
                         "with MONEYPATH_ENABLE_FAULTS=1 to use it")
    return svc.faults


FaultsDep = Annotated[Faults, Depends(enabled_faults)]


def fault_problem(exc: FaultError) -> ApiProblem:
    if exc.status == 404:
        return ApiProblem(404, "unknown-fault", "Unknown fault", str(exc))
    return ApiProblem(exc.status, "invalid-fault", "Invalid fault parameters", str(exc))


@router.get("/admin/faults")
async def list_faults(faults: FaultsDep):
    """Active faults and what can be set."""
    return {"faults": faults.active(), "available": faults.catalog()}


@router.put("/admin/faults/{name}")
async def put_fault(request: Request, name: str, faults: FaultsDep):
    try:
        params = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise ApiProblem(422, "invalid-fault", "Invalid fault parameters", "body: is not valid JSON") from None
    try:
        return faults.set(name, params)
    except FaultError as exc:
        raise fault_problem(exc) from None


@router.delete("/admin/faults/{name}")
async def delete_fault(name: str, faults: FaultsDep, target: str | None = None):
    try:
        return {"cleared": faults.clear(name, target)}
    except FaultError as exc:
        raise fault_problem(exc) from None
