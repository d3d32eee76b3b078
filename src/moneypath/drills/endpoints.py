"""What a drill talks to, over HTTP (and SQL, read-only): the service, the fault proxy or the simulator,
Prometheus, Alertmanager, the pager and the ledger database — the local stack's or a staging environment's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx

from moneypath._common import prometheus


class TargetError(Exception):
    """A target did not answer as expected; the message is one line."""


@dataclass
class Target:
    service: str
    prometheus: str
    providersim: str | None = None
    faultproxy: str | None = None
    alertmanager: str | None = None
    pager: str | None = None
    db_url: str | None = None
    payments_token: str = ""  # for the drills whose requests use auth: minted
    admin_token: str | None = None
    started_stack: bool = False
    time_factor: float = 1.0  # how much faster than production the target's rules run
    instances: tuple[str, ...] = ()  # the service's other instances (one database): the load is spread over all
    probe_headroom: bool = False  # a team's target: probe it before a peak (load.peak.headroom) only when asked
    shared: bool = False  # it serves traffic of its own (staging): conservation of counts is one-sided

    @property
    def services(self) -> list[str]:
        return [self.service, *self.instances]
    stack_dir: str | None = None  # an HA stack's state directory (its stack.json): what replica_down may kill

    def describe(self) -> dict:
        return {"service": self.service, **({"instances": list(self.instances)} if self.instances else {}),
                "providersim": self.providersim, "faultproxy": self.faultproxy,
                "prometheus": self.prometheus,
                "alertmanager": self.alertmanager, "pager": self.pager, "started_stack": self.started_stack,
                "database": _redact(self.db_url), "time_factor": self.time_factor,
                **({"shared": True} if self.shared else {})}


def _redact(url: str | None) -> str | None:
    """A database URL without its password (the journal is shared)."""
    if not url or "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url


Series = list[tuple[dict[str, str], float]]


class DrillPrometheus(prometheus.Prometheus):
    """The common client with the drill's answers (labels and floats; series by legend) and its
    failures as TargetError, worded as drill journals have always recorded them."""

    def __init__(self, url: str, timeout_s: float = 10.0):
        super().__init__(url, timeout_s)

    def get(self, path: str, params: dict | None = None) -> Any:
        try:
            return super().get(path, params)
        except prometheus.PrometheusError as exc:
            if exc.cause is not None:
                raise TargetError(f"Prometheus {exc.url}{path}: {type(exc.cause).__name__}: {exc.cause}") from None
            kind = exc.error_type if exc.error_type is not None else exc.status
            raise TargetError(f"Prometheus: {kind}: {exc.error or ''}") from None

    def query(self, expr: str) -> Series:
        """An instant query as (labels, value) pairs; a scalar is one pair with no labels."""
        return [(r["metric"], _float(r["value"][1])) for r in self.instant(expr)]

    def query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, list[list[float]]]:
        out: dict[str, list[list[float]]] = {}
        for r in self.range(expr, start, end, step):
            points = [[float(t), _float(v)] for t, v in r["values"]]
            out[legend(r["metric"])] = [p for p in points if not math.isnan(p[1]) and not math.isinf(p[1])]
        return out


def legend(labels: dict[str, str]) -> str:
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    if not shown:
        return labels.get("__name__", "value")
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


class Pages:
    """Pages as on-call gets them: `moneypath pager` records, or Alertmanager's active alerts
    (with their receivers) when there is no pager to ask."""

    def __init__(self, pager: str | None, alertmanager: str | None, timeout_s: float = 10.0):
        self.pager = pager.rstrip("/") if pager else None
        self.alertmanager = alertmanager.rstrip("/") if alertmanager else None
        self.client = httpx.Client(timeout=timeout_s)
        self._seen_am: dict[tuple, float] = {}
        self.reads = self.failed_reads = 0  # of this run: a failed read may have hidden a page
        self.last_error = ""
        self.last_read_ok = False

    def close(self) -> None:
        self.client.close()

    @property
    def source(self) -> str:
        return "pager" if self.pager else "alertmanager" if self.alertmanager else "none"

    def records(self, now: float) -> list[dict]:
        """Every record so far: {received_at, receiver, status, alertname, labels, starts_at}; each read counted,
        and each that failed (see unread)."""
        self.reads += 1
        try:
            records = self._records(now)
        except TargetError as exc:
            self.failed_reads += 1
            self.last_error, self.last_read_ok = str(exc), False
            raise
        self.last_read_ok = True
        return records

    def unread(self) -> str | None:
        """Why the pages seen may not be every page sent in this run (no source, never read, a read failed), or
        None: a "nothing paged" on such a source is not measured."""
        url = self.pager or self.alertmanager
        if url is None:
            return "no page source (neither a pager nor Alertmanager given): no page could be seen"
        where = f"the pager at {_host(url)}" if self.pager else f"Alertmanager at {_host(url)}"
        if not self.reads:
            return f"{where} was never read"
        # The pager answers with every page so far, so a read that succeeds covers the ones that failed before it;
        # Alertmanager shows only what fires now, so any failed read may have hidden a page.
        if self.failed_reads and (self.alertmanager and not self.pager or not self.last_read_ok):
            return (f"{where} did not answer {self.failed_reads} of {self.reads} reads "
                    f"(last: {self.last_error.split(': ', 1)[-1][:120]})")
        return None

    def _records(self, now: float) -> list[dict]:
        if self.pager:
            try:
                r = self.client.get(f"{self.pager}/pages")
                r.raise_for_status()
                return r.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise TargetError(f"pager {self.pager}/pages: {type(exc).__name__}: {exc}") from None
        if self.alertmanager:
            return self._from_alertmanager(now)
        return []

    def _from_alertmanager(self, now: float) -> list[dict]:
        try:
            r = self.client.get(f"{self.alertmanager}/api/v2/alerts", params={"active": "true", "silenced": "false",
                                                                               "inhibited": "false"})
            r.raise_for_status()
            alerts = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TargetError(f"Alertmanager {self.alertmanager}: {type(exc).__name__}: {exc}") from None
        for alert in alerts:
            labels = alert.get("labels", {})
            for receiver in alert.get("receivers", []):
                key = (receiver.get("name"), tuple(sorted(labels.items())))
                self._seen_am.setdefault(key, now)
        return [{"received_at": t, "receiver": receiver, "status": "firing", "alertname": dict(labels).get("alertname", ""),
                 "labels": dict(labels), "starts_at": None, "source": "alertmanager"}
                for (receiver, labels), t in self._seen_am.items()]


def _host(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")
