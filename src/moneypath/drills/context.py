"""What every part of a drill run shares (moneypath.drills.phases.DrillRun is one): the drill, the target's
clients, the clock and the time scale, the load, and the log the journal is made of (timeline and
objectives); with the small verbs they all use: scale a duration or a query, log an event or an
objective, wait while the watcher ticks, query a drill-file check.

The parts (watcher, fault switch, diagnosis, money impact) read the clients from here at each call,
so a client replaced on the run (a test's fake) is the one they use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import httpx

from moneypath._common.timefactor import TimeFactor
from moneypath._common.verdict import IfNotMeasured, Outcome
from moneypath.catalog import Catalog
from moneypath.check.counter_resets import reads_rates
from moneypath.drills import money
from moneypath.drills.baseline_load import Load
from moneypath.drills.endpoints import DrillPrometheus, Pages, Target, TargetError
from moneypath.drills.journal import Event, Objective
from moneypath.formats.drill import LOCAL_TIME_FACTOR, CheckSpec, Drill
from moneypath.formats.expect import check_all
from moneypath.formats.requests import Requests
from moneypath.generate.compress import scale_expr
from moneypath.generate.windows import Records, Window, own_window, rule_records

TICK_S = 1.0


class DrillContext:
    def __init__(self, drill: Drill, catalog: Catalog, target: Target, say: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.time):
        self.drill, self.catalog, self.target, self.say, self.clock = drill, catalog, target, say, clock
        # drill-file seconds (written for the local stack) in this target's wall-clock seconds: the one conversion
        self.scale = TimeFactor.between(LOCAL_TIME_FACTOR, target.time_factor)
        self.prom = DrillPrometheus(target.prometheus)
        self.pages_source = Pages(target.pager, target.alertmanager)
        self.db = money.LedgerReader(target.db_url, catalog.money_checks) if target.db_url else None
        self.http = httpx.Client(timeout=10)
        self.load: Load | None = None  # started by the baseline phase
        self.page_slack_s = 0.0  # added to each expected page's deadline (a monitoring replica killed: one evaluation)
        self.started_at = clock()
        self.phase_at = self.started_at  # where the checks' windows begin: the drill's start, then its mitigation
        self._records: Records | None = None  # the catalog's recorded series, for confine
        self.timeline: list[Event] = []
        self.objectives: list[Objective] = []
        # Why the target's rates are not data (moneypath.drills.watcher.Watcher.counters_not_data), or None.
        self.counters_not_data: Callable[[], str | None] = lambda: None

    def s(self, seconds: float) -> float:
        """A drill-file duration in this target's wall-clock seconds."""
        return seconds * self.scale

    def page_deadline(self, page_within: float) -> float:
        """An expected alert's deadline in wall-clock seconds from the fault: page_within, plus the slack."""
        return self.s(page_within) + self.page_slack_s

    def q(self, expr: str) -> str:
        """A drill-file PromQL expression with its ranges stretched for this target."""
        return scale_expr(expr, 1 / self.scale) if self.scale != 1 else expr

    def confine(self, expr: str, runbook: bool = False, since: float | None = None) -> Window:
        """A query a verdict rests on, scaled (a runbook's production ranges by the target's time factor, a drill
        file's by `scale`) and cut to the time since `since` (default: the phase's start): moneypath.generate.windows."""
        if self._records is None:
            self._records = rule_records(self.catalog)
        start, now = self.phase_at if since is None else since, self.clock()
        return own_window(expr, self.target.time_factor if runbook else 1 / self.scale, now - start, self._records,
                          self.target.time_factor, (start, now))

    def event(self, kind: str, text: str, detail: dict | None = None, t: float | None = None) -> None:
        t = self.clock() if t is None else t
        self.timeline.append(Event(t=t, kind=kind, text=text, detail=detail or None))
        self.say(f"[{t - self.started_at:6.1f} s] {text}")

    def objective(self, name: str, ok: bool | None | Outcome, reason: str,
                  if_not_measured: IfNotMeasured | None = None) -> None:
        """Record an objective: its outcome, or ok (None: not measured; the reason says what returned nothing);
        whether not measured fails the verdict is `if_not_measured`, else the drill file's
        `if_not_measured.<name>`, else fail."""
        policy = if_not_measured or self.drill.if_not_measured.get(name, IfNotMeasured.FAIL)
        outcome = ok if isinstance(ok, Outcome) else Outcome.of(ok)
        self.objectives.append(Objective(name=name, reason=reason, status=outcome, if_not_measured=policy))

    def admin_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.target.admin_token}"}

    def api_headers(self) -> dict[str, str]:
        """Authentication for the team's API, as the drill's requests say: none, a bearer token from the
        environment, or the token minted for the target."""
        return api_headers(self.drill.load.requests, self.target.payments_token) if self.drill.load else {}

    def tick(self) -> None:
        """One poll of the watcher; the run (DrillRun) does the watching."""

    def sleep_ticking(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        """Wait, polling the watcher every tick; stop early when `until()` is true."""
        end = self.clock() + seconds
        while True:
            self.tick()
            if until is not None and until():
                return
            left = end - self.clock()
            if left <= 0:
                return
            time.sleep(min(TICK_S, left))

    def run_check(self, check: CheckSpec) -> tuple[bool | None, str]:
        if reads_rates(check.promql) and (why := self.counters_not_data()):
            return None, f"not measured: {why}"
        window = self.confine(check.promql)
        if not window.confined:
            return None, f"not measured: {window.why}"
        try:
            series = self.prom.query(window.expr)
        except TargetError as exc:
            return False, str(exc)
        return check_all(check.expect, series)

    def close(self) -> None:
        self.prom.close()
        self.pages_source.close()
        self.http.close()
        if self.db is not None:
            self.db.close()


def api_headers(requests: Requests, minted: str | None) -> dict[str, str]:
    if requests.auth == "none":
        return {}
    token = os.environ.get(requests.token_env, "") if requests.auth == "bearer" else minted
    return {"authorization": f"Bearer {token}"}
