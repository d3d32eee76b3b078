"""`moneypath pager`: an Alertmanager webhook receiver that records every page and resolve.

POST /hooks/{receiver}   Alertmanager webhook (version 4) → one record per alert
GET  /pages              records as JSON, oldest first; filter with ?receiver=&alertname=, and
                         ?status=firing|resolved: the alerts firing (resolved) now, the newest record of each
                         alert (receiver + fingerprint) whose latest word is that; ?event=firing|resolved: every
                         record of that kind, as received (when each page and resolve arrived: drills, tests)
GET  /watchdog           the dead man's switch: {status: ok|late|never, last_seen, age_s, timeout_s, replicas}
GET  /healthz

Deliveries to the watchdog receiver are heartbeats, not pages: they update the last-seen time (kept in
`<journal>.watchdog` across restarts) and never enter the journal. When none arrives for the timeout the
pager says so on stderr once, and again when the heartbeat resumes. Behind a Prometheus pair each
heartbeat names the replicas it comes from (label `heartbeat_from`): one that stops beating while the other
goes on is reported the same way, so half the monitoring down is not silent.

Each record is appended to a JSON-lines journal before it is acknowledged, so a crash
loses nothing Alertmanager believes delivered (it retries what we did not acknowledge). A pager started
again on the same journal goes on from it; `moneypath up` sets an earlier stack's journal aside first
(set_aside), so a new stack starts with no pages and the old ones stay readable beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from moneypath._common.atomic import replacing
from moneypath._common.problem import problem
from moneypath.catalog.conventions import HEARTBEAT_FROM_LABEL

DEFAULT_WATCHDOG_RECEIVER = "deadmans-switch"
DEFAULT_WATCHDOG_TIMEOUT_S = 180.0  # three missed heartbeats at the production repeat interval (1m)


class PageJournal:
    """Pages in memory, mirrored to an append-only JSON-lines file."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self.records: list[dict] = []
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self.records.append(json.loads(line))

    def add(self, records: list[dict]) -> None:
        with self._lock:
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as f:
                    for record in records:
                        f.write(json.dumps(record, sort_keys=True) + "\n")
                    f.flush()
            self.records.extend(records)

    def query(self, status: str = "", event: str = "", **filters: str) -> list[dict]:
        """Records matching `filters` (and `event`, a record's own status); with `status`, only the newest record
        of each alert, when its status is that: what is firing (or resolved) now."""
        with self._lock:
            records = [r for r in self.records if all(r.get(k) == v for k, v in {**filters, "status": event}.items()
                                                       if v)]
        if not status:
            return records
        latest: dict[tuple, dict] = {}
        for record in records:  # in the order each alert last changed
            latest.pop(key := alert_key(record), None)
            latest[key] = record
        return [r for r in latest.values() if r.get("status") == status]


STATUSES = ("firing", "resolved")


def alert_key(record: dict) -> tuple:
    """One alert at one receiver: Alertmanager's fingerprint, or its labels when a record has none."""
    return (record.get("receiver"), record.get("fingerprint") or tuple(sorted((record.get("labels") or {}).items())))


def set_aside(journal: Path, now: float | None = None) -> Path | None:
    """Rename an earlier journal holding pages (and its watchdog file) to `<stem>-<UTC time>.jsonl` beside it, so a
    pager started on `journal` begins empty; where it went, or None when there was nothing to keep (an empty one
    is removed)."""
    heartbeat = journal.with_name(journal.name + ".watchdog")
    if not journal.exists() or journal.stat().st_size == 0:
        journal.unlink(missing_ok=True)
        heartbeat.unlink(missing_ok=True)
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    kept = journal.with_name(f"{journal.stem}-{stamp}{journal.suffix}")
    n = 1
    while kept.exists():  # two stacks in one second
        n += 1
        kept = journal.with_name(f"{journal.stem}-{stamp}-{n}{journal.suffix}")
    journal.rename(kept)
    if heartbeat.exists():
        heartbeat.rename(kept.with_name(kept.name + ".watchdog"))
    return kept


class Heartbeat:
    """When the watchdog last arrived (from each replica, behind a pair), and whether it is late. `clock` and
    `say` are injectable for tests."""

    def __init__(self, path: Path | None, timeout_s: float, clock: Callable[[], float] = time.time,
                 say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)):
        self.path, self.timeout_s, self.clock, self.say = path, timeout_s, clock, say
        self.started = clock()
        self.last_seen: float | None = None
        self.replicas: dict[str, float] = {}  # replica → when its heartbeat last came
        self.reported_late: set[str] = set()  # "" for the heartbeat as a whole
        if path is not None and path.exists():
            with contextlib.suppress(ValueError, OSError, TypeError, AttributeError):
                saved = json.loads(path.read_text(encoding="utf-8"))
                self.last_seen = float(saved["last_seen"])
                self.replicas = {str(k): float(v) for k, v in saved.get("replicas", {}).items()}

    def beat(self, replicas: list[str] = ()) -> None:
        now = self.clock()
        for name in ("", *replicas):
            if name in self.reported_late:
                last = self.last_seen if not name else self.replicas.get(name)
                what = "heartbeat" if not name else f"heartbeat from replica {name}"
                self.say(f"watchdog: {what} again after {now - (last or self.started):.0f} s")
                self.reported_late.discard(name)
        self.last_seen = now
        self.replicas.update(dict.fromkeys(replicas, now))
        if self.path is not None:
            with replacing(self.path) as f:
                json.dump({"last_seen": now, "replicas": self.replicas}, f)

    def state(self) -> dict:
        now = self.clock()
        age = None if self.last_seen is None else now - self.last_seen
        if age is None:
            status = "never"
        else:
            status = "late" if age > self.timeout_s else "ok"
        # rounded up: a heartbeat 16.04 s old against a 16 s timeout is late, and must not read "16.0 s"
        return {"status": status, "last_seen": self.last_seen,
                "age_s": None if age is None else math.ceil(age * 10) / 10, "timeout_s": self.timeout_s,
                "replicas": {name: {"status": "late" if now - t > self.timeout_s else "ok",
                                    "age_s": math.ceil((now - t) * 10) / 10}
                             for name, t in sorted(self.replicas.items())}}

    def check(self) -> None:
        """Say once that the heartbeat is late (or never came within the timeout of starting), and once for
        each replica whose heartbeat stopped while another's goes on."""
        now = self.clock()
        silent_for = now - (self.last_seen if self.last_seen is not None else self.started)
        if silent_for > self.timeout_s and "" not in self.reported_late:
            since = "no heartbeat" if self.last_seen is not None else "no heartbeat since the pager started"
            self.say(f"watchdog: {since} for {silent_for:.0f} s (timeout {self.timeout_s:g} s): Prometheus, "
                     "its rules or Alertmanager may be down")
            self.reported_late.add("")
        for name, t in self.replicas.items():
            if now - t > self.timeout_s and name not in self.reported_late:
                self.say(f"watchdog: no heartbeat from replica {name} for {now - t:.0f} s (timeout "
                         f"{self.timeout_s:g} s): that Prometheus is down or cannot reach Alertmanager")
                self.reported_late.add(name)


def records_from(receiver: str, payload: dict, received_at: float) -> list[dict]:
    """Alertmanager's webhook body → one record per alert. Raises ValueError on a bad body."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise ValueError("expected an Alertmanager webhook body with an 'alerts' list")
    out = []
    for alert in payload["alerts"]:
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise ValueError("every alert needs a 'labels' object")
        labels = alert["labels"]
        out.append({
            "received_at": received_at,
            "receiver": receiver,
            "status": alert.get("status", payload.get("status", "firing")),
            "alertname": labels.get("alertname", ""),
            "severity": labels.get("severity", ""),
            "labels": labels,
            "annotations": alert.get("annotations", {}),
            "starts_at": alert.get("startsAt"),
            "ends_at": alert.get("endsAt"),
            "fingerprint": alert.get("fingerprint"),
            "group_key": payload.get("groupKey"),
        })
    return out


def create_app(journal_path: Path | None = None, watchdog_receiver: str = DEFAULT_WATCHDOG_RECEIVER,
               watchdog_timeout_s: float = DEFAULT_WATCHDOG_TIMEOUT_S, heartbeat: Heartbeat | None = None) -> Starlette:
    journal = PageJournal(journal_path)
    heartbeat = heartbeat or Heartbeat(journal_path.with_name(journal_path.name + ".watchdog") if journal_path
                                       else None, watchdog_timeout_s)

    async def hook(request: Request):
        receiver = request.path_params["receiver"]
        try:
            payload = json.loads(await request.body())
            records = records_from(receiver, payload, time.time())
        except (ValueError, UnicodeDecodeError) as exc:
            return problem(400, "bad-webhook", "Not an Alertmanager webhook", str(exc).splitlines()[0])
        if receiver == watchdog_receiver:
            heartbeat.beat(sorted({r["labels"][HEARTBEAT_FROM_LABEL] for r in records
                                   if r["status"] == "firing" and r["labels"].get(HEARTBEAT_FROM_LABEL)}))
            return JSONResponse({"heartbeat": heartbeat.last_seen})
        journal.add(records)
        return JSONResponse({"recorded": len(records)})

    async def watchdog(request: Request):
        return JSONResponse({"receiver": watchdog_receiver, **heartbeat.state()})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async def watch():
            while True:
                heartbeat.check()
                await asyncio.sleep(1)

        task = asyncio.create_task(watch())
        try:
            yield
        finally:
            task.cancel()

    async def pages(request: Request):
        q = request.query_params
        for key in ("status", "event"):
            if q.get(key, "") not in ("", *STATUSES):
                return problem(400, "invalid-query", "Invalid query",
                               f"?{key}={q[key]}: expected one of {', '.join(STATUSES)}")
        return JSONResponse(journal.query(receiver=q.get("receiver", ""), alertname=q.get("alertname", ""),
                                          status=q.get("status", ""), event=q.get("event", "")))

    async def healthz(request: Request):
        return JSONResponse({"status": "ok", "pages": len(journal.records)})

    async def not_found(request: Request, exc):
        return problem(404, "not-found", "Not found", f"no route for {request.method} {request.url.path}")

    async def not_allowed(request: Request, exc):
        return problem(405, "method-not-allowed", "Method not allowed",
                       f"{request.method} is not allowed on {request.url.path}")

    app = Starlette(routes=[Route("/hooks/{receiver}", hook, methods=["POST"]), Route("/pages", pages),
                            Route("/watchdog", watchdog), Route("/healthz", healthz)],
                    exception_handlers={404: not_found, 405: not_allowed}, lifespan=lifespan)
    app.state.journal = journal
    app.state.heartbeat = heartbeat
    return app


def serve(host: str, port: int, journal_path: Path | None, watchdog_receiver: str = DEFAULT_WATCHDOG_RECEIVER,
          watchdog_timeout_s: float = DEFAULT_WATCHDOG_TIMEOUT_S) -> None:
    import uvicorn

    uvicorn.run(create_app(journal_path, watchdog_receiver, watchdog_timeout_s), host=host, port=port,
                log_level="warning", access_log=False)
