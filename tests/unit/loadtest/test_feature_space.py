"""Every feature subset runs: catalogs drawn from the feature space as `moneypath init` writes them (ledger, cost,
reconciliation, dead letters, fraud... on or off; one provider or several; captures called by the load or made by
the service itself; a flow of several calls or one call), then what `moneypath build` and `init` generate, the
load test's observation against a recorded Prometheus answer set (empty, and full) and the gates. Nothing raises;
every gate is in the table, judged or skipped with its reason; no gate passes without evidence."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moneypath.catalog.features import FEATURES
from moneypath.formats import scenarios
from moneypath.generate import build
from moneypath.loadtest.command import gates, observe, stats
from moneypath.loadtest.in_locust.request_names import FLOW
from moneypath.scaffold.project import scaffold_files
from tests.support.locust_stats import entry
from tests.unit.loadtest.helpers import init_catalog

EXAMPLES = 40  # fixed, with derandomize: the same catalogs on every run, and a stable time
# every gate of a run that is neither a soak (drift_*) nor an overload (overload_*)
RUN_GATES = {name for name in scenarios.GATE_NAMES if not name.startswith(("drift_", "overload_"))}
PROVIDERS = (("paystack",), ("paystack", "mollie"), ("acme", "globex", "initech"))


@dataclass(frozen=True)
class World:
    features: frozenset[str]
    providers: tuple[str, ...]
    flows: bool            # the load's payment is a flow of several calls (a request template), else one call
    captures: bool         # the load captures by calling the API; else the service captures on its own
    judge_provider: str | None
    flow_p99_ms: float | None


@st.composite
def worlds(draw) -> World:
    switches = draw(st.fixed_dictionaries({name: st.booleans() for name in FEATURES}))  # each on or off
    features = frozenset(name for name, on in switches.items() if on)
    providers = draw(st.sampled_from(PROVIDERS))
    return World(features, providers, draw(st.booleans()), draw(st.booleans()),
                 draw(st.none() | st.sampled_from(providers)), draw(st.sampled_from((None, 2000.0))))


def locust_entries(w: World) -> list[dict]:
    """What Locust recorded for a healthy run of that load: each step and the whole flow, or one call each."""
    out = []
    for p in w.providers:
        if w.flows:
            out += [entry(f"checkoutCreate [{p}]", times={"30": 20}), entry(f"checkoutPaymentCreate [{p}]",
                                                                           times={"40": 20}),
                    entry(f"authorize:checkoutComplete [{p}]", times={"600": 20}),
                    entry(f"checkout [{p}]", method=FLOW, times={"700": 20})]
        else:
            out.append(entry(f"authorize [{p}]", times={"100": 20}))
        if w.captures:
            out.append(entry(f"capture [{p}]", times={"50": 10}))
    return out


def heartbeat(c) -> str | None:
    from moneypath.catalog.detectors import heartbeat

    return heartbeat(c)


class Recorded:
    """A Prometheus answering the Observer's instant queries from a recorded answer set: `full` every signal the
    catalog has, healthy (first matching substring wins); else nothing at all."""

    def __init__(self, c, full: bool):
        names = gates.money_signals(c)
        auth = observe.Observer(c, "http://127.0.0.1:9").authorizations
        table = [("histogram_quantile", "0.12"), ("1 - ", "0"), (names.get("cost"), "0.0004"), (auth, "500"),
                 (names.get("reconciliation_age"), "0"), (names.get("ledger_imbalance"), "0"),
                 (names.get("duplicate_charges"), "0"), (heartbeat(c), "60")]  # every detector ran by the end
        self.answers = [(key, value) for key, value in table if key] if full else []
        self.queries: list[str] = []

    def __call__(self, url, timeout_s: float = 15.0):
        return self

    def instant(self, query, at=None):
        self.queries.append(query)
        value = next((v for k, v in self.answers if k in query), None)
        return [] if value is None else [{"metric": {"currency": "EUR"}, "value": [at or 0, value]}]

    def range(self, query, start, end, step):
        return []


def observed(c, full: bool, monkeypatch, w: World) -> gates.PromObservations:
    monkeypatch.setattr(observe, "Prometheus", Recorded(c, full))
    obs = observe.Observer(c, "http://127.0.0.1:9")
    out = obs.observe(0, 60, gates.thresholds(c, 0), w.judge_provider, None)
    obs.wait_reconciled(out, 60, within_s=0)  # the deadline long past: one look
    assert obs.series(0, 60, w.judge_provider) is not None
    return out


def judged(result: list[gates.Gate]) -> dict[str, gates.Gate]:
    by = {g.name: g for g in result}
    assert set(by) == RUN_GATES and len(result) == len(RUN_GATES), sorted(by)  # every gate, once
    for g in result:
        assert g.status in (gates.PASS, gates.FAIL, gates.SKIP, gates.NOT_MEASURED), g
        assert g.status == gates.PASS or g.reason, g  # anything but a pass says why
    return by


def test_every_feature_subset_generates_observes_and_judges_without_a_pass_from_nothing(tmp_path, monkeypatch,
                                                                                      record_property, capsys):
    subsets: set[frozenset[str]] = set()

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(worlds())
    def check(w: World) -> None:
        subsets.add(w.features)
        c = init_catalog(on=tuple(w.features), providers=w.providers,
                         operations=("CheckoutComplete",) if "graphql" in w.features else ())
        assert {name for name in FEATURES if c.enabled(name)} == set(w.features)
        files = {**build.artifacts(c), **scaffold_files(c)}  # what init and `moneypath build` write
        (tmp_path / "scenarios.yaml").write_text(files["loadtests/scenarios.yaml"])
        checkout = scenarios.load(tmp_path / "scenarios.yaml", c).get("checkout").model_copy(
            update={"judge_provider": w.judge_provider, "flow_p99_ms": w.flow_p99_ms})
        thr = gates.thresholds(c, 0)
        nothing = stats.summarize([], duration_s=10)
        load = stats.summarize(locust_entries(w), w.judge_provider, duration_s=10)
        assert (load.flows is not None) == w.flows

        empty = judged(gates.evaluate(nothing, observed(c, False, monkeypatch, w), thr, checkout))
        assert not [g for g in empty.values() if g.status == gates.PASS], "a pass on no evidence"
        blind = judged(gates.evaluate(load, observed(c, False, monkeypatch, w), thr, checkout))
        assert not [g for g in blind.values() if g.source == "prometheus" and g.status == gates.PASS]
        absent = judged(gates.evaluate(load, None, thr, checkout, "no Prometheus for the run"))
        assert not [g for g in absent.values() if g.source == "prometheus" and g.status == gates.PASS]

        full = judged(gates.evaluate(load, observed(c, True, monkeypatch, w), thr, checkout))
        unmeasured = {g.name for g in full.values() if g.status not in (gates.PASS, gates.SKIP)}
        assert unmeasured == ({"flow_p99_locust"} if w.flow_p99_ms and not w.flows else set()), unmeasured
        for name, feature in gates.FEATURE_GATES.items():
            if feature not in w.features and name != "circuit_opened":  # that one applies only when expected
                assert (full[name].status, full[name].reason) == (gates.SKIP, gates.feature_off(feature))
        assert (full["p99_latency_locust"].status == gates.SKIP) == w.flows  # a flow: the service's clock
        assert full["p99_latency_prometheus"].status == gates.PASS
        assert (full["flow_p99_locust"].status == gates.PASS) == (w.flows and w.flow_p99_ms is not None)

    check()
    record_property("feature_subsets", len(subsets))
    with capsys.disabled():
        print(f"\nfeature space: {EXAMPLES} examples drew {len(subsets)} distinct feature subsets")
    assert len(subsets) >= EXAMPLES // 2  # the draw explores the space, not one corner of it
