"""A drill's conservation of counts (moneypath.drills.conservation_phase): only the authorizing step's attempts are
calls on the counter (a three-step GraphQL checkout is one), their answers mapped to the counter's outcomes by the
template's `counter`; a stretch outside the bounds makes the target's rates not data with its line, on the
timeline, in the records and on the key series."""

from __future__ import annotations

from types import SimpleNamespace

import yaml

from moneypath.drills.conservation_phase import Conservation
from moneypath.drills.endpoints import Target
from moneypath.drills.journal import SeriesPanel
from moneypath.formats.requests import Requests
from tests.support.graphql_shop_fake import TEMPLATE, FakeShop
from tests.unit.drills.test_flow_load import run_payments

SERVICE = "127.0.0.1:8000"


class _Prom:
    """Prometheus holding one counter series of the service, scraped every second with `value(t)`."""

    def __init__(self, value, instance=SERVICE):
        self.value, self.instance = value, instance

    def instant(self, expr, at=None):
        points = [[t, str(self.value(t))] for t in range(990, int(at) + 2)]  # a scrape just after the stretch
        return [{"metric": {"instance": self.instance, "job": "svc", "outcome": "approved"}, "values": points}]


class _Ctx:
    def __init__(self, catalog, requests: Requests, prom, now=1012.0):
        self.catalog, self.prom, self.now = catalog, prom, now
        self.drill = SimpleNamespace(load=SimpleNamespace(requests=requests))
        self.target = Target(service=f"http://{SERVICE}", prometheus="http://prom")
        self.lines, self.ticks = [], 0

    def clock(self):
        return self.now

    def event(self, kind, text, detail=None, t=None):
        self.lines.append(text)

    def tick(self):
        self.ticks += 1


def _template(**counter) -> Requests:
    doc = yaml.safe_load(TEMPLATE.read_text())
    doc["counter"] = counter
    return Requests.model_validate(doc)


def _loaded(catalog, requests, prom, n=4):
    load = run_payments(requests, FakeShop(), n)
    load.service_urls = [f"http://{SERVICE}"]
    ctx = _Ctx(catalog, requests, prom)
    conservation = Conservation(ctx)
    conservation.track(load)
    return ctx, conservation, load


def test_a_three_step_checkout_is_one_call_under_the_outcome_its_state_maps_to(catalog):
    ctx, conservation, load = _loaded(catalog, _template(outcomes={"AUTHORIZED": "approved"}), None)
    calls = conservation.calls()
    assert len(calls) == 4 and load.stats.steps["checkoutCreate"]["sent"] == 4  # 12 requests, 4 authorizations
    assert {(c.acknowledged, c.outcome, c.target) for c in calls} == {(True, "approved", SERVICE)}
    assert all(c.sent_at <= c.answered_at for c in calls)


def test_answers_the_template_says_are_not_counted_are_no_lower_bound(catalog):
    requests = _template(not_counted={"data.checkoutComplete.order.paymentStatus": ["AUTHORIZED"]})
    ctx, conservation, _ = _loaded(catalog, requests, None)
    assert {(c.acknowledged, c.outcome) for c in conservation.calls()} == {(False, None)}


def _shift(load, t0):
    """The load's call times moved to t0, t0 + 1, ... (the fake answers at once)."""
    for i, o in enumerate(load.outcomes):
        o.auth_calls[:] = [[t0 + i, t0 + i + 0.1]]


def test_a_stretch_within_the_bounds_passes_and_leaves_the_rates_data(catalog):
    prom = _Prom(lambda t: 0 if t <= 1000 else min(4, t - 1000))  # one counted a second, as they were sent
    ctx, conservation, load = _loaded(catalog, _template(outcomes={"AUTHORIZED": "approved"}), prom)
    _shift(load, 1000.3)
    [check] = conservation.stretch("baseline", 999.5)
    assert check.outcome == "pass", check.why
    assert conservation.not_data is None and conservation.counters_not_data(lambda: None)() is None
    assert conservation.records[0].status == "pass" and ctx.lines[0].startswith("conservation (baseline): ")


def test_a_stretch_short_of_what_was_acknowledged_makes_the_rates_not_data(catalog):
    prom = _Prom(lambda t: 0 if t <= 1000 else 1)  # one worker's share: one of four
    ctx, conservation, load = _loaded(catalog, _template(outcomes={"AUTHORIZED": "approved"}), prom)
    _shift(load, 1000.3)
    [check] = conservation.stretch("baseline", 999.5)
    line = (f"the metrics counted 1 of 4 authorizations sent to {SERVICE} (0.25; 4 acknowledged): several workers "
            "without multiprocess mode, or another instance scraped")
    assert (check.outcome, check.why) == ("fail", line)
    assert conservation.counters_not_data(lambda: None)() == line
    assert conservation.counters_not_data(lambda: "resets")() == "resets"  # the watcher's reason first
    assert (conservation.records[0].phase, conservation.records[0].line) == ("baseline", line)
    series = {"rates": SeriesPanel(query="sum(rate(x_total[10s]))", unit="reqps", points={}),
              "gauge": SeriesPanel(query="x_circuit_state", unit="", points={})}
    ctx.counters_not_data = conservation.counters_not_data(lambda: None)
    marked = conservation.mark_series(series)
    assert marked["rates"].not_data == line and marked["gauge"].not_data is None
    assert marked["rates"].to_dict()["not_data"] == line and "not_data" not in marked["gauge"].to_dict()


def test_a_service_scraped_on_a_port_of_its_own_is_read_on_every_instance(catalog):
    prom = _Prom(lambda t: 0 if t <= 1000 else min(4, t - 1000), instance="127.0.0.1:9100")
    ctx, conservation, load = _loaded(catalog, _template(outcomes={"AUTHORIZED": "approved"}), prom)
    _shift(load, 1000.3)
    [check] = conservation.stretch("fault", 999.5)
    assert check.outcome == "pass" and check.why.endswith("within bounds (2% and 2 call(s) of slack)"), check.why
    assert "on every scraped instance" in check.why and conservation.records[0].target == "every scraped instance"


def test_a_counter_nobody_scrapes_is_not_measured_and_not_data(catalog):
    class Empty:
        def instant(self, expr, at=None):
            return []

    ctx, conservation, load = _loaded(catalog, _template(), Empty())
    [check] = conservation.stretch("baseline", 999.5)
    assert check.outcome == "not measured" and "no " in check.why
    assert conservation.not_data == check.why


def test_a_shared_target_from_the_run_config_is_reconciled_one_sided(catalog, tmp_path, monkeypatch):
    """`target.shared: true` in moneypath.run.yaml reaches the drill's target: its own traffic on the counter is no
    double counting, the line says the check cannot see any; too little counted still fails."""
    from moneypath.cli import build_parser, where
    from moneypath.drills.placement import target_from

    for name in ("MONEYPATH_TARGET_SHARED", "MONEYPATH_TARGET_SERVICE", "MONEYPATH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "moneypath.run.yaml"
    config.write_text(f"target:\n  service: http://{SERVICE}\n  prometheus: http://prom:9090\n"
                      "  pager: http://pager:9095\n  shared: true\n")
    args = build_parser().parse_args(["drill", "run", "x.yaml", "--config", str(config)])
    target = target_from(where.run_spec(args), env={"MONEYPATH_DRILL_TOKEN": "t"})
    assert target.shared and target.describe()["shared"] is True
    for counted, outcome in ((lambda t: 0 if t <= 1000 else 9 * min(4, t - 1000), "pass"),
                             (lambda t: 0 if t <= 1000 else 1, "fail")):
        ctx, conservation, load = _loaded(catalog, _template(outcomes={"AUTHORIZED": "approved"}), _Prom(counted))
        ctx.target = target
        _shift(load, 1000.3)
        [check] = conservation.stretch("baseline", 999.5)
        assert check.outcome == outcome and check.figures["shared"] is True, check.why
        assert ("double counting cannot be seen" in check.why) == (outcome == "pass"), check.why
