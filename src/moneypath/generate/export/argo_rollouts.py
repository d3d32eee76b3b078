"""Argo Rollouts: two AnalysisTemplates (argoproj.io/v1alpha1), one file.

- `<name>-judge`, for an inline analysis step: a `web` metric asking the judge (`GET /v1/verdict`) every interval.
  The judge's "pass" ends the step (consecutiveSuccessLimit 1), its "fail" fails it (failureLimit 0: the judge's
  sequential test has already weighed every look), and anything else is Inconclusive: up to `inconclusive_looks`
  of them, then the run is Inconclusive and Argo pauses the rollout (the hold). No `count`: a metric with a count
  ends Successful once the count is reached, even when every measurement errored (argoproj/argo-rollouts#4479);
  here only a measured pass ends it well.
- `<name>-invariants`, for the background analysis: one `prometheus` metric per money invariant, read from the
  canary's pods for as long as the rollout runs. It cannot sit in the judge's step: a metric without a count
  never completes, so the step would never end.

Argo evaluates a Prometheus vector as a list: an empty result ([]) and NaN satisfy neither condition below, so
they are Inconclusive, never a pass (argoproj/argo-rollouts#1466, #1905, #3503).
"""

from __future__ import annotations

from urllib.parse import quote

from moneypath.catalog import Catalog
from moneypath.generate.export import invariants, k8s, rollouts
from moneypath.generate.export.options import Options

API_VERSION = "argoproj.io/v1alpha1"
DEFAULT_SELECTOR_LABEL = "rollouts_pod_template_hash"  # the pod label Argo sets, as Prometheus' labelmap names it
CANARY_ARG, BASELINE_ARG, SINCE_ARG = "canary-hash", "baseline-hash", "since"

VERDICT_METRIC = "moneypath-verdict"
VERDICT_SUCCESS = 'result.verdict == "pass"'
VERDICT_FAILURE = 'result.verdict == "fail"'
# One value per query (sum/max without `by`): 0 holds, above 0 is broken; [] and [NaN] are neither.
INVARIANT_SUCCESS = "len(result) > 0 && !isNaN(result[0]) && result[0] == 0"
INVARIANT_FAILURE = "len(result) > 0 && result[0] > 0"
CONSECUTIVE_ERROR_LIMIT = 4  # Argo's default, said out loud: five judge errors in a row end the run as Error


def _arg(name: str) -> str:
    return "{{args." + name + "}}"


def _matcher(label: str, arg: str) -> str:
    return f'{label}="{_arg(arg)}"'


def verdict_url(judge: str, label: str) -> str:
    """GET {judge}/v1/verdict with the selectors URL-encoded around Argo's argument placeholders."""
    def selector(arg: str) -> str:
        return quote(f'{label}="', safe="") + _arg(arg) + quote('"', safe="")

    return (f"{judge}{rollouts.VERDICT_PATH}?canary={selector(CANARY_ARG)}&baseline={selector(BASELINE_ARG)}"
            f"&since={_arg(SINCE_ARG)}")


def judge_template(c: Catalog, options: Options) -> dict:
    label = rollouts.selector_label(options, DEFAULT_SELECTOR_LABEL)
    metric = {
        "name": VERDICT_METRIC,
        "interval": rollouts.interval(c),
        "successCondition": VERDICT_SUCCESS,
        "failureCondition": VERDICT_FAILURE,
        "failureLimit": 0,
        "consecutiveSuccessLimit": 1,
        "inconclusiveLimit": rollouts.inconclusive_looks(c),
        "consecutiveErrorLimit": CONSECUTIVE_ERROR_LIMIT,
        "provider": {"web": {"url": verdict_url(rollouts.judge_url(options), label), "method": "GET",
                             "jsonPath": "{$}", "timeoutSeconds": rollouts.JUDGE_TIMEOUT_S}},
    }
    return {"apiVersion": API_VERSION, "kind": "AnalysisTemplate",
            "metadata": k8s.metadata(f"{rollouts.base_name(c, options)}-judge", rollouts.namespace(options)),
            "spec": {"args": [{"name": CANARY_ARG}, {"name": BASELINE_ARG}, {"name": SINCE_ARG, "value": ""}],
                     "metrics": [metric]}}


def invariants_template(c: Catalog, options: Options) -> dict | None:
    found = invariants.invariants(c)
    if not found:
        return None
    label = rollouts.selector_label(options, DEFAULT_SELECTOR_LABEL)
    address = rollouts.prometheus_url(options)
    metrics = [{
        "name": inv.name,
        "interval": rollouts.interval(c),
        "successCondition": INVARIANT_SUCCESS,
        "failureCondition": INVARIANT_FAILURE,
        "failureLimit": 0,
        "inconclusiveLimit": rollouts.inconclusive_looks(c),
        "consecutiveErrorLimit": CONSECUTIVE_ERROR_LIMIT,
        "provider": {"prometheus": {"address": address,
                                    "query": invariants.query(c, inv, _matcher(label, CANARY_ARG))}},
    } for inv in found]
    return {"apiVersion": API_VERSION, "kind": "AnalysisTemplate",
            "metadata": k8s.metadata(f"{rollouts.base_name(c, options)}-invariants", rollouts.namespace(options)),
            "spec": {"args": [{"name": CANARY_ARG}], "metrics": metrics}}


USAGE = """# In the Rollout (spec.strategy.canary), Argo Rollouts 1.8 or later (consecutiveSuccessLimit):
#   analysis:                       # background, for the whole rollout: any broken money invariant aborts it
#     templates: [{{templateName: {invariants}}}]
#     args: [{{name: canary-hash, valueFrom: {{podTemplateHashValue: Latest}}}}]
#   steps:
#   - setWeight: 10
#   - analysis:                     # waits for the judge: pass continues, fail aborts, inconclusive too long pauses
#       templates: [{{templateName: {judge}}}]
#       args:
#       - {{name: canary-hash, valueFrom: {{podTemplateHashValue: Latest}}}}
#       - {{name: baseline-hash, valueFrom: {{podTemplateHashValue: Stable}}}}
#       - {{name: since, value: ""}}  # empty: the judge starts at the canary's first sample; else RFC 3339, UTC, Z
# Prometheus must keep the pods' {pod_label} label as {label} (PodMonitor podTargetLabels, or a labelmap).
"""


def files(c: Catalog, options: Options) -> dict[str, str]:
    judge = judge_template(c, options)
    gate = invariants_template(c, options)
    docs = [judge] + ([gate] if gate else [])
    usage = USAGE.format(judge=judge["metadata"]["name"],
                         invariants=gate["metadata"]["name"] if gate else "(none: the catalog declares no invariant)",
                         pod_label="rollouts-pod-template-hash",
                         label=rollouts.selector_label(options, DEFAULT_SELECTOR_LABEL))
    return {"analysis-templates.yaml": k8s.header(c, "argo-rollouts") + usage
            + "---\n".join(k8s.dump(doc) for doc in docs)}


def next_steps(c: Catalog, options: Options, out: str) -> list[str]:
    return [f"apply: kubectl apply -n {rollouts.namespace(options)} -f {out}/analysis-templates.yaml",
            "reference them from the Rollout as the file's first lines show: the invariants as background analysis, "
            "the judge as an analysis step after setWeight",
            f"the judge must answer at {rollouts.judge_url(options)}{rollouts.VERDICT_PATH} from the Argo Rollouts "
            "controller (`moneypath canary serve`)"]
