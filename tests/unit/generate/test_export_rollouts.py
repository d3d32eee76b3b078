"""`moneypath export argo-rollouts|flagger`: the canary gate's objects valid against the tools' published CRDs
(tests/schemas, unknown keys refused), the judge called on its contract's paths, the money invariants read from
the catalog's own metrics on the canary's pods, and an empty or NaN result never a pass: Argo's conditions are
evaluated here as Argo evaluates them (utils/evaluate, analysis/analysis.go), Flagger's mapping checked."""

from __future__ import annotations

import copy
import math
import re
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import yaml

from moneypath.catalog.conventions import Key
from moneypath.check.promql import selected_series
from moneypath.generate import export
from moneypath.generate.export import flagger, invariants, rollouts
from tests.conftest import CATALOG_PATH, FOREIGN_PATH, run_cli
from tests.support.crd_schemas import crd_schema
from tests.support.shop_catalog import foreign_data, load

ANALYSIS_TEMPLATE = crd_schema("argoproj.io_analysistemplates.yaml", "v1alpha1")
CANARY = crd_schema("flagger.app_crds.yaml", "v1beta1", "canaries.flagger.app")
METRIC_TEMPLATE = crd_schema("flagger.app_crds.yaml", "v1beta1", "metrictemplates.flagger.app")
DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
JUDGE = "http://moneypath-judge.payments.svc:8080"
OPTIONS = export.Options(judge_url=JUDGE + "/", target="payments", namespace="payments")


@pytest.fixture(params=["catalog", "foreign"])
def any_catalog(request):
    return request.getfixturevalue(request.param)


def docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def validate(doc: dict, schema: dict) -> None:
    jsonschema.Draft7Validator(schema).validate(doc)
    assert DNS_SUBDOMAIN.fullmatch(doc["metadata"]["name"]), doc["metadata"]["name"]


def argo(c, options=OPTIONS) -> dict[str, dict]:
    return {d["metadata"]["name"].rsplit("-", 1)[1]: d
            for d in docs(export.files(c, "argo-rollouts", options)["analysis-templates.yaml"])}


def flagger_docs(c, options=OPTIONS) -> tuple[list[dict], dict]:
    out = export.files(c, "flagger", options)
    (canary,) = docs(out["canary.yaml"])
    return (docs(out["metric-templates.yaml"]) if "metric-templates.yaml" in out else []), canary


def without_ledger():
    data = foreign_data()
    data["features"]["ledger"] = False
    for key in (Key.LEDGER_WRITES_TOTAL, Key.LEDGER_WRITE_DURATION_SECONDS, Key.LEDGER_IMBALANCE_MINOR):
        data["signals"].pop(key, None)
    for key in ("LedgerImbalance", "LedgerWriteFailures"):
        data["alerts"].pop(key, None)
    data["slos"] = {k: v for k, v in data.get("slos", {}).items() if "ledger" not in str(v)}
    return load(data)


# ---------------------------------------------------------------- Argo's evaluation, as its code does it


def argo_condition(condition: str, result) -> bool:
    """An expr-lang condition of the subset the templates use (&&, ||, !, len, isNaN, result[0], result.key)."""
    py = condition.replace("&&", " and ").replace("||", " or ")
    py = re.sub(r"!(?!=)", " not ", py)
    py = re.sub(r"result\.(\w+)", r"result.get('\1')", py)
    return bool(eval(py, {"__builtins__": {}}, {"result": result, "len": len, "isNaN": math.isnan}))  # noqa: S307


def argo_phase(metric: dict, result) -> str:
    """utils/evaluate.EvaluateResult: failure first; neither condition true is Inconclusive."""
    if argo_condition(metric["failureCondition"], result):
        return "Failed"
    return "Successful" if argo_condition(metric["successCondition"], result) else "Inconclusive"


def argo_metric_outcome(metric: dict, results: list) -> tuple[str, int]:
    """analysis.assessMetricStatus over measurements (None: the measurement errored), without a count: the
    metric's phase and how many measurements it took to get there ("Running" if it never completed)."""
    failed = inconclusive = consecutive_errors = consecutive_success = 0
    for n, result in enumerate(results, 1):
        if result is None:
            consecutive_errors += 1
        else:
            consecutive_errors = 0
            phase = argo_phase(metric, result)
            failed += phase == "Failed"
            inconclusive += phase == "Inconclusive"
            consecutive_success = consecutive_success + 1 if phase == "Successful" else 0
        if consecutive_errors > metric.get("consecutiveErrorLimit", 4):
            return "Error", n
        if metric.get("failureLimit", 0) >= 0 and failed > metric.get("failureLimit", 0):
            return "Failed", n
        if inconclusive > metric.get("inconclusiveLimit", 0):
            return "Inconclusive", n
        if metric.get("consecutiveSuccessLimit", 0) > 0 and consecutive_success >= metric["consecutiveSuccessLimit"]:
            return "Successful", n
    assert "count" not in metric
    return "Running", len(results)


# ---------------------------------------------------------------- schemas: valid, and unknown keys refused


def test_the_generated_objects_are_valid_against_the_vendored_crds(any_catalog):
    for doc in argo(any_catalog).values():
        assert doc["kind"] == "AnalysisTemplate"
        validate(doc, ANALYSIS_TEMPLATE)
    templates, canary = flagger_docs(any_catalog)
    for doc in templates:
        validate(doc, METRIC_TEMPLATE)
    validate(canary, CANARY)


@pytest.mark.parametrize(("where", "key"), [("argo", "successConditon"), ("flagger", "thresholdRnage"),
                                            ("template", "qurey")])
def test_a_misspelled_key_is_refused(catalog, where, key):
    templates, canary = flagger_docs(catalog)
    if where == "argo":
        doc, schema = copy.deepcopy(argo(catalog)["invariants"]), ANALYSIS_TEMPLATE
        metric = doc["spec"]["metrics"][0]
        metric[key] = metric.pop("successCondition")
    elif where == "flagger":
        doc, schema = copy.deepcopy(canary), CANARY
        doc["spec"]["analysis"]["metrics"][0][key] = doc["spec"]["analysis"]["metrics"][0].pop("thresholdRange")
    else:
        doc, schema = copy.deepcopy(templates[0]), METRIC_TEMPLATE
        doc["spec"][key] = doc["spec"]["query"]
    with pytest.raises(jsonschema.ValidationError, match=key):
        validate(doc, schema)


# ---------------------------------------------------------------- the invariants come from the catalog


def test_every_invariant_query_reads_the_catalogs_metric_on_the_canary_only(any_catalog):
    names = {Key.DUPLICATE_CHARGES_TOTAL: "duplicate-charges", Key.LEDGER_IMBALANCE_MINOR: "ledger-imbalance"}
    expected = {names[k]: any_catalog.metric(k) for k in names if any_catalog.has(k)}
    argo_metrics = {m["name"]: m["provider"]["prometheus"]["query"] for m in argo(any_catalog)["invariants"]["spec"]
                    ["metrics"]}
    templates, canary = flagger_docs(any_catalog)
    flagger_queries = {t["metadata"]["name"].removeprefix(f"{any_catalog.service}-canary-"): t["spec"]["query"]
                       for t in templates}
    assert set(argo_metrics) == set(flagger_queries) == set(expected) == {"duplicate-charges", "ledger-imbalance"}
    for name, metric in expected.items():
        assert metric.startswith(f"{any_catalog.namespace}_")
        assert selected_series(argo_metrics[name]) == [metric]
        assert selected_series(flagger_queries[name]) == [metric]
        assert '{rollouts_pod_template_hash="{{args.canary-hash}}"}' in argo_metrics[name]
        assert 'namespace="{{ namespace }}", pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"' in flagger_queries[name]
        assert "by (" not in argo_metrics[name]  # one value: result[0] is the whole canary
        # no `or vector(0)`: a canary without series would read 0, a pass (Flagger takes any number)
        assert "vector(" not in argo_metrics[name] + flagger_queries[name]
    assert [m["name"] for m in canary["spec"]["analysis"]["metrics"]] == list(flagger_queries)
    assert all(m["thresholdRange"] == {"max": 0} for m in canary["spec"]["analysis"]["metrics"])


def test_without_the_ledger_feature_there_is_no_ledger_gate():
    c = without_ledger()
    assert [inv.name for inv in invariants.invariants(c)] == ["duplicate-charges"]
    assert [m["name"] for m in argo(c)["invariants"]["spec"]["metrics"]] == ["duplicate-charges"]
    templates, canary = flagger_docs(c)
    assert [m["name"] for m in canary["spec"]["analysis"]["metrics"]] == ["duplicate-charges"]
    assert "ledger" not in export.files(c, "argo-rollouts", OPTIONS)["analysis-templates.yaml"].split("apiVersion")[2]
    validate(canary, CANARY)


def test_a_catalog_with_no_invariant_signal_exports_the_judge_alone(foreign):
    data = foreign_data()
    data["signals"].pop(Key.DUPLICATE_CHARGES_TOTAL)
    data["alerts"].pop("DuplicateChargeDetected", None)
    data["features"]["ledger"] = False
    for key in (Key.LEDGER_WRITES_TOTAL, Key.LEDGER_WRITE_DURATION_SECONDS, Key.LEDGER_IMBALANCE_MINOR):
        data["signals"].pop(key, None)
    for key in ("LedgerImbalance", "LedgerWriteFailures"):
        data["alerts"].pop(key, None)
    data["slos"] = {k: v for k, v in data.get("slos", {}).items() if "ledger" not in str(v)}
    c = load(data)
    assert set(argo(c)) == {"judge"}
    out = export.files(c, "flagger", OPTIONS)
    assert set(out) == {"canary.yaml"}
    (canary,) = docs(out["canary.yaml"])
    assert "metrics" not in canary["spec"]["analysis"]
    validate(canary, CANARY)


# ---------------------------------------------------------------- Argo: three verdicts, empty never a pass


def test_argo_invariant_conditions_empty_and_nan_are_inconclusive_never_a_pass(catalog):
    for metric in argo(catalog)["invariants"]["spec"]["metrics"]:
        assert metric["failureLimit"] == 0 and "count" not in metric
        assert argo_phase(metric, [0.0]) == "Successful"
        assert argo_phase(metric, [1.0]) == "Failed"
        assert argo_phase(metric, [250.0]) == "Failed"
        assert argo_phase(metric, []) == "Inconclusive"
        assert argo_phase(metric, [math.nan]) == "Inconclusive"
        assert "isNaN(result[0])" in metric["successCondition"]
        # the first duplicate fails the metric at once; a canary never measured does not pass
        assert argo_metric_outcome(metric, [[0.0], [0.0], [1.0]]) == ("Failed", 3)
        assert argo_metric_outcome(metric, [[]] * 5)[0] == "Running"
        limit = metric["inconclusiveLimit"]
        assert argo_metric_outcome(metric, [[]] * (limit + 1)) == ("Inconclusive", limit + 1)


def test_argo_judge_metric_maps_the_three_verdicts(catalog):
    (metric,) = argo(catalog)["judge"]["spec"]["metrics"]
    web = metric["provider"]["web"]
    assert web["jsonPath"] == "{$}" and web["method"] == "GET"
    assert metric["successCondition"] == 'result.verdict == "pass"'
    assert metric["failureCondition"] == 'result.verdict == "fail"'
    assert metric["interval"] == "30s" and "count" not in metric  # the catalog's canary interval (its default)
    assert argo_phase(metric, {"verdict": "pass"}) == "Successful"
    assert argo_phase(metric, {"verdict": "fail"}) == "Failed"
    assert argo_phase(metric, {"verdict": "inconclusive"}) == "Inconclusive"
    assert argo_phase(metric, {"reason": "no verdict key"}) == "Inconclusive"
    limit = metric["inconclusiveLimit"]
    assert limit == 241  # two hours of 30 s looks, plus the look at which the judge's own policy answers
    inconclusive = {"verdict": "inconclusive"}
    assert argo_metric_outcome(metric, [inconclusive] * 30 + [{"verdict": "pass"}]) == ("Successful", 31)
    assert argo_metric_outcome(metric, [inconclusive] * 3 + [{"verdict": "fail"}]) == ("Failed", 4)
    assert argo_metric_outcome(metric, [inconclusive] * (limit + 1)) == ("Inconclusive", limit + 1)
    # every measurement errored: an Error, never Successful (argoproj/argo-rollouts#4479)
    assert argo_metric_outcome(metric, [None] * 10)[0] == "Error"


def test_argo_calls_the_judges_verdict_path_with_the_rollouts_hashes(catalog):
    (metric,) = argo(catalog)["judge"]["spec"]["metrics"]
    url = metric["provider"]["web"]["url"]
    resolved = (url.replace("{{args.canary-hash}}", "6f9c7b8d4").replace("{{args.baseline-hash}}", "5d8b7c6f9")
                .replace("{{args.since}}", "2026-01-02T03:04:05Z"))
    parts = urlsplit(resolved)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == JUDGE + "/v1/verdict"
    assert parse_qs(parts.query) == {"canary": ['rollouts_pod_template_hash="6f9c7b8d4"'],
                                     "baseline": ['rollouts_pod_template_hash="5d8b7c6f9"'],
                                     "since": ["2026-01-02T03:04:05Z"]}
    args = argo(catalog)["judge"]["spec"]["args"]
    assert args == [{"name": "canary-hash"}, {"name": "baseline-hash"}, {"name": "since", "value": ""}]
    assert {a["name"] for a in argo(catalog)["invariants"]["spec"]["args"]} == {"canary-hash"}


def test_argo_options_change_the_label_names_and_prometheus(foreign):
    options = export.Options(judge_url=JUDGE, namespace="shop", name="tickets-gate", selector_label="hash",
                             prometheus_url="https://prom.example:9443")
    got = argo(foreign, options)
    assert {d["metadata"]["name"] for d in got.values()} == {"tickets-gate-judge", "tickets-gate-invariants"}
    assert {d["metadata"]["namespace"] for d in got.values()} == {"shop"}
    for metric in got["invariants"]["spec"]["metrics"]:
        assert metric["provider"]["prometheus"]["address"] == "https://prom.example:9443"
        assert '{hash="{{args.canary-hash}}"}' in metric["provider"]["prometheus"]["query"]
    assert "canary=hash%3D%22{{args.canary-hash}}%22" in got["judge"]["spec"]["metrics"][0]["provider"]["web"]["url"]


def test_the_looks_follow_the_catalogs_canary_policy(catalog):
    assert rollouts.interval(catalog) == "30s"
    assert rollouts.inconclusive_looks(catalog) == 241  # the defaults: 30 s looks, 2 h inconclusive at most
    policy = catalog.canary.model_copy(update={"interval": "2h", "max_inconclusive": "1h"})
    slow = catalog.model_copy(update={"canary": policy})
    assert flagger.flagger_interval(slow) == "120m" and rollouts.inconclusive_looks(slow) == 2


# ---------------------------------------------------------------- Flagger: two webhooks carry three verdicts


def test_flagger_webhooks_call_the_judges_flagger_paths(catalog):
    _, canary = flagger_docs(catalog)
    analysis = canary["spec"]["analysis"]
    hooks = {h["type"]: h for h in analysis["webhooks"]}
    assert set(hooks) == {"rollout", "confirm-promotion"}
    assert hooks["rollout"]["url"] == JUDGE + "/v1/flagger/check"
    assert hooks["confirm-promotion"]["url"] == JUDGE + "/v1/flagger/confirm-promotion"
    for hook in hooks.values():
        assert hook["metadata"] == {
            "canary": 'namespace="payments", pod=~"payments-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"',
            "baseline": 'namespace="payments", pod=~"payments-primary-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"'}
    assert canary["spec"]["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "payments"}
    assert analysis["maxWeight"] == analysis["stepWeight"] == 10  # judged at 10 %, held there until the pass
    assert analysis["threshold"] == flagger.THRESHOLD == 2


def test_flagger_selectors_tell_canary_pods_from_primary_ones(catalog):
    """PromQL regex matchers are anchored: what the canary's matcher takes, and what it leaves to the baseline."""
    _, canary = flagger_docs(catalog)
    meta = canary["spec"]["analysis"]["webhooks"][0]["metadata"]
    pattern = {k: re.search(r'pod=~"([^"]+)"', v)[1] for k, v in meta.items()}
    assert re.fullmatch(pattern["canary"], "payments-6f9c7b8d4-x2k9p")
    assert not re.fullmatch(pattern["canary"], "payments-primary-5d8b7c6f9-q8w7e")
    assert re.fullmatch(pattern["baseline"], "payments-primary-5d8b7c6f9-q8w7e")
    assert not re.fullmatch(pattern["baseline"], "payments-6f9c7b8d4-x2k9p")


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(("args", "words"), [
    (("argo-rollouts", "--judge-url", "ftp://judge:21"), "--judge-url: 'ftp://judge:21' is not an http(s) URL"),
    (("argo-rollouts", "--judge-url", "judge:8080"), "is not an http(s) URL"),
    (("argo-rollouts", "--judge-url", "http://judge:port"), "is not an http(s) URL"),
    (("argo-rollouts",), "--judge-url is required"),
    (("flagger", "--judge-url", JUDGE), "--target NAME is required"),
    (("flagger", "--judge-url", JUDGE, "--target", "Payments"), "not a Kubernetes object name"),
    (("flagger", "--judge-url", JUDGE, "--target", "p", "--port", "0"), "--port: 0 is not a port"),
    (("argo-rollouts", "--judge-url", JUDGE, "--selector-label", "pod-hash"), "not a Prometheus label name"),
    (("argo-rollouts", "--judge-url", JUDGE, "--namespace", "Pay"), "not a Kubernetes namespace"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, words):
    out = tmp_path / "out"
    result = run_cli("export", *args, "--catalog", str(CATALOG_PATH), "--out", str(out))
    assert result.returncode == 2, result
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert words in result.stderr
    assert not out.exists()


def test_export_writes_the_files_or_streams_them_to_stdout(tmp_path):
    out = tmp_path / "deploy"
    result = run_cli("export", "flagger", "--catalog", str(FOREIGN_PATH), "--judge-url", JUDGE, "--target", "shop",
                     "--namespace", "shop", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["canary.yaml", "metric-templates.yaml"]
    assert f"wrote {out / 'canary.yaml'}" in result.stdout and "kubectl apply -n shop" in result.stdout
    streamed = run_cli("export", "argo-rollouts", "--catalog", str(FOREIGN_PATH), "--judge-url", JUDGE, "--out", "-")
    assert streamed.returncode == 0 and streamed.stderr == ""
    kinds = [d["kind"] for d in docs(streamed.stdout)]
    assert kinds == ["AnalysisTemplate", "AnalysisTemplate"]
    assert "shop_duplicate_charges_total" in streamed.stdout and "moneypath_" not in streamed.stdout


def test_help_lists_the_canary_options():
    result = run_cli("export", "--help")
    for option in ("--judge-url", "--selector-label", "--prometheus-url", "--target", "--port", "argo-rollouts",
                   "flagger", "/v1/verdict", "/v1/flagger/confirm-promotion"):
        assert option in result.stdout, option
