"""The fault switch: the drill's fault set and cleared through a fault API (PUT/DELETE
{faultproxy, providersim or service}/admin/faults/<name>) or through the team's own hook calls, and the
limits watched while it is on.

The fault is cleared when its declared duration ends, at mitigation (unless mitigation.clear_fault is
false), when a halt condition holds or the blast-radius cap is exceeded (both fail the drill), and on
every way out of the run (DrillRun.run clears it in its `finally`). A fault API is also told the duration
(duration_s, with a margin), so the fault ends there even if this process dies.
"""

from __future__ import annotations

import httpx

from moneypath._common.verdict import not_measured, register
from moneypath.drills import hooks, impact
from moneypath.drills.context import DrillContext
from moneypath.drills.endpoints import TargetError
from moneypath.drills.journal import FaultRecord
from moneypath.formats.drill import CheckSpec
from moneypath.formats.expect import check_all
from moneypath.formats.fault_specs import fault_specs

GRACE_S = 60.0  # the fault API's own end comes this long after the drill's


class FaultSwitch:
    def __init__(self, ctx: DrillContext):
        self.ctx = ctx
        self.record = FaultRecord.of(ctx.drill.fault)
        self.active = False
        self.end: float | None = None  # injection + the declared duration: watch() clears the fault then
        self.unmeasured: set[str] = set()  # halt conditions that measured nothing (said once in the timeline)

    def _urls(self) -> list[str]:
        """The fault API to call: a service fault goes to every instance of the service (each takes its share of
        the drill's payments), a fault elsewhere to the one part that runs it."""
        fault = self.ctx.drill.fault
        bases = self.ctx.target.services if fault.where == "service" else [getattr(self.ctx.target, fault.where)]
        return [f"{base.rstrip('/')}/admin/faults/{fault.name}" for base in bases]

    def inject(self) -> None:
        ctx, fault = self.ctx, self.ctx.drill.fault
        if fault.where == "hook":
            ok, detail = hooks.call(ctx.http, fault.set.method, fault.set.url, fault.set.headers, fault.set.json_body,
                                    fault.set.expect_status)
            if not ok:
                raise TargetError(f"fault hook set: {detail}")
            body: dict = {"hook": detail}
        else:
            spec = fault_specs(fault.where, ctx.catalog)[fault.name]
            body = dict(fault.params) | {"duration_s": round(ctx.s(fault.duration) + GRACE_S, 1)}
            if spec.target:
                body[spec.target] = fault.target
            for url in self._urls():
                try:
                    r = ctx.http.put(url, json=body, headers=ctx.admin_headers())
                except httpx.HTTPError as exc:
                    raise TargetError(f"PUT {url}: {type(exc).__name__}: {exc}") from None
                if r.status_code != 200:
                    raise TargetError(f"PUT {url}: {r.status_code} {_detail(r)}")
        self.active = True
        self.record.injected_at = ctx.clock()
        self.end = self.record.injected_at + ctx.s(fault.duration)
        params = ", ".join(f"{k}={v}" for k, v in fault.params.items())
        ctx.event("fault", f"FAULT {fault.name}({params}) on {fault.where}"
                           f"{' for ' + fault.target if fault.target else ''}", {"body": body})

    def clear(self, why: str) -> bool:
        """Clear the fault if it is on; False when the fault API refused (the fault is still on)."""
        if not self.active:
            return True
        ctx, fault = self.ctx, self.ctx.drill.fault
        if fault.where == "hook":
            ok, detail = hooks.call(ctx.http, fault.clear.method, fault.clear.url, fault.clear.headers,
                                    fault.clear.json_body, fault.clear.expect_status)
        else:
            spec = fault_specs(fault.where, ctx.catalog)[fault.name]
            params = {spec.target: fault.target} if spec.target and fault.target else None
            if params and fault.where == "service":
                params = {"target": fault.target}  # the service's DELETE takes ?target=, whatever the fault calls it
            ok, details = True, []
            for url in self._urls():
                try:
                    r = ctx.http.delete(url, params=params, headers=ctx.admin_headers())
                    ok = ok and r.status_code == 200
                    details.append(f"{r.status_code}" if r.status_code == 200 else f"{r.status_code} {_detail(r)}")
                except httpx.HTTPError as exc:
                    ok = False
                    details.append(f"{type(exc).__name__}")
            detail = ", ".join(dict.fromkeys(details))
        if ok:
            self.active = False
            self.record.cleared_at = ctx.clock()
            if ctx.load and ctx.drill.load.peak:
                ctx.load.set_rate(ctx.drill.load.rate)  # the peak rate goes with the fault
        ctx.event("fault" if ok else "note", f"{'CLEAR' if ok else 'could not clear'} {fault.name} ({why}): {detail}")
        return ok

    def halt(self, reason: str) -> None:
        self.record.halted = reason
        self.ctx.event("halt", f"HALT: {reason}")
        self.clear("halted")

    def watch(self) -> None:
        """Each tick: end the fault with its duration; while it is on, halt on a halt condition or the cap."""
        ctx = self.ctx
        if self.active and self.end is not None and ctx.clock() >= self.end:
            ctx.event("note", f"fault duration ({ctx.s(ctx.drill.fault.duration):.0f} s) reached")
            self.clear("duration reached")
        if not self.active:
            return
        for check in ctx.drill.fault.halt_when:
            ok, reason = ctx.run_check(check)
            if ok:
                self.halt(f"halt condition {check.name!r} holds: {reason}")
                return
            if ok is None and check.name not in self.unmeasured:  # a guard that sees nothing cannot stop the fault
                self.unmeasured.add(check.name)
                ctx.event("check", f"halt condition {check.name!r} {not_measured(reason)}: it cannot halt the fault",
                          {"ok": None, "reason": reason})
        reason = impact.cap_exceeded(ctx, ctx.drill.fault.cap, self.record.injected_at)
        if reason:
            self.halt(reason)


def _detail(r: httpx.Response) -> str:
    try:
        return str(r.json().get("detail", ""))[:200]
    except ValueError:
        return r.text[:200]


def halt_condition(check: CheckSpec, series: list) -> tuple[bool | None, str]:
    """Does a halt condition hold on this answer? None (not measured) when a value condition got nothing: the
    fault is not halted on it, and the timeline says the guard measured nothing."""
    return check_all(check.expect, series)


register("drills.halt_condition", halt_condition)
