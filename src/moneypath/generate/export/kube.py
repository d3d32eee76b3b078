"""kube-prometheus-stack (prometheus-operator): a PrometheusRule, one dashboard ConfigMap per dashboard for
Grafana's sidecar, an AlertmanagerConfig, and a kustomization listing them (`kubectl apply -k DIR`).

The first-day failures this avoids: a PrometheusRule without the labels the Prometheus' ruleSelector asks for
(kube-prometheus-stack: `release: <helm release>`) is ignored without a word; an AlertmanagerConfig only sees
alerts whose `namespace` label is its own namespace (the operator adds that matcher), which aggregated alert
expressions drop, so every alert rule here sets it; the sidecar loads only ConfigMaps with its label and files
them in the folder named by its folder annotation.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from moneypath.catalog import Catalog
from moneypath.generate.export import amconfig, gameday, k8s
from moneypath.generate.export.options import Options
from moneypath.generate.export.prometheus import rule_groups
from moneypath.generate.routing import alertmanager_config

DEFAULT_NAMESPACE = "monitoring"
DEFAULT_LABELS = {"release": "kube-prometheus-stack"}  # the chart's ruleSelector for a release of that name


def _alerts_in(namespace: str, groups: list[dict]) -> list[dict]:
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["labels"] = {**rule.get("labels", {}), "namespace": namespace}
    return groups


def files(c: Catalog, options: Options) -> dict[str, str]:
    from moneypath.generate import dashboards  # the tools extra (grafana-foundation-sdk)

    namespace = k8s.check_namespace(options.namespace or DEFAULT_NAMESPACE)
    game = gameday.files(c, options, namespace) if options.gameday_schedule is not None else {}
    labels = k8s.check_labels(DEFAULT_LABELS if options.labels is None else options.labels, "--label")
    dashboard_labels = k8s.check_labels(options.dashboard_labels, "--dashboard-label")
    folder_annotation = k8s.check_key(options.folder_annotation, "--folder-annotation")
    folder = options.folder or dashboards.DEFAULT_FOLDER
    header = k8s.header(c, "kube")
    recording, alerting = rule_groups(c)
    out: dict[str, str] = {}

    selector = ", ".join(f"{k}: {v}" for k, v in labels.items()) or "none"
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": k8s.metadata(k8s.object_name(c.namespace, "rules"), namespace, labels),
            "spec": {"groups": recording + _alerts_in(namespace, alerting)}}
    out["prometheusrule.yaml"] = (
        header + f"# Labels ({selector}) must match your Prometheus' ruleSelector, or it ignores this object without\n"
                 "# a word: `kubectl get prometheus -A -o jsonpath='{.items[*].spec.ruleSelector}'`.\n"
        + k8s.dump(rule))

    secret = k8s.object_name(c.namespace, "alertmanager-secrets")
    # The receivers' declared deliveries when the catalog has them (as alerts/alertmanager.production.yml), else
    # the pager's webhooks.
    production = c.delivers_in_production
    spec, keys = amconfig.spec(alertmanager_config(c, options.pager_url, production=production), secret)
    delivery = ("Receivers deliver where the catalog declares\n# (as in alerts/alertmanager.production.yml)."
                if production else f"Webhooks go to\n# {options.pager_url} (--pager-url).")
    secret_note = (f"# Receivers read keys {', '.join(keys)} of Secret {secret} in {namespace}:\n"
                   f"#   kubectl -n {namespace} create secret generic {secret} "
                   + " ".join(f"--from-file={k}=PATH" for k in keys) + "\n") if keys else ""
    routing = {"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "AlertmanagerConfig",
               "metadata": k8s.metadata(k8s.object_name(c.namespace, "routing"), namespace, labels), "spec": spec}
    out["alertmanagerconfig.yaml"] = (
        header + f"# The operator adds the matcher namespace=\"{namespace}\" to this route and its inhibit rules: "
                 "only alerts\n# with that label reach it (every alert in prometheusrule.yaml sets it). Alertmanager's "
                 f"global section\n# (resolve_timeout) stays with the cluster's Alertmanager. {delivery}\n"
                 + secret_note + k8s.dump(routing))

    folder_note = (f"# Grafana's sidecar files it in {folder!r} only with sidecar.dashboards.folderAnnotation: "
                   f"{folder_annotation}\n# and sidecar.dashboards.provider.foldersFromFilesStructure: true "
                   "(kube-prometheus-stack values: grafana.sidecar...).\n")
    for rel, content in dashboards.files(c, PurePosixPath(c.path).name).items():
        key = re.sub(r"[^-._a-zA-Z0-9]", "-", PurePosixPath(rel).name)
        name = k8s.object_name(PurePosixPath(rel).stem, "dashboard")
        config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": k8s.metadata(name, namespace, dashboard_labels, {folder_annotation: folder}),
                      "data": {key: content}}
        out[f"dashboards/{name}.yaml"] = header + folder_note + k8s.dump(config_map)
    out.update(game)
    out["kustomization.yaml"] = header + k8s.dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [rel for rel in out if rel != "kustomization.yaml"]})
    return out


def next_steps(c: Catalog, options: Options, out: str) -> list[str]:
    from moneypath.generate.dashboards import DEFAULT_FOLDER

    namespace = options.namespace or DEFAULT_NAMESPACE
    labels = DEFAULT_LABELS if options.labels is None else options.labels
    shown = ", ".join(f"{k}={v}" for k, v in labels.items()) or "no labels"
    shown_dashboards = ", ".join(f"{k}={v}" for k, v in options.dashboard_labels.items())
    return [f"apply: kubectl apply --server-side -k {out}",
            f"PrometheusRule labelled {shown}: your Prometheus' ruleSelector must match it (--label KEY=VALUE), "
            "or its rules are silently ignored",
            f"AlertmanagerConfig: the operator only routes alerts labelled namespace={namespace}; "
            "every exported alert rule carries it",
            f"dashboards: ConfigMaps labelled {shown_dashboards}, folder {options.folder or DEFAULT_FOLDER!r} from "
            f"annotation {options.folder_annotation} (Grafana's sidecar needs folderAnnotation and "
            "foldersFromFilesStructure: true)"] + (
        gameday.next_steps(c, options, namespace) if options.gameday_schedule is not None else [])
