"""Readiness as Prometheus series: `moneypath readiness serve` (an exporter) and `--textfile` (node_exporter's
textfile collector), names in moneypath.catalog.conventions.READINESS_METRICS, labelled with the catalog's
`service` and the paging alert's full name.

The history is read when it changed (its records directory's entries), never walked on every scrape; the age of a
pass is Prometheus' business (`time() - last pass`), so a drill goes stale on its clock without a new scrape
value. A history whose chain does not verify exports no runs at all, and `history_verified` 0: every paging alert
then reads as never rehearsed (not measured), never as ready.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from moneypath._common.atomic import write_text
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import READINESS_ALERT_LABEL, READINESS_METRICS, READINESS_RUN_LABEL
from moneypath.check.rehearsals import AlertReadinessStatus, policy_of, readiness
from moneypath.readiness.history import HistoryError, read

HELP = {
    "last_pass": "Unix time the paging alert last passed a drill (ended); absent when it never has, when a later "
                 "run of that drill failed, or when its pages reach no delivery (not ready).",
    "policy": "How recently the paging alert must have passed a drill (catalog readiness.policy_days), seconds.",
    "page_deadline": "How fast the paging alert must page in real time, seconds; absent when nothing says.",
    "time_to_page": "Real-time seconds from fault to page in a recent drill (run 1 the newest).",
    "time_to_diagnose": "Real-time seconds until the runbook's diagnosis held in a recent drill (run 1 the newest).",
    "time_to_recover": "Real-time seconds until the service recovered in a recent drill (run 1 the newest).",
    "run_started": "Unix time a recent drill of the paging alert started (run 1 the newest).",
    "records": "Records in the drill history the exporter read.",
    "history_verified": "1 when the drill history's chain verified, else 0 (then no runs are exported).",
}


class HistoryView:
    """The history's records and the readiness judged from them, re-read when the records directory changes."""

    def __init__(self, catalog: Catalog, history_dir: Path, root: Path, environment: str | None = None):
        self.catalog, self.history_dir, self.root, self.environment = catalog, Path(history_dir), Path(root), environment
        self._lock = threading.Lock()
        self._seen: object = None
        self.records: list[dict] = []
        self.verified = True
        self.problem = ""

    def _signature(self) -> object:
        records = self.history_dir / "records"
        try:
            return tuple(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in os.scandir(records)))
        except OSError:
            return None

    def refresh(self) -> None:
        with self._lock:
            seen = self._signature()
            if seen == self._seen and self._seen is not None:
                return
            if seen is None:  # no history yet: nothing rehearsed, which is what the series say
                self.records, self.verified, self.problem = [], True, ""
            else:
                try:
                    records = read(self.history_dir)
                except HistoryError as exc:
                    self.records, self.verified, self.problem = [], False, str(exc)
                else:
                    self.records, self.verified, self.problem = records, True, ""
            if self.environment is not None:
                self.records = [r for r in self.records if r.get("environment") == self.environment]
            self._seen = seen

    def judged(self, now: float | None = None) -> list[AlertReadinessStatus]:
        self.refresh()
        return readiness(self.catalog, self.records, self.root, time.time() if now is None else now)


class ReadinessCollector:
    def __init__(self, view: HistoryView):
        self.view = view

    def collect(self):
        c = self.view.catalog
        alerts = self.view.judged()
        per_alert = ("service", READINESS_ALERT_LABEL)
        per_run = (*per_alert, READINESS_RUN_LABEL)
        fam = {k: GaugeMetricFamily(READINESS_METRICS[k], HELP[k], labels=per_alert)
               for k in ("last_pass", "policy", "page_deadline")}
        fam |= {k: GaugeMetricFamily(READINESS_METRICS[k], HELP[k], labels=per_run)
                for k in ("time_to_page", "time_to_diagnose", "time_to_recover", "run_started")}
        keep = 2 * policy_of(c).trend.runs  # what the TimeToPageCreeping rule compares
        for a in alerts:
            labels = (c.service, a.alert)
            fam["policy"].add_metric(labels, a.policy_s)
            if a.deadline_s is not None:
                fam["page_deadline"].add_metric(labels, a.deadline_s)
            if a.last_pass is not None and not a.blocked:  # a pass that does not stand is no pass (ReadinessLapsed)
                fam["last_pass"].add_metric(labels, a.last_pass)
            for i, run in enumerate(a.runs[:keep], start=1):
                run_labels = (*labels, str(i))
                fam["run_started"].add_metric(run_labels, run.started_at)
                for k in ("time_to_page", "time_to_diagnose", "time_to_recover"):
                    value = getattr(run, f"{k}_s")
                    if value is not None:  # not measured is an absent series, never a zero
                        fam[k].add_metric(run_labels, value)
        yield from fam.values()
        for k, value in (("records", len(self.view.records)), ("history_verified", int(self.view.verified))):
            family = GaugeMetricFamily(READINESS_METRICS[k], HELP[k], labels=("service",))
            family.add_metric((c.service,), value)
            yield family


def registry(view: HistoryView) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(ReadinessCollector(view))
    return reg


def write_textfile(view: HistoryView, path: Path) -> None:
    """The exposition once, replaced atomically (node_exporter's textfile collector reads *.prom files)."""
    write_text(Path(path), generate_latest(registry(view)).decode("utf-8"))


def serve(view: HistoryView, host: str, port: int):
    """Serve /metrics on host:port from a thread; returns (server, thread) (server.shutdown() stops it)."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=host, registry=registry(view))
