"""`moneypath capacity`, the report: the plan as text lines (the terminal), as tables (Markdown and
HTML: the headline, the steps, the projections, the comparison), its curves (curves.py) and JSON.
Offered, achieved and goodput rates are named by what they count, the plan's `rate_unit` (plan.rate_unit_of):
flows/s for a request template's flow, requests/s otherwise.
"""

from __future__ import annotations

from pathlib import Path

from moneypath._common import report as doc
from moneypath._common.atomic import write_json, write_text
from moneypath._common.verdict import NOT_MEASURED
from moneypath.loadtest.command.capacity import curves
from moneypath.loadtest.command.capacity.plan import per
from moneypath.loadtest.command.capacity.plan import rate_unit_of as rate_unit
from moneypath.loadtest.command.counts import line
from moneypath.loadtest.command.launch import REQUESTS_PER_S


def sent(s: dict, unit: str) -> str:
    """With flows, the requests their steps sent: " (6.0 requests/s)"; nothing beside requests."""
    return "" if unit == REQUESTS_PER_S or s.get("requests_rps") is None else f" ({s['requests_rps']:.1f} requests/s)"


def refused(unit: str) -> str:
    return "refused (503/429)" if unit == REQUESTS_PER_S else "refused requests (503/429)"


def _usd(v: float | None) -> str:
    if v is None:
        return "-"
    return f"${v:.6f}" if v < 0.01 else f"${v:,.4f}"


def _has_fraud(costs: dict | None) -> bool:
    return costs is not None and costs.get("fraud_usd_per_authorization") is not None


def _projection_values(p: dict, costs: dict | None) -> list[str]:
    """scale, authorizations/s, instances, p99 and with a cost model infra, fees, [fraud,] total per
    authorization and per month."""
    row = [f"{p['scale']}x", f"{p['authorizations_per_s']:g}", str(p["instances"]),
           "-" if p["p99_ms"] is None else f"{p['p99_ms']:.0f} ms"]
    if costs is not None:
        row += [_usd(p["infrastructure_usd_per_authorization"]), _usd(p["fees_usd_per_authorization"]),
                *([_usd(p["fraud_usd_per_authorization"])] if _has_fraud(costs) else []),
                _usd(p["usd_per_authorization"]), f"${p['usd_per_month']:,.0f}"]
    return row


def _projection_rows(projections: list[dict], costs: dict | None) -> list[str]:
    rows = [("scale", "authorizations/s", "instances", "p99")]
    if costs is not None:
        rows[0] += ("infra/tx", "fees/tx", *(("fraud/tx",) if _has_fraud(costs) else ()), "total/tx", "per month")
    notes = []
    for p in projections:
        row = _projection_values(p, costs)
        row[2] += "" if p.get("feasible", True) else "*"
        rows.append(tuple(row))
        if p.get("note"):
            notes.append(f"  * {p['scale']}x: {p['note']}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(v.rjust(widths[i]) for i, v in enumerate(r)) for r in rows] + sorted(set(notes), key=notes.index)


def _step_line(s: dict, unit: str) -> str:
    p99 = "-" if s["p99_ms"] is None else f"{s['p99_ms']:.0f} ms"
    verdict = ("ok" if s["passed"] else ("NOT MEASURED: " if s.get("generator_bound") or s.get("status") == NOT_MEASURED
                                         else "FAIL: ")
               + "; ".join(s["reasons"]))
    busiest = f"  [{s['limit_reason']}]" if s.get("limit_reason") else ""
    return (f"step {s['rate']:>7g}{per(unit)}  achieved {s['achieved_rps']:7.1f}{per(unit)}{sent(s, unit)}  "
            f"authorizations {s['authorize_rps']:6.1f}/s  p99 {p99:>8}  {verdict}{busiest}")


def table_lines(result: dict) -> list[str]:
    lines = []
    unit = rate_unit(result)
    sat = result.get("saturation")
    if sat:
        lines.append(f"saturation (closed loop, {sat['users']} users): {sat['achieved_rps']:.1f} {unit}{sent(sat, unit)} "
                     f"= {sat['authorize_rps']:.1f} authorizations/s; limit: {sat['limit_reason']}")
    lines += [_step_line(s, unit) for s in result["steps"]]
    lines += [f"load generator: {line}" for line in (result.get("generator") or {}).get("lines", [])]
    k = result["knee"]
    if k is None:
        lines.append("knee: none (the first step already breached)")
        return lines
    lines.append(f"knee: {k['rate']:g} {unit} = {k['authorize_rps']:.1f} authorizations/s per instance "
                 f"(p99 {k['p99_ms']:.0f} ms)" if k["p99_ms"] is not None else f"knee: {k['rate']:g} {unit}")
    if result.get("knee_share_of_saturation") is not None:
        lines.append(f"the knee carries {result['knee_share_of_saturation']:.0%} of the saturation throughput")
    fit = (result.get("usl") or {}).get("fit")
    if fit:
        peak = (f"peak {fit['peak_throughput']:.1f} authorizations/s at {fit['peak_concurrency']:.0f} in flight"
                if fit["peak_concurrency"] else
                f"no peak, levels off at {fit['peak_throughput']:.1f}/s" if fit["peak_throughput"] else "no limit seen")
        lines.append(f"Universal Scalability Law: lambda {fit['lam']:.1f}/s, contention sigma {fit['sigma']:.3f}, "
                     f"coherency kappa {fit['kappa']:.5f} (R² {fit['r2']:.2f}): {peak}")
    elif result.get("usl", {}).get("error"):
        lines.append(f"Universal Scalability Law: not fitted ({result['usl']['error']})")
    if k.get("cost_per_authorization_usd") is not None:
        lines.append(f"cost per authorization the service accrued at the knee: {_usd(k['cost_per_authorization_usd'])} "
                     "(provider fees only on what was captured within the step)")
    lines.append(f"database: {result.get('database', 'unknown')} ({result.get('database_assumption', '')})")
    lines += _projection_rows(result["projections"], result["unit_costs"])
    cmp_ = result.get("compare")
    if cmp_:
        lines.append(f"beside it: {cmp_['database']}, {cmp_['workers']} service processes ({cmp_['assumption']})")
        lines.append(f"  saturation 1 process {cmp_['one']['authorize_rps']:.1f} authorizations/s "
                     f"[{cmp_['one']['limit_reason']}]; {cmp_['workers']} processes "
                     f"{cmp_['many']['authorize_rps']:.1f}/s [{cmp_['many']['limit_reason']}]")
        lines += ["  " + _step_line(s, unit) for s in cmp_["steps"]]
        if cmp_["knee"] is None:
            lines.append("  knee: none (the first step already breached)")
        else:
            lines.append(f"  knee: {cmp_['knee']['rate']:g} {unit} = {cmp_['knee']['authorize_rps']:.1f} "
                         f"authorizations/s with {cmp_['workers']} processes; contention between processes sigma "
                         f"{cmp_['contention']:.3f}; one process plans at {cmp_['per_process_authorizations_per_s']:.1f}/s")
            lines += ["  " + line for line in _projection_rows(cmp_["projections"], result["unit_costs"])]
    return lines


# ---------------------------------------------------------------- the page: tables, then the curves


def _rps(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def _knee_text(k: dict, unit: str) -> str:
    return (f"{k['rate']:g} {unit} = {k['authorize_rps']:.1f} authorizations/s"
            + ("" if k["p99_ms"] is None else f", p99 {k['p99_ms']:.0f} ms"))


def _past_saturation(result: dict) -> str | None:
    """Goodput and refusals at the highest step offered past the closed-loop saturation, when measured."""
    sat = result.get("saturation")
    past = [s for s in result["steps"] if sat and s["rate"] > sat["achieved_rps"] and s.get("goodput_rps") is not None]
    if not past or not sat["achieved_rps"]:
        return None
    s, unit = max(past, key=lambda s: s["rate"]), rate_unit(result)
    return (f"at {s['rate']:g} {unit} offered ({s['rate'] / sat['achieved_rps']:.1f}x saturation): goodput "
            f"{s['goodput_rps']:.1f}{per(unit)}, {s['goodput_rps'] / sat['achieved_rps']:.0%} of saturation; "
            f"{refused(unit)} {s.get('refused_rps', 0.0):.1f}/s; p99 {_ms(s['p99_ms'])}")


def _usl_text(result: dict) -> str | None:
    u = result.get("usl") or {}
    fit = u.get("fit")
    if not fit:
        return f"not fitted ({u['error']})" if u.get("error") else None
    peak = (f"peak {fit['peak_throughput']:.1f} authorizations/s at {fit['peak_concurrency']:.0f} in flight"
            if fit["peak_concurrency"] else
            f"no peak, levels off at {fit['peak_throughput']:.1f}/s" if fit["peak_throughput"] else "no limit seen")
    return (f"{peak}; λ {fit['lam']:.1f}/s, contention σ {fit['sigma']:.3f}, coherency κ {fit['kappa']:.5f} "
            f"(R² {fit['r2']:.2f})")


def _headline(result: dict) -> doc.Table:
    sat, k, unit = result.get("saturation"), result["knee"], rate_unit(result)
    rows: list[list] = []
    if sat:
        rows.append(["Saturation (closed loop)", f"{sat['achieved_rps']:.1f} {unit}{sent(sat, unit)} = "
                     f"{sat['authorize_rps']:.1f} authorizations/s with {sat['users']} users; limit: "
                     f"{sat['limit_reason']}"])
    rows.append(["Knee, one instance", _knee_text(k, unit) if k else doc.Cell("none: the first step already breached",
                                                                               "bad")])
    if result.get("knee_share_of_saturation") is not None:
        rows.append(["Knee share of saturation", f"{result['knee_share_of_saturation']:.0%}"])
    if past := _past_saturation(result):
        rows.append(["Goodput past saturation", past])
    if usl_text := _usl_text(result):
        rows.append(["Universal Scalability Law", usl_text])
    if k and k.get("cost_per_authorization_usd") is not None:
        rows.append(["Cost accrued at the knee", f"{_usd(k['cost_per_authorization_usd'])} per authorization "
                     "(provider fees only on what was captured within the step)"])
    rows.append(["Database", f"{result.get('database', 'unknown')}: {result.get('database_assumption', '')}"])
    kinds = ["mark" if k and row[0].startswith("Knee,") else "" for row in rows]
    return doc.Table(["", ""], rows, row_kinds=kinds, key_column=True, wide=True)


def _steps_table(steps: list[dict], knee: dict | None, unit: str) -> doc.Table:
    """One row per step; with flows a column of the requests their steps sent beside the flows."""
    flows = unit != REQUESTS_PER_S
    rows, kinds = [], []
    for s in sorted(steps, key=lambda s: s["rate"]):
        is_knee = knee is not None and s["rate"] == knee["rate"]
        verdict = (doc.Cell("ok, the knee" if is_knee else "ok", "ok") if s["passed"]
                   else doc.Cell("; ".join(s["reasons"]) or "failed", "bad"))
        rows.append([f"{s['rate']:g}", _rps(s["achieved_rps"]), *([_rps(s.get("requests_rps"))] if flows else []),
                     _rps(s.get("goodput_rps")), _rps(s["refused_rps"]) if "refused_rps" in s else "-",
                     _rps(s["authorize_rps"]), _ms(s["p99_ms"]), verdict, s.get("limit_reason") or "-"])
        kinds.append("mark" if is_knee else "" if s["passed"] else "fail")
    headers = ([f"offered {unit}", f"achieved {unit}", "requests/s", f"goodput {unit}", "refused requests/s"] if flows
               else ["offered requests/s", "achieved requests/s", "goodput/s", "refused/s"])
    return doc.Table([*headers, "authorizations/s", "p99", "verdict", "limit"], rows, align="r" * (len(headers) + 2),
                     row_kinds=kinds, wide=True)


def _projections_table(projections: list[dict], costs: dict | None) -> doc.Table:
    headers = ["scale", "authorizations/s", "instances", "p99"]
    if costs is not None:
        headers += ["infrastructure / authorization", "provider fees / authorization",
                    *(["fraud screening / authorization"] if _has_fraud(costs) else []), "total / authorization",
                    "per month"]
    notes = any(p.get("note") for p in projections)
    rows = []
    for p in projections:
        row: list = _projection_values(p, costs)
        if not p.get("feasible", True):
            row[2] = doc.Cell(row[2], "bad")
        rows.append(row + ([p.get("note") or ""] if notes else []))
    kinds = ["" if p.get("feasible", True) else "fail" for p in projections]
    return doc.Table(headers + (["note"] if notes else []), rows, align="r" * len(headers), row_kinds=kinds,
                     wide=True)


def _compare_section(cmp_: dict, costs: dict | None, unit: str) -> doc.Section:
    n = cmp_["workers"]
    rows = [["Assumption", cmp_["assumption"]],
            ["Saturation, 1 process", f"{cmp_['one']['authorize_rps']:.1f} authorizations/s; limit: "
                                      f"{cmp_['one']['limit_reason']}"],
            [f"Saturation, {n} processes", f"{cmp_['many']['authorize_rps']:.1f} authorizations/s; limit: "
                                          f"{cmp_['many']['limit_reason']}"]]
    k = cmp_["knee"]
    rows.append([f"Knee, {n} processes", _knee_text(k, unit) if k else "none: the first step already breached"])
    if k is not None:
        rows += [["Contention between processes", f"σ {cmp_['contention']:.3f}"],
                 ["One process plans at", f"{cmp_['per_process_authorizations_per_s']:.1f} authorizations/s"]]
    return doc.Section(f"Beside it: {cmp_['database']}, {n} service processes", [
        doc.Table(["", ""], rows, key_column=True, wide=True), doc.Section("Steps", [_steps_table(cmp_["steps"], k, unit)]),
        doc.Section("Projections", [_projections_table(cmp_["projections"], costs)])])


def counts_lines(result: dict) -> list[str]:
    """Each step's reconciliation of counts (the saturation probe's first): "step 20 requests/s: PASS: ..."."""
    unit = rate_unit(result)
    out = []
    for s in [*([result["saturation"]] if result.get("saturation") else []), *result["steps"]]:
        if text := line(s.get("conservation"), ""):
            what = "saturation probe" if s.get("closed_loop") else f"step {s['rate']:g} {unit}"
            out.append(f"{what}: {text}")
    return out


def document(result: dict) -> doc.Document:
    costs = result["unit_costs"]
    intro = (f"Current volume: {result['current_authorizations_per_s']:g} authorizations/s; instances planned at "
             f"{result['utilization']:.0%} of the knee.")
    if costs is not None:
        fraud = costs.get("fraud_usd_per_authorization")
        intro += (f" Cost model from the catalog: ${costs['infrastructure_usd_per_instance_hour']:g} per "
                  f"instance-hour, provider fees {_usd(costs['fees_usd_per_authorization'])}"
                  + (f" and fraud screening {_usd(fraud)}" if fraud is not None else "")
                  + " per authorization (amounts in major units of their currency, taken as USD: no FX).")
    sections = [doc.Section("", [doc.Para(intro), _headline(result)]),
                doc.Section("Steps", [_steps_table(result["steps"], result["knee"], rate_unit(result)),
                                      doc.Para("The knee's row is marked; failed steps are red.", "note")]),
                doc.Section("Projections", [_projections_table(result["projections"], costs)])]
    if (result.get("generator") or {}).get("lines"):
        sections.append(doc.Section("Load generator", [doc.Bullets(result["generator"]["lines"]), doc.Para(
            "A step where the load generator was the bottleneck is not measured: the knee stops below it. Run it "
            "again with the workers it needs.", "note")]))
    if counts := counts_lines(result):
        sections.append(doc.Section("Conservation of counts", [doc.Bullets(counts), doc.Para(
            "A step whose counts do not reconcile is not measured: its service gates read metrics that did not "
            "count what was sent, and the knee stops below it.", "note")]))
    if result.get("compare"):
        sections.append(_compare_section(result["compare"], costs, rate_unit(result)))
    sections.append(doc.Section("Curves", [doc.Image(title, name, wide=True)
                                           for title, name in curves.plots(result)]))
    return doc.Document("Capacity and cost plan", sections, escape="table")


def render(result: dict, directory: Path) -> None:
    curves.render(result, directory)
    write_json(directory / "capacity.json", result, default=str)
    page = document(result)
    write_text(directory / "capacity.md", page.to_markdown())
    write_text(directory / "capacity.html", page.to_html())
