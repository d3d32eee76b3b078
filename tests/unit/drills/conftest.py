"""Fixtures of the drill unit tests: a DrillRun of duplicate-charge.yaml with nothing started (`run`), and one whose
fault API calls are recorded (`live`); every report they render draws its money-path map with a stand-in for the
renderer (moneypath.map.render lays out with Graphviz dot, a process the unit tier does not start)."""

from __future__ import annotations

import httpx
import pytest

from moneypath.check.drill_files import load_drill
from moneypath.drills.endpoints import Target
from moneypath.drills.runner import DrillRun
from tests.conftest import ROOT
from tests.support import map_renderer
from tests.support.drill_fakes import Clock, FakePages, FakeProm


@pytest.fixture(autouse=True)
def _map_stand_in(monkeypatch):
    map_renderer.stand_in(monkeypatch)


@pytest.fixture
def run(catalog):
    drill = load_drill(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml", catalog, ROOT)
    target = Target(service="http://127.0.0.1:9", prometheus="http://127.0.0.1:9", pager="http://127.0.0.1:9",
                    time_factor=60)
    r = DrillRun(drill, catalog, target, say=lambda _: None, clock=lambda: 1000.0)
    r.faults.record.injected_at = 1000.0
    yield r
    r.close()


@pytest.fixture
def live(catalog):
    """A DrillRun of duplicate-charge.yaml whose fault API calls are recorded (answered by `live.status`)."""
    drill = load_drill(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml", catalog, ROOT)
    target = Target(service="http://svc", prometheus="http://127.0.0.1:9", providersim="http://sim",
                    pager="http://127.0.0.1:9", admin_token="admin-token", time_factor=60)
    clock = Clock()
    r = DrillRun(drill, catalog, target, say=lambda _: None, clock=clock)
    r.prom.close(), r.pages_source.close(), r.http.close()
    r.prom, r.pages_source = FakeProm(), FakePages()
    r.calls, r.status, r.now = [], 200, clock

    def handler(request):
        r.calls.append((request.method, str(request.url), request.headers.get("authorization"),
                        request.content.decode() or None))
        return httpx.Response(r.status, json={"detail": "no"})

    r.http = httpx.Client(transport=httpx.MockTransport(handler))
    yield r
    r.close()
