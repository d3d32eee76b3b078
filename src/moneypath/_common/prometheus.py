"""The Prometheus HTTP API client (httpx): instant and range queries, active alerts and scrape targets, the
running config, and a config reload.

Every failure is a PrometheusError with a one-line message. It also keeps what went wrong (the
exception, or the refusal: the HTTP status and Prometheus' errorType and error), so that a caller with its
own error type can word it as its users have always read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@dataclass(frozen=True)
class PrometheusRefusal:
    """How Prometheus answered a request it did not serve: the HTTP status, and the body's errorType and error
    when it had them (a reload's refusal keeps its plain-text body in `error`)."""

    status: int
    error_type: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class QueryRange:
    """The times a range query reads: from `start` to `end`, a point every `step` seconds."""

    start: float
    end: float
    step: float


class PrometheusError(Exception):
    """Prometheus could not be reached, or refused or garbled an answer; str() is one line."""

    def __init__(self, message: str, *, url: str, path: str, query: str | None = None,
                 cause: Exception | None = None, refusal: PrometheusRefusal | None = None):
        super().__init__(message)
        self.url, self.path, self.query = url, path, query
        self.cause = cause  # the transport error, or the JSON error of a body that was not JSON
        self.refusal = refusal  # None when Prometheus was not reached

    @property
    def status(self) -> int | None:
        return self.refusal.status if self.refusal else None

    @property
    def error_type(self) -> str | None:
        return self.refusal.error_type if self.refusal else None

    @property
    def error(self) -> str | None:
        return self.refusal.error if self.refusal else None


class Prometheus:
    """`Prometheus(url)`; `with Prometheus(url) as prom:` closes its connections at the end."""

    def __init__(self, url: str, timeout_s: float = 15.0):
        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, path: str, params: dict | None = None) -> Any:
        """The "data" of a successful answer to GET <url><path>; PrometheusError otherwise."""
        query = (params or {}).get("query")
        where = dict(url=self.url, path=path, query=query)
        try:
            r = self.client.get(f"{self.url}{path}", params=params)
        except httpx.HTTPError as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {type(exc).__name__}", cause=exc,
                                  **where) from None
        try:
            body, cause = r.json(), None
        except ValueError as exc:
            body, cause = None, exc
        if r.status_code == 200 and isinstance(body, dict) and body.get("status") == "success" and "data" in body:
            return body["data"]
        body = body if isinstance(body, dict) else {}
        error = body.get("error")
        detail = _one_line(r.text[:200] if error is None else error)
        what = path if query is None else repr(query)
        raise PrometheusError(f"Prometheus at {self.url} refused {what}: {detail}",
                              cause=cause, refusal=PrometheusRefusal(r.status_code, body.get("errorType"),
                                                                     None if error is None else str(error)),
                              **where)

    def instant(self, query: str, at: float | None = None) -> list[dict]:
        """An instant query's samples ({"metric", "value": [t, "v"]}); a scalar is one sample without labels."""
        data = self.get("/api/v1/query", {"query": query} | ({"time": at} if at is not None else {}))
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def range(self, query: str, start: float, end: float, step: float) -> list[dict]:
        """A range query's series ({"metric", "values": [[t, "v"], ...]})."""
        return self.get("/api/v1/query_range", {"query": query, "start": start, "end": end, "step": step})["result"]

    def alerts(self) -> list[dict]:
        """The alerts Prometheus has pending or firing."""
        return self.get("/api/v1/alerts")["alerts"]

    def config_yaml(self) -> str:
        """The configuration Prometheus runs with, as YAML text."""
        return self.get("/api/v1/status/config")["yaml"]

    def targets(self) -> list[dict]:
        """The targets Prometheus scrapes (activeTargets: labels, health, lastError...)."""
        return self.get("/api/v1/targets")["activeTargets"]

    def reload(self) -> None:
        """Reload the configuration files (POST /-/reload: Prometheus runs with --web.enable-lifecycle).
        A refusal keeps Prometheus' answer, plain text, in `error`."""
        path = "/-/reload"
        try:
            r = self.client.post(f"{self.url}{path}")
        except httpx.HTTPError as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {type(exc).__name__}", cause=exc,
                                  url=self.url, path=path) from None
        if r.status_code != 200:
            raise PrometheusError(f"Prometheus at {self.url} refused {path}: {r.status_code} {_one_line(r.text[:200])}",
                                  refusal=PrometheusRefusal(r.status_code, error=r.text), url=self.url, path=path)
