"""VictoriaMetrics: a VMRule for the operator (operator.victoriametrics.com/v1beta1) and the same groups as vmalert
rule files (`vmalert -rule=rules/*.yaml`; vmalert reads Prometheus' rule format)."""

from __future__ import annotations

from moneypath.catalog import Catalog
from moneypath.generate.build import rules_yaml
from moneypath.generate.export import k8s
from moneypath.generate.export.options import Options
from moneypath.generate.export.prometheus import rule_groups

DEFAULT_NAMESPACE = "monitoring"


def files(c: Catalog, options: Options) -> dict[str, str]:
    namespace = k8s.check_namespace(options.namespace or DEFAULT_NAMESPACE)
    labels = k8s.check_labels(options.labels or {}, "--label")
    recording, alerting = rule_groups(c)
    header = k8s.header(c, "vm")
    vmrule = {"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMRule",
              "metadata": k8s.metadata(k8s.object_name(c.namespace, "rules"), namespace, labels),
              "spec": {"groups": recording + alerting}}
    return {
        "vmrule.yaml": header + "# A VMAlert picks this up when its ruleSelector/ruleNamespaceSelector match "
                                "(selectAllByDefault: true in victoria-metrics-k8s-stack).\n" + k8s.dump(vmrule),
        "rules/recording-rules.yaml": header + rules_yaml({"groups": recording}),
        "rules/alerts.yaml": header + rules_yaml({"groups": alerting}),
    }


def next_steps(c: Catalog, options: Options, out: str) -> list[str]:
    return [f"operator: kubectl apply -f {out}/vmrule.yaml (namespace {options.namespace or DEFAULT_NAMESPACE})",
            f"vmalert: -rule={out}/rules/*.yaml (check: vmalert -dryRun -rule={out}/rules/*.yaml)"]
