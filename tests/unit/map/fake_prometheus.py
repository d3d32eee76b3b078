"""A Prometheus on loopback answering from canned data what the live map asks (moneypath.map.live_health): its
rules, its targets, the batched figure queries, the targets each edge's series came from, the SLOs' error ratios
and the counter-reset queries. The real proof against a running stack: tests/integration/map/, liars/."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from moneypath.catalog.conventions import sli_error_record
from moneypath.map.live_health import EDGE_LABEL, role_query, shortest_window
from tests.conftest import ROOT
from tests.loopback_http import LoopbackServer, QuietHandler

_TERM = re.compile(r'label_replace\((.*?), "' + EDGE_LABEL + r'", "([^"]+)", "", ""\)(?: or |$)', re.S)
TARGET = ("payments", "127.0.0.1:8000")  # the one target of every edge unless a test says otherwise


def scraped(job: str, instance: str, health: str = "up", ago_s: float = 1.0, interval: str = "15s",
            error: str = "") -> dict:
    """An active target as /api/v1/targets shows it."""
    last = datetime.fromtimestamp(time.time() - ago_s, UTC).isoformat().replace("+00:00", "Z")
    return {"labels": {"job": job, "instance": instance}, "health": health, "lastScrape": last,
            "scrapeInterval": interval, "lastError": error}


class FakePrometheus:
    """Canned answers, set by each test: `figures` (PromQL of one figure → value), `slo_errors` (slo → error ratio),
    `rules` (/api/v1/rules), `targets` (/api/v1/targets' active targets), `seen` (edge id → the (job, instance)
    its series came from; default TARGET for every edge with a figure), `resets` (counter-reset query → samples);
    `requests` it was sent."""

    def __init__(self):
        self.reset()
        fake = self

        class Handler(QuietHandler):
            def do_GET(self):
                url = urlparse(self.path)
                query = parse_qs(url.query).get("query", [""])[0]
                fake.requests.append((url.path, query))
                data = fake.answer(url.path, query)
                if data is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps({"status": "success", "data": data}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body)

        self.handler = Handler

    def reset(self):
        self.rules, self.figures, self.slo_errors, self.requests = [], {}, {}, []
        self.targets, self.seen, self.resets, self.graph = [scraped(*TARGET)], None, {}, None

    def answer(self, path: str, query: str):
        if path == "/api/v1/rules":
            return {"groups": [{"name": "g", "rules": self.rules}]}
        if path == "/api/v1/targets":
            return {"activeTargets": self.targets, "droppedTargets": []}
        if path != "/api/v1/query":
            return None
        if query == sli_error_record(shortest_window()):
            result = [{"metric": {"__name__": query, "slo": k}, "value": [0, str(v)]}
                      for k, v in self.slo_errors.items()]
        elif query.startswith("max by (job, instance)"):  # moneypath.check.counter_resets
            result = [{"metric": labels, "value": [0, str(v)]} for labels, v in self.resets.get(query[:40], [])]
        else:
            result = []
            for q, edge in _TERM.findall(query):
                if q.startswith("group by (job, instance)"):
                    seen = self.seen.get(edge, set()) if self.seen is not None else \
                        ({TARGET} if any(f in self.figures for f in self._edge_figures(edge)) else set())
                    result += [{"metric": {EDGE_LABEL: edge, "job": j, "instance": i}, "value": [0, "1"]}
                               for j, i in sorted(seen)]
                elif q in self.figures:
                    result.append({"metric": {EDGE_LABEL: edge}, "value": [0, str(self.figures[q])]})
        return {"resultType": "vector", "result": result}

    def _edge_figures(self, edge_id: str) -> list[str]:
        edge = next((e for e in self.graph.edges if e.id == edge_id), None) if self.graph is not None else None
        return [q for role in FIGURES if edge is not None and (q := role_query(edge, role)) is not None]


def serve():
    fake = FakePrometheus()
    with LoopbackServer(fake.handler) as server:
        fake.url = server.url
        yield fake


prometheus = pytest.fixture(scope="module")(serve)


def generated_rules() -> list[dict]:
    """The committed rules as /api/v1/rules shows them: recording rules, and alerting rules with no alerts."""
    out = []
    for path in (ROOT / "collector" / "recording-rules.yaml", ROOT / "alerts" / "moneypath-alerts.yaml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for r in group["rules"]:
                if "record" in r:
                    out.append({"type": "recording", "name": r["record"], "query": r["expr"],
                                "labels": r.get("labels", {})})
                else:
                    out.append({"type": "alerting", "name": r["alert"], "query": r["expr"],
                                "labels": r.get("labels", {}), "alerts": []})
    return out


def firing(rules: list[dict], catalog, key: str, labels: dict, which: int = 0) -> list[dict]:
    """The rules with the `which`-th rule of alert `key` firing with these labels."""
    name = catalog.alert_name(key)
    out, seen = [], 0
    for rule in rules:
        if rule.get("name") == name and rule["type"] == "alerting":
            if seen == which:
                rule = {**rule, "alerts": [{"state": "firing", "labels": {"alertname": name, **rule["labels"],
                                                                          **labels}}]}
            seen += 1
        out.append(rule)
    return out


FIGURES = {"rate": 4.2, "errors": 0.004, "latency": 0.182, "lag": 30.0, "depth": 3.0, "traffic": 4.2}


def healthy_figures(graph, **override: float) -> dict[str, float]:
    """Every figure of every edge with a value, as a healthy service with traffic would show; `override`: a
    role's value on every edge."""
    values = {**FIGURES, **override}
    out = {q: values[role] for e in graph.edges for role in values if (q := role_query(e, role)) is not None}
    # errors counted without a rate (dead letters, mismatches) are bounded at 0 by their alerts: none, healthy
    out |= {q: 0.0 for e in graph.edges if e.signal("rate") is None and (q := role_query(e, "errors")) is not None
            and "errors" not in override}
    return out
