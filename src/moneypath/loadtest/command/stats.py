"""Locust's statistics files → the figures the gates and the report use. Pure; no Locust import.

Reads the final stats (`--json-file`: one entry per request name and method, with the
response-time histogram Locust keeps) and the per-second history (`--csv-full-history`).
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from moneypath.loadtest.in_locust.request_names import (
    ATTEMPT,
    AUTHORIZES,
    CHECK,
    DUPLICATE_CHECK,
    FLOW,
    HTTP_METHODS,
    REFUSED,
    REPLAY_UNANSWERED,
    REQUESTED,
    RETRIED,
    SENT,
)

FINAL_BESIDE_FLOWS = ("capture", "refund", "payout")  # judged with the flows: not steps of one


def percentile(response_times: dict, q: float) -> float | None:
    """The q-quantile (0..1) of Locust's response-time histogram {rounded ms: count}, computed as Locust does."""
    counts = {float(k): int(v) for k, v in response_times.items()}
    total = sum(counts.values())
    if total == 0:
        return None
    below = int(total * q)
    processed = 0
    for value in sorted(counts, reverse=True):
        processed += counts[value]
        if total - processed <= below:
            return value
    return min(counts)


def merge(entries: list[dict]) -> dict[float, int]:
    merged: dict[float, int] = {}
    for e in entries:
        for k, v in e.get("response_times", {}).items():
            merged[float(k)] = merged.get(float(k), 0) + int(v)
    return merged


def provider_of(name: str) -> str | None:
    """'authorize [acme] (attempt)' and 'authorize [requested acme]' → 'acme'."""
    if "[" in name and "]" in name:
        return name[name.index("[") + 1:name.index("]")].removeprefix(REQUESTED)
    return None


def action_of(name: str) -> str:
    """'authorize [acme]' → authorize; a flow's authorizing step 'authorize:checkoutComplete [acme]' → authorize."""
    action = name.split(" ", 1)[0]
    return "authorize" if action.startswith(AUTHORIZES) else action


@dataclass
class NameRow:
    method: str
    name: str
    requests: int
    failures: int
    rps: float
    avg_ms: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float


@dataclass
class StepRow:
    """One step of a flow (its name without the provider), or the whole flow (`step` FLOW): over every provider
    judged."""
    step: str
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass
class Summary:
    duration_s: float
    http_requests: int          # every HTTP request Locust sent, retried attempts included
    http_failures: int
    rps: float                  # HTTP requests per second over the run
    judged_requests: int        # what the failure-ratio gate counts (final outcomes)
    judged_failures: int
    authorizations: int         # final authorize outcomes (judged provider only, when one is)
    authorize_rps: float
    authorize_p50_ms: float | None
    authorize_p95_ms: float | None
    authorize_p99_ms: float | None
    p99_ms: float | None        # every HTTP request
    duplicate_checks: int | None  # client-side replay checks made (retry storm), None when none ran
    duplicates_seen: int | None
    keys_completed: int | None = None      # keys a retrying client got an answer for (retry storm), each replay-checked
    replays_unanswered: int | None = None  # keys whose every replay attempt failed: not checked
    rows: list[NameRow] = field(default_factory=list)
    flows: int | None = None  # whole flows (request type FLOW) when the user's payment is a flow of steps
    flow_failures: int | None = None
    flow_rps: float | None = None
    flow_reasons: dict[str, int] = field(default_factory=dict)  # "<flow> [<provider>]: <step>: <reason>" → count
    flow_p50_ms: float | None = None  # whole flows, first step to last (Locust's clock)
    flow_p95_ms: float | None = None
    flow_p99_ms: float | None = None
    steps: list[StepRow] = field(default_factory=list)  # each step of a flow, over the providers
    warmup_note: str = ""  # set when the authorize_* latencies judge the steady part only: what was left out

    @property
    def failure_ratio(self) -> float | None:
        return self.judged_failures / self.judged_requests if self.judged_requests else None


def _duration(entries: list[dict]) -> float:
    starts = [e["start_time"] for e in entries if e.get("num_requests")]
    ends = [e["last_request_timestamp"] for e in entries if e.get("last_request_timestamp")]
    return max(ends) - min(starts) if starts and ends else 0.0


def is_final(method: str, name: str, judge_provider: str | None = None) -> bool:
    """A final outcome the gates judge: not a client check, not an attempt a client retried, of the judged
    provider when one is."""
    if method == CHECK or name.endswith(ATTEMPT):
        return False
    return judge_provider is None or provider_of(name) == judge_provider


def summarize(entries: list[dict], judge_provider: str | None = None, duration_s: float | None = None) -> Summary:
    http = [e for e in entries if e["method"] in SENT]
    duration = duration_s or _duration(http) or 1.0

    def judged(e: dict) -> bool:
        return is_final(e["method"], e["name"], judge_provider)

    final = [e for e in entries if judged(e)]
    flows = [e for e in final if e["method"] == FLOW]
    authorize = [e for e in final if action_of(e["name"]) == "authorize"]
    if flows:  # each flow judged once, not each of its steps; captures, refunds and payouts beside it
        final = flows + [e for e in final if e["method"] != FLOW and action_of(e["name"]) in FINAL_BESIDE_FLOWS]
    authorize_http = [e for e in authorize if e["method"] in HTTP_METHODS]
    auth_times = merge(authorize_http)
    checks = [e for e in entries if e["method"] == CHECK and e["name"] == DUPLICATE_CHECK]
    unanswered = [e for e in entries if e["method"] == CHECK and e["name"] == REPLAY_UNANSWERED]
    retried = [e for e in entries if e["method"] == RETRIED]
    rows = []
    for e in sorted(entries, key=lambda e: (e["method"], e["name"])):
        n = e["num_requests"]
        rows.append(NameRow(e["method"], e["name"], n, e["num_failures"], n / duration,
                            e["total_response_time"] / n if n else 0.0, percentile(e["response_times"], 0.5),
                            percentile(e["response_times"], 0.95), percentile(e["response_times"], 0.99),
                            e.get("max_response_time") or 0.0))
    flow_times = merge(flows)
    return Summary(
        duration_s=duration,
        http_requests=sum(e["num_requests"] for e in http),
        http_failures=sum(e["num_failures"] for e in http),
        rps=sum(e["num_requests"] for e in http) / duration,
        judged_requests=sum(e["num_requests"] for e in final),
        judged_failures=sum(e["num_failures"] for e in final),
        authorizations=sum(e["num_requests"] for e in authorize),
        authorize_rps=sum(e["num_requests"] for e in authorize) / duration,
        authorize_p50_ms=percentile(auth_times, 0.5),
        authorize_p95_ms=percentile(auth_times, 0.95),
        authorize_p99_ms=percentile(auth_times, 0.99),
        p99_ms=percentile(merge(http), 0.99),
        duplicate_checks=sum(e["num_requests"] for e in checks) if checks else None,
        duplicates_seen=sum(e["num_failures"] for e in checks) if checks else None,
        keys_completed=sum(e["num_requests"] - e["num_failures"] for e in retried) if retried else None,
        replays_unanswered=sum(e["num_requests"] for e in unanswered) if retried or unanswered else None,
        rows=rows,
        flows=sum(e["num_requests"] for e in flows) if flows else None,
        flow_failures=sum(e["num_failures"] for e in flows) if flows else None,
        flow_rps=sum(e["num_requests"] for e in flows) / duration if flows else None,
        flow_p50_ms=percentile(flow_times, 0.5) if flows else None,
        flow_p95_ms=percentile(flow_times, 0.95) if flows else None,
        flow_p99_ms=percentile(flow_times, 0.99) if flows else None,
        steps=step_rows(entries, judge_provider, duration) if flows else [],
    )


def step_rows(entries: list[dict], judge_provider: str | None, duration_s: float) -> list[StepRow]:
    """Each step of the flows (HTTP requests; the authorizing one "authorize:<step>"), then the whole flow (FLOW),
    over the providers judged: requests, failures, rate and latency percentiles."""
    by: dict[tuple[bool, str], list[dict]] = {}
    for e in entries:
        if e["method"] not in (*HTTP_METHODS, FLOW) or not is_final(e["method"], e["name"], judge_provider) \
                or action_of(e["name"]) in FINAL_BESIDE_FLOWS:
            continue
        by.setdefault((e["method"] == FLOW, e["name"].split(" [", 1)[0]), []).append(e)
    rows = []
    for (is_flow, step), group in sorted(by.items(), key=lambda kv: kv[0][0]):  # Locust's order (the flow's), FLOW last
        times, n = merge(group), sum(e["num_requests"] for e in group)
        rows.append(StepRow(f"{FLOW} {step}" if is_flow else step, n, sum(e["num_failures"] for e in group),
                            n / duration_s, percentile(times, 0.5), percentile(times, 0.95), percentile(times, 0.99)))
    return rows


def flow_failure_reasons(path: Path) -> dict[str, int]:
    """Why flows failed, from `<prefix>_failures.csv`: "<flow name> [<provider>]: <step>: <reason>" → count."""
    if not path.exists():
        return {}
    out: dict[str, int] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("Method") == FLOW:
                error = re.sub(r"^\w+\('(.*)'\)$", r"\1", row.get("Error") or "")
                key = f"{row.get('Name')}: {error}"
                out[key] = out.get(key, 0) + int(_num(row.get("Occurrences")) or 0)
    return out


def load_entries(path: Path) -> list[dict]:
    return json.loads(path.read_text())


def steady_entries(final: list[dict], warmup: list[dict]) -> list[dict]:
    """The entries of what came after the warm-up: counts and response-time histograms (requests per
    rounded ms) minus the warm-up's, per (method, name). Exact, as both are counts."""
    before = {(e["method"], e["name"]): e for e in warmup}
    out = []
    for e in final:
        w = before.get((e["method"], e["name"]))
        if w is None:
            out.append(e)
            continue
        times = {k: int(v) - int(w.get("response_times", {}).get(k, 0)) for k, v in e.get("response_times", {}).items()}
        out.append({**e, "num_requests": e["num_requests"] - w["num_requests"],
                    "num_failures": e["num_failures"] - w["num_failures"],
                    "total_response_time": e["total_response_time"] - w["total_response_time"],
                    "response_times": {k: v for k, v in times.items() if v > 0}})
    return out


@dataclass
class Tick:
    """One second of the run from the history CSV. Locust's aggregated row also counts what is no request (a whole
    FLOW, a client's CHECK, a RETRIED outcome): the rates and counts here are of the requests sent (SENT) and of the
    flows, from the per-name rows (--csv-full-history); the aggregated row's only without them."""
    t: float
    users: int
    rps: float                  # requests/s sent (Locust's rolling window)
    failures_per_s: float
    p50_ms: float | None        # the aggregated row's; with entries that are no request, the slowest request name's
    p95_ms: float | None
    p99_ms: float | None
    requests: int
    failures: int
    flows_per_s: float | None = None  # None: the run has no flows
    flow_p99_ms: float | None = None  # the slowest flow name's


def _num(text: str) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _max(values) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def history(path: Path) -> list[Tick]:
    """Per second of `<prefix>_stats_history.csv` (empty when not written yet): the requests sent and the flows,
    as Tick says."""
    if not path.exists():
        return []
    seconds: dict[float, tuple[dict, dict]] = {}  # second -> (aggregated row, (type, name) -> row): a later write wins
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            t = _num(row.get("Timestamp"))
            if t is None:
                continue
            aggregated, named = seconds.setdefault(t, ({}, {}))
            if row.get("Name") == "Aggregated":
                aggregated.update(row)
            else:
                named[(row.get("Type"), row.get("Name"))] = row
    return [_tick(t, aggregated, list(named.values())) for t, (aggregated, named) in sorted(seconds.items())
            if aggregated]


def _tick(t: float, aggregated: dict, named: list[dict]) -> Tick:
    def total(rows: list[dict], column: str) -> float:
        return sum(_num(r.get(column)) or 0.0 for r in rows)

    def slowest(rows: list[dict], column: str) -> float | None:  # a row with nothing in the window writes 0
        return _max(_num(r.get(column)) for r in rows if _num(r.get("Requests/s")))

    sent = [r for r in named if r.get("Type") in SENT]
    flows = [r for r in named if r.get("Type") == FLOW]
    users = int(_num(aggregated.get("User Count")) or 0)
    if not named or len(sent) == len(named):  # nothing but requests (or no per-name rows): the aggregated row is theirs
        return Tick(t, users, _num(aggregated.get("Requests/s")) or 0.0, _num(aggregated.get("Failures/s")) or 0.0,
                    *(_num(aggregated.get(q)) for q in ("50%", "95%", "99%")),
                    int(_num(aggregated.get("Total Request Count")) or 0),
                    int(_num(aggregated.get("Total Failure Count")) or 0))
    return Tick(t, users, total(sent, "Requests/s"), total(sent, "Failures/s"),
                *(slowest(sent, q) for q in ("50%", "95%", "99%")),
                int(total(sent, "Total Request Count")), int(total(sent, "Total Failure Count")),
                total(flows, "Requests/s") if flows else None, slowest(flows, "99%"))


@dataclass
class AuthorizationTick:
    """One second of the per-name history, authorizations only."""
    t: float
    total: int               # final authorize outcomes so far
    p99_ms: float | None     # the slowest authorize name's p99 over Locust's rolling 10 s window
    requests: int | None = None  # every request so far (the aggregated row), when the second has one


def authorization_history(path: Path, judge_provider: str | None = None) -> list[AuthorizationTick]:
    """Per second, from the per-name rows of `<prefix>_stats_history.csv` (--csv-full-history): the final
    authorize outcomes so far ("authorize [<provider>]" rows, as `summarize` counts them), their p99, and
    every request so far (the aggregated row)."""
    if not path.exists():
        return []
    totals: dict[float, int] = {}
    p99s: dict[float, float] = {}
    requests: dict[float, int] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            name, method = row.get("Name") or "", row.get("Type") or ""
            t = _num(row.get("Timestamp"))
            if t is not None and name == "Aggregated":
                requests[t] = int(_num(row.get("Total Request Count")) or 0)
            if t is None or name == "Aggregated" or action_of(name) != "authorize" \
                    or not is_final(method, name, judge_provider):
                continue
            totals[t] = totals.get(t, 0) + int(_num(row.get("Total Request Count")) or 0)
            if (p99 := _num(row.get("99%"))) is not None:
                p99s[t] = max(p99s.get(t, 0.0), p99)
    return [AuthorizationTick(t, totals[t], p99s.get(t), requests.get(t)) for t in sorted(totals)]


# A status in a failure's error text: the client writes "503 ledger-unavailable", Locust keeps it as
# CatchResponseError('503 ledger-unavailable'); a plain HttpUser's HTTPError('503 Server Error: ...').
_REFUSAL = re.compile(r"(?:^|[\s('\"])(?:429|503)(?=[\s'\")]|$)")


def refused_per_s(path: Path, duration_s: float) -> float:
    """HTTP requests answered 503 or 429 per second, from `<prefix>_failures.csv` (Method, Name, Error,
    Occurrences): the service shedding load rather than queueing it. 0 when the file was not written."""
    if not path.exists() or duration_s <= 0:
        return 0.0
    with path.open(newline="") as f:
        n = sum(int(_num(row.get("Occurrences")) or 0) for row in csv.DictReader(f)
                if row.get("Method") == REFUSED
                or (row.get("Method") in HTTP_METHODS and _REFUSAL.search(row.get("Error") or "")))
    return n / duration_s
