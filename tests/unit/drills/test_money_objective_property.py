"""The money objective over the feature space (hypothesis): ledger and reconciliation on or off, captures by the
load or by the target itself, a database or none, each money_checks query declared or not, a read call or none,
answers (database rows, Prometheus series, the API's read-back) empty or full. `ledger_objective` never raises,
and never passes without evidence: on empty answers it is never a pass."""

from __future__ import annotations

import functools
import sqlite3
import tempfile
from pathlib import Path
from types import SimpleNamespace

import httpx
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moneypath.catalog import parse_catalog
from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.drills.money import LedgerReader
from moneypath.formats.requests import Requests
from tests.conftest import run_cli
from tests.support.drill_fakes import MoneyCtx, money_objective

QUERIES = {
    "payments": "SELECT id FROM payments WHERE id IN :ids",
    "captures": "SELECT payment_id AS id FROM provider_captures WHERE payment_id IN :ids",
    "capture_counts": "SELECT payment_id AS id, COUNT(*) AS captures FROM provider_captures WHERE payment_id IN :ids "
                      "GROUP BY payment_id",
    "refunds": "SELECT id, amount_minor AS captured_minor, refunded_minor FROM payments WHERE id IN :ids",
    "breaks": "SELECT kind, currency, amount_minor, payment_id FROM breaks WHERE found_at >= :since",
    "balance": "SELECT currency, SUM(amount_minor) AS total FROM postings GROUP BY currency",
}
READ = {"auth": "none", "authorize": {"path": "/pay", "json": {"a": "{amount_minor}"}, "id": "id", "outcome": "status"},
        "approved": ["approved"], "capture": {"path": "/pay/{payment_id}/capture"}, "read": {"method": "GET",
        "path": "/pay/{payment_id}", "outcome": "status"}, "captured": ["captured"]}
IDS = ("p1", "p2", "p3")
SCRATCH = tempfile.TemporaryDirectory(prefix="mp-prop-")  # removed when the interpreter exits


@functools.cache
def _base(features: str) -> str:
    """The catalog `moneypath init` writes with these features (a comma list, maybe empty)."""
    root = Path(tempfile.mkdtemp(dir=SCRATCH.name)) / "ops"
    assert run_cli("init", str(root), "--service", "shop", "--providers", "paystack,mollie", "--currencies", "USD,JPY",
                   *(["--features", features] if features else [])).returncode == 0
    return (root / "moneypath.yaml").read_text()


@functools.cache
def _catalog(ledger: bool, reconciliation: bool, queries: frozenset[str]):
    doc = yaml.safe_load(_base(",".join(f for f, on in (("ledger", ledger), ("reconciliation", reconciliation)) if on)))
    doc["money_checks"] = {k: QUERIES[k] for k in sorted(queries) if k != "balance" or ledger} or None
    if doc["money_checks"] is None:
        del doc["money_checks"]
    return parse_catalog(yaml.safe_dump(doc, sort_keys=False))


@functools.cache
def _database(full: bool) -> str:
    path = Path(tempfile.mkdtemp(dir=SCRATCH.name)) / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE payments (id TEXT, amount_minor INTEGER, refunded_minor INTEGER)")
        conn.execute("CREATE TABLE provider_captures (payment_id TEXT)")
        conn.execute("CREATE TABLE breaks (kind TEXT, currency TEXT, amount_minor INTEGER, payment_id TEXT, "
                     "found_at REAL)")
        conn.execute("CREATE TABLE postings (currency TEXT, amount_minor INTEGER)")
        if full:
            conn.executemany("INSERT INTO payments VALUES (?, 6235, 0)", [(i,) for i in IDS])
            conn.executemany("INSERT INTO provider_captures VALUES (?)", [(i,) for i in IDS])
            conn.execute("INSERT INTO breaks VALUES ('amount_differs', 'USD', 10, 'p1', 2000)")
            conn.executemany("INSERT INTO postings VALUES ('USD', ?)", [(100,), (-100,)])
    return f"sqlite:///{path}"


def _prom(full: bool, started_at: float):
    def answer(expr: str):
        if not full:
            return []
        if "timestamp" in expr:
            return [({}, started_at + 10)]
        return [({"currency": "USD"}, 0.0 if "imbalance" in expr else 1.0)]
    return answer


@settings(max_examples=120, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(ledger=st.booleans(), reconciliation=st.booleans(), capture=st.sampled_from([0.0, 0.8]), db=st.booleans(),
       queries=st.frozensets(st.sampled_from(sorted(QUERIES))), read=st.booleans(), full=st.booleans(),
       acked=st.integers(0, len(IDS)))
def test_the_money_objective_never_raises_and_never_passes_without_evidence(ledger, reconciliation, capture, db,
                                                                          queries, read, full, acked):
    catalog = _catalog(ledger, reconciliation, queries)
    ctx = MoneyCtx(catalog, _prom(full, 1000.0))
    requests = Requests.model_validate({k: v for k, v in READ.items() if read or k not in ("read", "captured")})
    ctx.drill = SimpleNamespace(load=SimpleNamespace(capture=capture, requests=requests), money_expect={},
                                if_not_measured={})
    ctx.api_headers = lambda: {}
    ctx.http.close()
    ctx.http = httpx.Client(transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json={"id": r.url.path.rsplit("/", 1)[1], "status": "captured"}) if full
        else httpx.Response(404 if acked else 500)))
    ctx.db = LedgerReader(_database(full), catalog.money_checks) if db else None
    outcomes = [PaymentOutcome(t=1001.0, provider="paystack", currency="USD", amount_minor=6235, correlation_id=f"c-{i}",
                               payment_id=i, state="approved", captured=capture > 0) for i in IDS[:acked]]
    objective = money_objective(ctx, outcomes)
    assert objective.name == ("ledger_balanced" if ledger else "money_kept")
    assert objective.status in ("pass", "fail", "not measured")
    if objective.status == "pass":
        # evidence: a full answer somewhere it was read, and something the service acknowledged
        assert full and acked, (objective.reason, db, queries, read)
        assert "not measured" not in objective.reason, objective.reason
    if not full:  # nothing anywhere: never a pass
        assert objective.status != "pass", objective.reason
