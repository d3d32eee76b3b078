"""A Prometheus stand-in for the canary judge's unit tests: it answers the judge's query shapes (the selector
pre-check, the process start, `sum by (x) (increase(m{…}[Ns]))` and differences of them, the exact growth
`max_over_time - min_over_time`, gauge extremes, the scrapes `max(count_over_time(m{…}[Ns]))`, and range queries of
one raw counter sum `sum (m{…})`, the growth spread over the range's steps) from a list of series with their growth
in the window.
`install(monkeypatch, fake)` puts it where the judge opens its Prometheus client."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from moneypath._common.prometheus import PrometheusError
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key

_TERM = re.compile(r"(increase|max_over_time|min_over_time)\(([a-zA-Z_:][\w:]*)\{([^}]*)\}\[\d+m?s\]\)")
_MATCHER = re.compile(r'(\w+)(=~|!~|!=|=)"((?:[^"\\]|\\.)*)"')
_RAW = re.compile(r"^sum \(([a-zA-Z_:][\w:]*)\{([^}]*)\}\)$")
_BY = re.compile(r"^(?:sum|max|min) by \((\w+)\)")
_HEARTBEAT = re.compile(r"^max\(([a-zA-Z_:][\w:]*)\{([^}]*)\}\)$")


@dataclass
class Series:
    name: str
    labels: dict
    grew: float = 0.0  # how much a counter grew in the window
    low: float = 0.0  # a gauge's lowest and highest value in the window
    high: float = 0.0
    wobble: float = 0.0  # in a range query, the growth of step k is scaled by 1 +- wobble, alternately
    reset_at: int | None = None  # in a range query, the counter restarts from 0 just before this point
    ran_at: float | None = None  # a detector's heartbeat: its last run (None: at the time of the query)


def _matches(labels: dict, matchers: str) -> bool:
    for label, op, value in _MATCHER.findall(matchers):
        have = labels.get(label, "")
        ok = {"=": have == value, "!=": have != value, "=~": re.fullmatch(value, have) is not None,
              "!~": re.fullmatch(value, have) is None}[op]
        if not ok:
            return False
    return True


@dataclass
class FakePrometheus:
    series: list[Series] = field(default_factory=list)
    start: float | None = None  # process_start_time_seconds of the canary
    down: bool = False
    queries: list[str] = field(default_factory=list)
    scrape_s: float = 5.0  # every series scraped this often: count_over_time answers window / scrape_s + 1
    ranges: list[tuple] = field(default_factory=list)  # (start, end, step) of each range query

    def __call__(self, url: str, timeout_s: float = 10.0) -> FakePrometheus:  # the judge's `Prometheus(url, …)`
        self.url = url
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def instant(self, query: str, at: float | None = None) -> list[dict]:
        self.queries.append(query)
        if self.down:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: ConnectError", url=self.url, path="/")
        if query.startswith("count({__name__"):
            n = sum(_matches(s.labels, query[query.index(",") + 1:-2]) for s in self.series)
            return [{"metric": {}, "value": [at, str(n)]}] if n else []
        if query.startswith("max(count_over_time("):
            name, matchers, window = re.search(r"count_over_time\(([\w:]+)\{([^}]*)\}\[(\d+)s\]\)", query).groups()
            found = any(s.name == name and _matches(s.labels, matchers) for s in self.series)
            return [{"metric": {}, "value": [at, str(int(window) // self.scrape_s + 1)]}] if found else []
        if query.startswith("max(process_start_time_seconds"):
            return [] if self.start is None else [{"metric": {}, "value": [at, str(self.start)]}]
        if beat := _HEARTBEAT.match(query):  # the detectors' heartbeat: the latest run of the matching series
            runs = [at if s.ran_at is None else s.ran_at for s in self.series
                    if s.name == beat.group(1) and _matches(s.labels, beat.group(2))]
            return [{"metric": {}, "value": [at, str(max(runs))]}] if runs else []
        by = _BY.match(query)
        label = by.group(1) if by else None
        if " - sum" in query:  # the histogram's count minus its bucket
            left, right = query.split(" - sum", 1)
            return self._minus(self._sum(left, label), self._sum("sum" + right, label))
        return self._sum(query, label)

    def _sum(self, query: str, label: str | None) -> list[dict]:
        kind, name, matchers = _TERM.search(query).groups()
        groups: dict[str, float] = {}
        for s in self.series:
            if s.name == name and _matches(s.labels, matchers):
                key = s.labels.get(label, "") if label else ""
                value = s.grew if kind == "increase" or "- min_over_time" in query else \
                    s.high if kind == "max_over_time" else s.low
                combine = max if query.startswith("max by") else min if query.startswith("min by") else float.__add__
                groups[key] = combine(groups[key], value) if key in groups else float(value)
        return [{"metric": {label: k} if label else {}, "value": [0, str(v)]} for k, v in groups.items()]

    def range(self, query: str, start: float, end: float, step: float) -> list[dict]:
        """One raw counter sum's range: each series starts at its growth (it counted before the window) and grows
        by its growth spread evenly over the range's intervals (scaled by its wobble), restarting at its reset."""
        self.queries.append(query)
        self.ranges.append((start, end, step))
        if self.down:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: ConnectError", url=self.url, path="/")
        name, matchers = _RAW.match(query).groups()
        chosen = [s for s in self.series if s.name == name and _matches(s.labels, matchers)]
        points = int((end - start) // step + 1e-9) + 1
        if not chosen:
            return []

        def value(s: Series, k: int) -> float:
            grown = s.grew + sum(s.grew / (points - 1) * (1 + s.wobble * (-1) ** j) for j in range(k))
            return grown - value(s, s.reset_at - 1) if s.reset_at is not None and k >= s.reset_at else grown

        values = [[start + k * step, str(sum(value(s, k) for s in chosen))] for k in range(points)]
        return [{"metric": {}, "values": values}]

    @staticmethod
    def _minus(left: list[dict], right: list[dict]) -> list[dict]:
        rv = {tuple(r["metric"].items()): float(r["value"][1]) for r in right}
        return [{"metric": r["metric"], "value": [0, str(float(r["value"][1]) - rv[tuple(r["metric"].items())])]}
                for r in left if tuple(r["metric"].items()) in rv]


def install(monkeypatch, fake: FakePrometheus) -> FakePrometheus:
    monkeypatch.setattr("moneypath.canary.judge.Prometheus", fake)
    return fake


def arm(catalog: Catalog, track: str, n: int = 1000, declined: float = 0.1, errors: float = 0.0, slow: float = 0.01,
        duplicates: int = 0, imbalance: float = 0.0, ledger_failed: float = 0.0,
        latency: tuple[float, ...] | None = None, cost: float = 0.3, detectors_ran: bool = True) -> list[Series]:
    """One arm's series on `catalog` (label track=<track>): `n` authorizations per provider, these shares of them
    declined, slow (over every bucket but the last), provider calls erroring, ledger writes failing; `latency`, the
    cumulative share at each finite bucket (default: all but the slow ones in the first); `cost` USD per
    authorization (provider fees, varying from interval to interval); `detectors_ran`: every detector the catalog
    declares reports a run at the time of each query (else none ever ran)."""
    m, sel = catalog.metric, {"track": track}
    out = []
    hist = catalog.signals[Key.AUTHORIZATION_DURATION_SECONDS]
    for provider in catalog.providers:
        # every declared outcome is exported from the start, at 0 until it happens, as the library does
        for outcome, share in (("approved", 1 - declined), ("declined", declined), ("error", 0.0), ("timeout", 0.0)):
            out.append(Series(m(Key.AUTHORIZATIONS_TOTAL), {**sel, "provider": provider, "outcome": outcome,
                                                            "method": "card"}, n * share))
        labels = {**sel, "provider": provider, "method": "card", "outcome": "approved"}
        out.append(Series(f"{m(Key.AUTHORIZATION_DURATION_SECONDS)}_count", labels, n))
        shares = latency or [1 - slow] * len(hist.buckets or [])
        for le, share in zip([*(hist.buckets or []), float("inf")], [*shares, 1.0], strict=True):
            out.append(Series(f"{m(Key.AUTHORIZATION_DURATION_SECONDS)}_bucket", {**labels, "le": _le(le)}, n * share))
        for outcome, share in (("success", 1 - errors), ("error", errors), ("timeout", 0.0)):
            out.append(Series(m(Key.PROVIDER_REQUESTS_TOTAL), {**sel, "provider": provider, "operation": "authorize",
                                                               "outcome": outcome}, n * share))
        out.append(Series(m(Key.DUPLICATE_CHARGES_TOTAL), {**sel, "provider": provider},
                          duplicates if provider == next(iter(catalog.providers)) else 0))
        out.append(Series(m(Key.COST_USD_TOTAL), {**sel, "provider": provider, "component": "provider_fee"}, n * cost,
                          wobble=0.2))
    out.append(Series(m(Key.COST_USD_TOTAL), {**sel, "provider": "none", "component": "infrastructure"}, 5.0))
    currency = catalog.currencies[0]
    out.append(Series(m(Key.DUPLICATE_CHARGED_MINOR_TOTAL), {**sel, "currency": currency}, duplicates * 1200))
    if catalog.has(Key.LEDGER_IMBALANCE_MINOR):
        out.append(Series(m(Key.LEDGER_IMBALANCE_MINOR), {**sel, "currency": currency}, low=min(imbalance, 0),
                          high=max(imbalance, 0)))
    if catalog.has(Key.LEDGER_WRITES_TOTAL):
        for outcome, share in (("committed", 1 - ledger_failed), ("failed", ledger_failed)):
            out.append(Series(m(Key.LEDGER_WRITES_TOTAL), {**sel, "outcome": outcome}, 2 * n * share))
    if detectors_ran and catalog.has(Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS):
        for detector in catalog.signals[Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS].labels["detector"]:
            out.append(Series(m(Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS), {**sel, "detector": detector}))
    return out


def _le(value: float) -> str:
    from prometheus_client.utils import floatToGoString

    return floatToGoString(value)
