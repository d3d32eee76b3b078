"""What the load-test unit tests build their inputs from: Prometheus observations, Locust summaries, capacity
steps, a run without Locust, a catalog without some signals, the ticket shop's catalog (tests/foreign)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from moneypath.formats import scenarios
from moneypath.loadtest.command import gates, stats
from moneypath.loadtest.command.capacity import plan as capacity
from tests import conftest
from tests.conftest import CATALOG_PATH, ROOT, SHIPPED_SCENARIOS


def healthy_prom(**changes) -> gates.PromObservations:
    values = dict(p99_s=0.2, error_ratio=0.0, authorizations=500, duplicate_charges=0, ledger_imbalance_max_abs=0,
                  caught_up_after_s=2, oldest_unreconciled_s=0)
    return gates.PromObservations(**{**values, **changes})


def summary(p99=200.0, failures=0, requests=1000, **kw) -> stats.Summary:
    base = dict(duration_s=10, http_requests=requests, http_failures=failures, rps=requests / 10,
                judged_requests=requests, judged_failures=failures, authorizations=400, authorize_rps=40,
                authorize_p50_ms=80, authorize_p95_ms=150, authorize_p99_ms=p99, p99_ms=p99, duplicate_checks=None,
                duplicates_seen=None)
    return stats.Summary(**{**base, **kw})


def fake_run(prom, reason, catalog):
    """runner.run without Locust: the gates judged on a healthy Locust summary and `prom`."""
    from moneypath.loadtest.command import locust_run

    def run(c, spec, target, work, port, progress):
        sfile = scenarios.load(SHIPPED_SCENARIOS, catalog)
        scenario = sfile.get(spec.scenario)
        thr = gates.thresholds(catalog, 30)
        judged = gates.evaluate(summary(), prom, thr, scenario, reason, spec.require_prometheus)
        work.mkdir(parents=True)
        return locust_run.RunOutcome(scenario, spec, 10, 10, 10, 0, 10, summary(), prom, reason, judged, work)
    return run


def result_json(p99, rps, scenario="checkout", rate=10, **load):
    return {"scenario": scenario, "rate": rate, "users": 10, "duration_s": 60, "workers": 0, **load,
            "locust": {"authorize_p99_ms": p99, "rps": rps}}


def step(rate, passed, p99=100.0, auth=None):
    return capacity.CapacityStep(rate, rate, auth if auth is not None else rate * 0.45, p99, p99, 0.0, 0.17, passed, [])


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    """The `moneypath` entry point: exit code and the exact stderr."""
    return conftest.run_cli(*argv)


def catalog_without(tmp_path, *keys: str) -> Path:
    data = yaml.safe_load(CATALOG_PATH.read_text())
    for key in keys:
        del data["signals"][key]
    path = tmp_path / "moneypath.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


FOREIGN_DIR = ROOT / "tests" / "foreign"


def foreign_text(cost: bool = True) -> str:
    """tests/foreign/moneypath.yaml; `cost=False` switches the cost feature off too (model, signal, alert gone)."""
    text = (FOREIGN_DIR / "moneypath.yaml").read_text()
    if cost:
        return text
    data = yaml.safe_load(text)
    data["features"]["cost"] = False
    del data["cost"], data["signals"]["cost_usd_total"], data["alerts"]["CostPerTransactionRegression"]
    return yaml.safe_dump(data, sort_keys=False)


def foreign_catalog(cost: bool = True):
    from moneypath.catalog import parse_catalog

    return parse_catalog(foreign_text(cost), str(FOREIGN_DIR / "moneypath.yaml"))


def foreign_prom(**changes) -> gates.PromObservations:
    values = dict(error_ratio=0.0, authorizations=500, duplicate_charges=0, ledger_imbalance_max_abs=0)
    return gates.PromObservations(**{**values, **changes})


class FakePrometheus:
    """Answers the Observer's instant queries from a table of substrings; records every query."""

    def __init__(self, answers: dict[str, list[dict]]):
        self.answers, self.queries = answers, []

    def __call__(self, url, timeout_s: float = 15.0):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def instant(self, query, at=None):
        self.queries.append(query)
        return next((v for k, v in self.answers.items() if k in query), [])

    def range(self, query, start, end, step):
        self.queries.append(query)
        return []


def init_catalog(on: tuple[str, ...] = (), providers: tuple[str, ...] = ("paystack", "mollie"),
                 operations: tuple[str, ...] = ()):
    """A catalog as `moneypath init` writes it (moneypath.scaffold), in memory: every feature off but `on` (init's
    default: none, so no ledger), the GraphQL feature with `operations`."""
    from moneypath.catalog import parse_catalog
    from moneypath.catalog.features import FEATURES
    from moneypath.scaffold.catalog_template import ScaffoldOptions, catalog_yaml

    features = {name: name in on or (name == "graphql" and bool(operations)) for name in FEATURES}
    options = ScaffoldOptions(service="shop", providers=list(providers), currencies=["EUR", "KWD"], features=features,
                              routes=["/graphql/", "/healthz"], operations=list(operations))
    return parse_catalog(catalog_yaml(options), "/nonexistent/ops/moneypath.yaml")
