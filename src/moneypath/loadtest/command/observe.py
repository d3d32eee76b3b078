"""What Prometheus saw during a load-test run: the service's own signals, by catalog name.

Every metric name comes from the catalog (`c.metric`); SLI selectors from the SLOs. The
window is the run itself: `increase(...[<run>s])` evaluated at the end of the run plus one
scrape, so the last samples are in. Nothing is asked about a feature the catalog switches off
(no cost query without the cost feature, no reconciliation wait without reconciliation).
"""

from __future__ import annotations

import math
import time

import yaml

from moneypath._common import yamlio
from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath.catalog import Catalog, Selector, duration_seconds
from moneypath.catalog.conventions import LOCUST_METRICS
from moneypath.check.detector_runs import unseen_detectors
from moneypath.formats.scenarios import availability_slo, latency_slo
from moneypath.loadtest.command.gates import MONEY_SIGNALS, GateThresholds, PromObservations, SignalError, money_signals


class ObserveError(Exception):
    pass


# The gates that read a detector's output (a zero only its job can make), by the MONEY_SIGNALS role they read.
DETECTED_GATES = {"duplicate_charges": "duplicate_charges", "ledger_balanced": "ledger_imbalance",
                  "reconciliation": "reconciliation_age"}


def scrape_interval_s(prom_url: str) -> float:
    """The Prometheus' global scrape interval (its config over the API); 15 s when it cannot tell."""
    try:
        with Prometheus(prom_url, timeout_s=5) as prom:
            config = yamlio.load(prom.config_yaml())
        return duration_seconds(config["global"]["scrape_interval"])
    except (PrometheusError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return 15.0


def selector(c: Catalog, sel: Selector, extra: dict[str, str] | None = None, suffix: str = "") -> str:
    matchers = [f'{m.label}{m.op}"{m.value}"' for m in sel.matchers]
    matchers += [f'{k}="{v}"' for k, v in (extra or {}).items()]
    return c.metric(sel.signal) + suffix + ("{" + ",".join(matchers) + "}" if matchers else "")


def _scalar(result: list[dict]) -> float | None:
    if not result:
        return None
    v = float(result[0]["value"][1])
    return None if math.isnan(v) else v


class Observer:
    def __init__(self, c: Catalog, prom_url: str):
        self.c, self.prom = c, Prometheus(prom_url)
        self.url = prom_url
        try:
            self.names = money_signals(c)
        except SignalError as exc:
            raise ObserveError(str(exc)) from None
        lat, avail = latency_slo(c), availability_slo(c)
        self.latency_hist = c.metric(lat[1].sli.latency.signal) if lat else None
        self.authorizations = c.metric(avail[1].total.signal) if avail else None

    def signal(self, role: str) -> str | None:
        """The metric a role of MONEY_SIGNALS reads, None while its feature is off: every query of a feature's
        signal asks this first, so a catalog without the feature is asked nothing about it (and nothing raises)."""
        return self.names.get(role)

    def q(self, query: str, at: float) -> list[dict]:
        try:
            return self.prom.instant(query, at)
        except PrometheusError as exc:
            raise ObserveError(str(exc)) from None

    def scalar(self, query: str, at: float) -> float | None:
        return _scalar(self.q(query, at))

    def observe(self, start: float, end: float, thr: GateThresholds, provider: str | None,
                expect_circuit_open: str | None) -> PromObservations:
        """Instant queries over [start, end]; `end` must already include one scrape after the run."""
        c = self.c
        window = f"{max(1, math.ceil(end - start))}s"
        extra = {"provider": provider} if provider else {}
        out = PromObservations()
        if self.latency_hist is not None:
            hist = self.latency_hist
            sel = "{" + ",".join(f'{k}="{v}"' for k, v in extra.items()) + "}" if extra else ""
            out.p99_s = self.scalar(f"histogram_quantile(0.99, sum by (le) (increase({hist}_bucket{sel}[{window}])))",
                                    end)
        avail = availability_slo(c)
        if avail is not None:
            slo = avail[1]
            good = f"sum(increase({selector(c, slo.good, extra)}[{window}]))"
            total = f"sum(increase({selector(c, slo.total, extra)}[{window}]))"
            out.authorizations = self.scalar(total, end)
            if out.authorizations:
                out.error_ratio = self.scalar(f"1 - {good} / {total}", end)
        if dup := self.signal("duplicate_charges"):
            out.duplicate_charges = self.scalar(f"sum(increase({dup}[{window}]))", end)
        if imb := self.signal("ledger_imbalance"):
            worst = max(((abs(float(r["value"][1])), r.get("metric", {}).get("currency"))
                         for fn in ("max_over_time", "min_over_time")
                         for r in self.q(f"{fn}({imb}[{window}])", end)),
                        key=lambda pair: pair[0], default=None)
            if worst is not None:
                out.ledger_imbalance_max_abs = worst[0]
                out.ledger_imbalance_currency = worst[1] if worst[0] else None
        if expect_circuit_open and (state := self.signal("circuit_state")):
            out.circuit_max = self.scalar(f'max(max_over_time({state}{{provider="{expect_circuit_open}"}}[{window}]))',
                                          end)
        out.locust_series = len(self.q(f"max_over_time({LOCUST_METRICS['requests']}[{window}])", end))
        if self.authorizations is not None and (cost := self.signal("cost")):
            auth = self.authorizations
            out.cost_per_authorization_usd = self.scalar(
                f"sum(increase({cost}[{window}])) / sum(increase({auth}[{window}]))", end)
        out.unseen = self.unseen(start, end)
        return out

    def unseen(self, start: float, end: float) -> dict[str, str]:
        """Gate name -> why the zero it reads is no evidence: its detector's heartbeat did not advance in the run."""
        keys = {gate: MONEY_SIGNALS[role] for gate, role in DETECTED_GATES.items() if self.signal(role)}
        lines = unseen_detectors(self.c, self.prom.instant, keys.values(), start, end)
        return {gate: lines[key] for gate, key in keys.items() if key in lines}

    def wait_reconciled(self, out: PromObservations, run_end: float, within_s: float, progress=None,
                        poll_s: float = 1.0) -> None:
        """Poll the oldest unreconciled capture's age until it is 0 or `within_s` after the run passed;
        nothing to wait for when the catalog has no reconciliation."""
        age = self.signal("reconciliation_age")
        if age is None:
            return
        gauge = f"max({age})"
        deadline = run_end + within_s
        last_said = 0.0
        while True:
            now = time.time()
            value = self.scalar(gauge, now)
            out.oldest_unreconciled_s = value
            if value is not None and value <= 0:
                out.caught_up_after_s = max(0.0, now - run_end)
                return
            if now >= deadline:
                return
            if progress and now - last_said >= 5:
                progress(f"waiting for reconciliation: oldest capture unreconciled for "
                         f"{'?' if value is None else f'{value:.0f}'} s")
                last_said = now
            time.sleep(min(poll_s, max(0.0, deadline - now)))

    def series(self, start: float, end: float, provider: str | None) -> dict[str, list[tuple[float, float]]]:
        """Service-side time series for the report's plots: authorization rate and p99."""
        step = max(1.0, (end - start) / 300)
        rng = f"{max(2, int(step * 4))}s"
        auth, hist = self.authorizations, self.latency_hist
        sel = f'{{provider="{provider}"}}' if provider else ""
        queries = {}
        if auth is not None:
            queries["service authorizations/s"] = f"sum(rate({auth}{sel}[{rng}]))"
        if hist is not None:
            queries["service p99 (s)"] = f"histogram_quantile(0.99, sum by (le) (rate({hist}_bucket{sel}[{rng}])))"
        out = {}
        for name, query in queries.items():
            try:
                result = self.prom.range(query, start, end, step)
            except PrometheusError:
                continue
            out[name] = [(float(t), float(v)) for t, v in result[0]["values"]] if result else []
        return out
