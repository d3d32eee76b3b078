"""Stand-ins for a drill run's surroundings in tests: a Prometheus answering what it is told, a pager with no
pages, a clock that moves when told, and the context the money-impact code reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import httpx

from moneypath._common.verdict import status_of
from moneypath.drills.endpoints import Target
from moneypath.drills.journal import Objective


class MoneyCtx:
    """What impact.money_impact and impact.ledger_objective read of a drill run: a foreign catalog, no ledger
    database, a Prometheus answering per currency."""

    def __init__(self, catalog, answer):
        self.catalog, self.db, self.scale, self.started_at = catalog, None, 1.0, 1000.0
        self.drill = SimpleNamespace(load=None)  # no request template: writes lost are not measured
        self.prom = FakeProm()
        self.prom.answer = answer
        self.timeline, self.objectives = [], []
        self.target = Target(service="http://svc", prometheus="http://prom", payments_token="t")
        self.http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500)))
        self.counters_not_data = lambda: None  # the target's counters are data (drills.watcher)

    def clock(self):
        return 1100.0

    def event(self, kind, text, detail=None, t=None):
        self.timeline.append(text)

    def objective(self, name, ok, reason, if_not_measured="fail"):
        self.objectives.append(Objective(name=name, ok=ok is True, reason=reason, status=status_of(ok),
                                         if_not_measured=if_not_measured))


class FakeProm:
    """Prometheus answering every query with `answer(expr)` (default: nothing)."""

    def __init__(self):
        self.answer = lambda expr: []

    def query(self, expr):
        return self.answer(expr)

    def query_range(self, *args):
        return {}

    def instant(self, expr, at=None):
        """A raw instant query (the conservation of counts reads its counter's samples so): nothing."""
        return []

    def alerts(self):
        return []

    def close(self):
        pass


class FakePages:
    source = "pager"

    def records(self, now):
        return []

    def close(self):
        pass


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def money_objective(ctx, outcomes, injected: float = 1000.0, cleared: float = 1050.0) -> Objective:
    """The drill's money impact then its money objective on `ctx` (a MoneyCtx with its drill and database set),
    as the runner judges them; closes the database and the HTTP client."""
    from moneypath.drills import impact

    try:
        result, lost = impact.money_impact(ctx, outcomes, injected, cleared, None)
        impact.ledger_objective(ctx, result, lost, outcomes)
    finally:
        if ctx.db is not None:
            ctx.db.close()
        ctx.http.close()
    [objective] = ctx.objectives
    return objective


def shop_database(path, currency: str, captures: dict[str, int]) -> str:
    """A team's own SQLite tables (no ledger): a payment per id in `currency`, and `captures[id]` rows of the
    provider's capture records for it; the SQLAlchemy URL."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE payments (id TEXT PRIMARY KEY, currency TEXT, amount_minor INTEGER, "
                     "refunded_minor INTEGER)")
        conn.execute("CREATE TABLE provider_captures (payment_id TEXT, provider_ref TEXT)")
        conn.executemany("INSERT INTO payments VALUES (?, ?, 6235, 0)", [(i, currency) for i in captures])
        conn.executemany("INSERT INTO provider_captures VALUES (?, ?)",
                         [(i, f"ref_{i}_{n}") for i, times in captures.items() for n in range(times)])
    return f"sqlite:///{path}"



@contextmanager
def duplicate_charge_run(catalog) -> Iterator[tuple]:
    """(a drill run of the shipped duplicate-charge drill against closed ports, every line it says): its Prometheus a
    FakeProm, its clock stopped at 1000 s; closed afterwards."""
    from moneypath.check.drill_files import load_drill
    from moneypath.drills.runner import DrillRun
    from tests.conftest import ROOT

    drill = load_drill(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml", catalog, ROOT)
    target = Target(service="http://127.0.0.1:9", prometheus="http://127.0.0.1:9", pager="http://127.0.0.1:9",
                    time_factor=60)
    said: list[str] = []
    run = DrillRun(drill, catalog, target, say=said.append, clock=lambda: 1000.0)
    run.prom = FakeProm()
    try:
        yield run, said
    finally:
        run.close()
