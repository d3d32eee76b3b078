"""Flagger: one MetricTemplate (flagger.app/v1beta1) per money invariant, and a Canary whose analysis calls the judge.

Flagger has two outcomes per check, not three, so the judge's three verdicts map onto two webhooks:
- `rollout` webhook -> POST /v1/flagger/check every interval: 2xx unless the verdict is fail; a fail is a failed
  check, and `threshold` failed checks roll the canary back.
- `confirm-promotion` webhook -> POST /v1/flagger/confirm-promotion once the canary is at maxWeight: 2xx only on
  pass. While the judge is inconclusive Flagger waits there (WaitingPromotion) and keeps checking, so a quiet
  night holds the rollout instead of rolling it back or promoting it.
The invariants' MetricTemplates gate each check with thresholdRange max 0. Flagger reads an empty result or NaN as
"no values found" (fluxcd/flagger#1035, #1689) and halts advancement with a failed check: a failure to measure is
never a pass; it counts towards the rollback like a broken invariant does.
"""

from __future__ import annotations

from moneypath.catalog import Catalog
from moneypath.catalog import duration_seconds as parse_duration
from moneypath.generate.export import invariants, k8s, rollouts
from moneypath.generate.export.options import ExportError, Options

API_VERSION = "flagger.app/v1beta1"
DEFAULT_SELECTOR_LABEL = "pod"  # Flagger's own convention: canary pods are <target>-<hash>-<id>
# Failed checks before the rollback: one failure to measure (a scrape gap, a pod not yet reporting) is forgiven;
# a broken invariant or a judge's fail, which repeat at every check, roll back at their second look.
THRESHOLD = 2
STEP_WEIGHT = 10  # the canary's share of traffic, and where it stays until the judge's pass
CHECK_WEBHOOK, PROMOTION_WEBHOOK = "moneypath-judge", "moneypath-confirm-promotion"


def _pods(label: str, deployment: str) -> str:
    """Matchers for a Deployment's pods (<name>-<replicaset hash>-<pod id>): not the <name>-primary ones."""
    return f'{label}=~"{deployment}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"'


def flagger_interval(c: Catalog) -> str:
    """The judge's interval in the units Flagger's schema takes (seconds or minutes)."""
    seconds = int(parse_duration(rollouts.interval(c)))
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _target(options: Options) -> str:
    if not options.target:
        raise ExportError("flagger: --target NAME is required: the Deployment the Canary manages (its pods and its "
                          "-primary pods are the canary and the baseline)")
    return k8s.check_name(options.target)


def _template_name(c: Catalog, options: Options, inv: invariants.Invariant) -> str:
    return k8s.check_name(f"{rollouts.base_name(c, options)}-{inv.name}")


def metric_templates(c: Catalog, options: Options) -> list[dict]:
    label = rollouts.selector_label(options, DEFAULT_SELECTOR_LABEL)
    canary = f'namespace="{{{{ namespace }}}}", {_pods(label, "{{ target }}")}'
    address = rollouts.prometheus_url(options)
    return [{"apiVersion": API_VERSION, "kind": "MetricTemplate",
             "metadata": k8s.metadata(_template_name(c, options, inv), rollouts.namespace(options)),
             "spec": {"provider": {"type": "prometheus", "address": address},
                      "query": invariants.query(c, inv, canary)}}
            for inv in invariants.invariants(c)]


def canary(c: Catalog, options: Options) -> dict:
    target, ns = _target(options), rollouts.namespace(options)
    label = rollouts.selector_label(options, DEFAULT_SELECTOR_LABEL)
    judge = rollouts.judge_url(options)
    every = flagger_interval(c)
    metadata = {"canary": f'namespace="{ns}", {_pods(label, target)}',
                "baseline": f'namespace="{ns}", {_pods(label, f"{target}-primary")}'}
    webhooks = [
        {"name": CHECK_WEBHOOK, "type": "rollout", "url": judge + rollouts.FLAGGER_CHECK_PATH,
         "timeout": f"{rollouts.JUDGE_TIMEOUT_S}s", "metadata": dict(metadata)},
        {"name": PROMOTION_WEBHOOK, "type": "confirm-promotion", "url": judge + rollouts.FLAGGER_PROMOTION_PATH,
         "timeout": f"{rollouts.JUDGE_TIMEOUT_S}s", "metadata": dict(metadata)},
    ]
    metrics = [{"name": inv.name, "templateRef": {"name": _template_name(c, options, inv), "namespace": ns},
                "thresholdRange": {"max": 0}, "interval": every} for inv in invariants.invariants(c)]
    analysis = {"interval": every, "threshold": THRESHOLD, "maxWeight": STEP_WEIGHT, "stepWeight": STEP_WEIGHT,
                **({"metrics": metrics} if metrics else {}), "webhooks": webhooks}
    return {"apiVersion": API_VERSION, "kind": "Canary", "metadata": k8s.metadata(target, ns),
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "service": {"port": _port(options)}, "analysis": analysis}}


def _port(options: Options) -> int:
    if not 1 <= options.port <= 65535:
        raise ExportError(f"--port: {options.port} is not a port (1-65535)")
    return options.port


CANARY_NOTE = """# The analysis calls the judge: `rollout` webhook -> {check} (a fail is a failed check),
# `confirm-promotion` webhook -> {promotion} (promotes only on pass; inconclusive waits at {weight} %).
# Already have a Canary for {target}? Copy spec.analysis into it. Flagger sends no start time: the judge
# takes the canary's first sample (the metadata's canary selector) as its start.
"""


def files(c: Catalog, options: Options) -> dict[str, str]:
    templates = metric_templates(c, options)
    judge = rollouts.judge_url(options)
    out = {}
    if templates:
        out["metric-templates.yaml"] = (
            k8s.header(c, "flagger") + "# Money invariants on the canary's pods: 0 holds, above 0 fails the check, no "
            "value (no series, NaN)\n# is Flagger's \"no values found\", a failed check too: never a pass.\n"
            + "---\n".join(k8s.dump(t) for t in templates))
    note = CANARY_NOTE.format(check=judge + rollouts.FLAGGER_CHECK_PATH,
                              promotion=judge + rollouts.FLAGGER_PROMOTION_PATH, weight=STEP_WEIGHT,
                              target=_target(options))
    out["canary.yaml"] = k8s.header(c, "flagger") + note + k8s.dump(canary(c, options))
    return out


def next_steps(c: Catalog, options: Options, out: str) -> list[str]:
    return [f"apply: kubectl apply -n {rollouts.namespace(options)} -f {out}/",
            f"the judge must answer at {rollouts.judge_url(options)}/v1/flagger/... from the Flagger controller "
            "(`moneypath canary serve`)",
            f"Prometheus must label the pods' series with namespace and "
            f"{rollouts.selector_label(options, DEFAULT_SELECTOR_LABEL)} (the pod name), as a PodMonitor does"]
