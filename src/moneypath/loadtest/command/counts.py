"""Conservation of counts in a load test and in each capacity step (moneypath.check.conservation): what Locust sent
and had acknowledged, against what the target's counter counted over the run's window, read after the scrape lag
settled.

What counts on the counter comes from the locustfile's request names (moneypath.loadtest.in_locust.request_names), never from
one call per payment: every request whose action is authorize ("authorize [...]", a retried "... (attempt)", a
flow's authorizing step "authorize:<step> [...]") is one call, a whole FLOW, a client CHECK or a RETRIED outcome none.
The master's aggregate stats are counts without call times: the window runs from the counter's first scrape after
Locust started to its last after Locust stopped (its users given their stop timeout), so every request sent is the
upper bound, those answered with success the lower one, and the calls Locust had made by the window's opening (its
per-second history) and one in flight per user the slack on both.

Outside the tolerance (or not measured) every gate read from Prometheus is not measured with the reconciliation's
line; Locust's own gates, from its own stats, stay judged (`apply`).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Check, IfNotMeasured, not_measured
from moneypath.catalog import Catalog
from moneypath.check import conservation as cons
from moneypath.check import counter_resets
from moneypath.loadtest.command.gates import Gate
from moneypath.loadtest.command.run_types import LoadTarget
from moneypath.loadtest.command.stats import action_of
from moneypath.loadtest.in_locust.request_names import CHECK, HTTP_METHODS, NOT_COUNTED, SENT
from moneypath.stack import local as stack

NOT_RECONCILED = "not reconciled: --no-prometheus (no evidence from the service)"
TITLE = "conservation of counts"
REPORT_S = 1.0  # a worker's stats reach the master's history within a second (worker_watch sets Locust's interval)


def authorizations(entries: list[dict]) -> tuple[int, int]:
    """(sent, acknowledged) of the requests that count on the authorizations counter, from the stats' entries:
    every authorize request that went out (attempts and refusals included), and those answered with success less
    those the client saw the service acknowledge without counting (NOT_COUNTED)."""
    sent = acknowledged = 0
    for e in entries:
        if e["method"] == CHECK and e["name"] == NOT_COUNTED:  # answered, and not counted: never in the lower bound
            acknowledged -= int(e["num_requests"])
        if e["method"] not in SENT or action_of(e["name"]) != "authorize":
            continue
        sent += int(e["num_requests"])
        if e["method"] in HTTP_METHODS:
            acknowledged += int(e["num_requests"]) - int(e["num_failures"])
    return sent, acknowledged


def scraped_addresses(target: LoadTarget) -> list[str]:
    """host:port where Prometheus scrapes each instance the load went to: the stack's reference service on its
    metrics port (`--metrics-port` in how it was started), any other service at its own address."""
    urls = [target.host, *target.instances]
    metrics: dict[str, str] = {}
    state = stack.load_state(target.state_dir.resolve()) if target.state_dir is not None else None
    for part in state.parts if state is not None else ():
        if "--metrics-port" in part.argv[:-1]:
            port = part.argv[part.argv.index("--metrics-port") + 1]
            metrics[part.url.rstrip("/")] = f"{cons.address(part.url).rsplit(':', 1)[0]}:{port}"
    return [metrics.get(url.rstrip("/"), cons.address(url)) for url in urls]


def opened(path: Path) -> list[tuple[float, int]]:
    """(second, authorize requests sent so far) from the master's per-second per-name history (--csv-full-history,
    `<prefix>_stats_history.csv`): what counts (`authorizations`), as the run went. Empty without the file."""
    if not path.exists():
        return []
    totals: dict[float, dict[tuple[str, str], int]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            kind, name = row.get("Type") or "", row.get("Name") or ""
            try:
                t, n = float(row.get("Timestamp") or ""), int(float(row.get("Total Request Count") or 0))
            except ValueError:
                continue
            if kind in SENT and action_of(name) == "authorize":
                totals.setdefault(t, {})[(kind, name)] = n
    return [(t, sum(by.values())) for t, by in sorted(totals.items())]


def at_the_edge(history: list[tuple[float, int]], t0: float, users: int) -> int:
    """Calls that may fall on either side of the counter's first scrape `t0` in the window: those Locust had
    recorded by the first second at or after it (its workers' last report in), and one in flight per user. The
    stats are counts without call times, so these are the slack on both bounds (GroundTruth.in_flight)."""
    after = [n for t, n in history if t >= t0 + REPORT_S]
    return (after[0] if after else history[-1][1] if history else 0) + users


def read(c: Catalog, prom, addresses: list[str], started: float, end: float) -> cons.Counted | str:
    """The counter over the run: on each address driven when Prometheus scrapes each by that name (summed), else on
    every instance it scrapes (a service scraped under another name)."""
    every = cons.counted(prom, c, None, started, end)
    if isinstance(every, str) or not all(a in every.instances for a in addresses):
        return every
    parts = [cons.counted(prom, c, a, started, end) for a in addresses]
    if problem := next((p for p in parts if isinstance(p, str)), None):
        return problem
    by: dict[str, float] = {}
    for part in parts:
        for o, n in part.by_outcome.items():
            by[o] = by.get(o, 0.0) + n
    return cons.Counted(metric=parts[0].metric, target=", ".join(addresses), start=min(p.start for p in parts),
                        end=max(p.end for p in parts), total=sum(p.total for p in parts), by_outcome=by,
                        scrape_interval_s=parts[0].scrape_interval_s, instances=tuple(addresses))


def reconcile(c: Catalog, prom, addresses: list[str], entries: list[dict], started: float, end: float,
              shared: bool = False, history: list[tuple[float, int]] = (), users: int = 0) -> Check:
    """The run's reconciliation: Locust's authorize requests against the counter's increase from its first scrape
    at or after `started` to its last at or before `end` (the run's end plus the settle time, already waited), the
    calls at the window's opening (`at_the_edge`) as slack."""
    sent, acknowledged = authorizations(entries)
    truth = cons.GroundTruth(target=", ".join(addresses), start=started, end=end, sent=sent,
                             acknowledged={cons.ANY: acknowledged}, shared=shared)
    got = read(c, prom, addresses, started, end)
    if isinstance(got, str):
        return cons.reconcile(truth, got)
    check = cons.reconcile(replace(truth, target=got.target, start=got.start, end=got.end,
                                   in_flight=at_the_edge(list(history), got.start, users)), got)
    return alternating(prom, got, check)


def alternating(prom, got: cons.Counted, check: Check) -> Check:
    """The reconciliation, failed when the counter went backwards on an instance read while its process did not
    restart (moneypath.check.counter_resets): several workers answer its scrapes in turn, each drop is read as a
    reset, and whatever the total comes to (it may land near what was sent) is not data."""
    window = f"{max(1, math.ceil(got.end - got.start) + 1)}s"
    try:
        found = counter_resets.find(lambda expr: [(r.get("metric", {}), float(r["value"][1]))
                                                  for r in prom.instant(expr, got.end)],
                                    [got.metric, counter_resets.CPU_SECONDS], window, got.instances or None)
    except PrometheusError:
        return check
    if not found:
        return check
    f = check.figures
    ratio = f"{f['ratio']:.2f}; " if f.get("ratio") is not None else ""
    head = (f"the metrics counted {f['counted']:g} of {f['sent']} authorizations sent to {f['target']} "
            f"({ratio}{f['acknowledged']} acknowledged)")
    return Check(name=cons.NAME, outcome=FAIL, why=f"{head}: {found[0].reason()}", figures=check.figures)


def skipped(why: str = NOT_RECONCILED) -> Check:
    """The reconciliation of a run that reads nothing from Prometheus: shown, not judged."""
    return Check(name=cons.NAME, outcome=NOT_MEASURED, why=why, if_not_measured=IfNotMeasured.PASS)


def apply(gates: list[Gate], check: Check | None) -> list[Gate]:
    """The gates with the reconciliation applied: anything but pass leaves every gate read from Prometheus (and not
    skipped) not measured, its reason the reconciliation's line; Locust's own gates as they are."""
    if check is None or check.outcome is PASS or check.skipped:
        return gates
    line = check.why.removeprefix("not measured: ")
    return [Gate(g.name, g.title, g.source, NOT_MEASURED, g.observed, g.limit, not_measured(f"{g.title}: {line}"))
            if g.source == "prometheus" and not g.skipped else g for g in gates]


def as_dict(check: Check | None) -> dict | None:
    """result.json's `conservation` (and a capacity step's): outcome, the line and the figures."""
    if check is None:
        return None
    return {"outcome": check.outcome.value, "skipped": check.skipped, "line": check.why,
            "figures": json.loads(json.dumps(dict(check.figures), default=str))}


def line(data: dict | None, prefix: str = f"{TITLE}: ") -> str | None:
    """The line every report prints: "conservation of counts: PASS: the metrics counted ..."."""
    if not data:
        return None
    if data.get("skipped"):
        return f"{prefix}skip: {data['line'].removeprefix('not measured: ')}"
    return f"{prefix}{str(data['outcome']).upper()}: {data['line']}"


def step_status(check: Check | None, status, reasons: list[str]) -> tuple:
    """A capacity step's (status, reasons) with its reconciliation: a step whose counts do not reconcile is not
    measured (the knee is not read from it), the line first; what else it said stays, once."""
    if check is None or check.outcome is PASS or check.skipped:
        return status, reasons
    said = check.why.removeprefix("not measured: ")
    return NOT_MEASURED, [check.why, *(r for r in reasons if said not in r)]


def verdict_note(result: dict) -> str:
    """What a verdict adds when the counts did not reconcile: "; the metrics counted ...", else nothing."""
    data = result.get("conservation")
    if not data or data.get("skipped") or data["outcome"] == PASS:
        return ""
    return f"; {data['line'].removeprefix('not measured: ')}"


def for_run(c: Catalog, target: LoadTarget, prom_url: str, entries: list[dict], started: float, end: float,
            work: Path, users: int) -> Check:
    """`reconcile` against the target's Prometheus (its client opened and closed here), the run's per-second
    history read from `work`."""
    with Prometheus(prom_url) as prom:
        return reconcile(c, prom, scraped_addresses(target), entries, started, end, target.shared,
                         opened(work / "locust_stats_history.csv"), users)
