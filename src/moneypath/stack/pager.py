"""`moneypath pager`: an Alertmanager webhook receiver that records every page and resolve.

POST /hooks/{receiver}   Alertmanager webhook (version 4) → one record per alert
GET  /pages              records as JSON; filter with ?receiver=&alertname=&status=
GET  /healthz

Each record is appended to a JSON-lines journal before it is acknowledged, so a crash
loses nothing Alertmanager believes delivered (it retries what we did not acknowledge).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from moneypath._common.problem import problem


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

    def query(self, **filters: str) -> list[dict]:
        with self._lock:
            return [r for r in self.records if all(r.get(k) == v for k, v in filters.items() if v)]


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


def create_app(journal_path: Path | None = None) -> Starlette:
    journal = PageJournal(journal_path)

    async def hook(request: Request):
        receiver = request.path_params["receiver"]
        try:
            payload = json.loads(await request.body())
            records = records_from(receiver, payload, time.time())
        except (ValueError, UnicodeDecodeError) as exc:
            return problem(400, "bad-webhook", "Not an Alertmanager webhook", str(exc).splitlines()[0])
        journal.add(records)
        return JSONResponse({"recorded": len(records)})

    async def pages(request: Request):
        q = request.query_params
        return JSONResponse(journal.query(receiver=q.get("receiver", ""), alertname=q.get("alertname", ""),
                                          status=q.get("status", "")))

    async def healthz(request: Request):
        return JSONResponse({"status": "ok", "pages": len(journal.records)})

    async def not_found(request: Request, exc):
        return problem(404, "not-found", "Not found", f"no route for {request.method} {request.url.path}")

    async def not_allowed(request: Request, exc):
        return problem(405, "method-not-allowed", "Method not allowed",
                       f"{request.method} is not allowed on {request.url.path}")

    app = Starlette(routes=[Route("/hooks/{receiver}", hook, methods=["POST"]), Route("/pages", pages),
                            Route("/healthz", healthz)],
                    exception_handlers={404: not_found, 405: not_allowed})
    app.state.journal = journal
    return app


def serve(host: str, port: int, journal_path: Path | None) -> None:
    import uvicorn

    uvicorn.run(create_app(journal_path), host=host, port=port, log_level="warning", access_log=False)
