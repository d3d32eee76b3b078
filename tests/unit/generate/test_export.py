"""`moneypath export <platform>`: each Kubernetes object valid against its published CRD schema (tests/schemas),
the rules and dashboards the same as the build's, the first-day pitfalls avoided (selector labels, the
AlertmanagerConfig's namespace matcher, the sidecar's label and folder, one ruler namespace per file), on the
reference catalog and the foreign one; bad input is one line and writes nothing."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
import yaml

from moneypath.catalog import parse_catalog
from moneypath.generate import build, dashboards, export
from moneypath.generate.export.amconfig import camel
from moneypath.generate.routing import alertmanager_config
from moneypath.generate.rules import alert_rules, recording_rules
from tests.conftest import CATALOG_PATH, FOREIGN_PATH, run_cli
from tests.support.crd_schemas import SCHEMAS, crd_schema

# apimachinery's rules, written out independently of the code under test
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?")


PROMETHEUS_RULE = crd_schema("monitoring.coreos.com_prometheusrules.yaml", "v1")
ALERTMANAGER_CONFIG = crd_schema("monitoring.coreos.com_alertmanagerconfigs.yaml", "v1alpha1")
VMRULE = crd_schema("operator.victoriametrics.com_vmrules.yaml", "v1beta1")
CONFIG_MAP = json.loads((SCHEMAS / "core_v1_configmap.json").read_text(encoding="utf-8"))


def _list_map_duplicates(schema: dict, doc) -> list[str]:
    """x-kubernetes-list-type: map lists whose keys repeat (the API server refuses them; jsonschema cannot see it)."""
    found = []
    if isinstance(doc, list) and schema.get("x-kubernetes-list-type") == "map":
        keys = [tuple(item.get(k) for k in schema["x-kubernetes-list-map-keys"]) for item in doc]
        found += [f"duplicate {key}" for key, n in Counter(keys).items() if n > 1]
    if isinstance(doc, list):
        for item in doc:
            found += _list_map_duplicates(schema.get("items", {}), item)
    elif isinstance(doc, dict):
        for key, value in doc.items():
            if key in schema.get("properties", {}):
                found += _list_map_duplicates(schema["properties"][key], value)
    return found


def validate(doc: dict, schema: dict) -> None:
    jsonschema.Draft7Validator(schema).validate(doc)
    assert _list_map_duplicates(schema, doc) == []
    meta = doc["metadata"]
    assert DNS_SUBDOMAIN.fullmatch(meta["name"]), meta["name"]
    assert DNS_LABEL.fullmatch(meta["namespace"]), meta["namespace"]
    for value in meta.get("labels", {}).values():
        assert LABEL_VALUE.fullmatch(value), value


def validate_routing(doc: dict) -> None:
    """The AlertmanagerConfig, and each child route against the route schema (the CRD leaves them free-form)."""
    validate(doc, ALERTMANAGER_CONFIG)
    route_schema = ALERTMANAGER_CONFIG["properties"]["spec"]["properties"]["route"]

    def walk(route):
        jsonschema.Draft7Validator(route_schema).validate(route)
        for child in route.get("routes", []):
            walk(child)

    walk(doc["spec"]["route"])


def load(text: str) -> dict:
    (doc,) = list(yaml.safe_load_all(text))
    return doc


@pytest.fixture(params=["catalog", "foreign"])
def any_catalog(request):
    """The reference catalog and the ticket shop's (other providers, currencies, receivers; domains off)."""
    return request.getfixturevalue(request.param)


def _build_groups(c) -> tuple[list[dict], list[dict]]:
    return recording_rules(c)["groups"], alert_rules(c)["groups"]


# ---------------------------------------------------------------- the schemas catch what they should


def test_the_strict_schemas_refuse_a_snake_case_field_and_a_missing_required_one(catalog):
    doc = load(export.files(catalog, "kube")["alertmanagerconfig.yaml"])
    validate_routing(doc)
    snake = copy.deepcopy(doc)
    snake["spec"]["route"]["group_wait"] = snake["spec"]["route"].pop("groupWait")
    with pytest.raises(jsonschema.ValidationError, match="group_wait"):
        validate_routing(snake)
    child = copy.deepcopy(doc)
    child["spec"]["route"]["routes"][0]["matchers"][0]["matchType"] = "=="
    with pytest.raises(jsonschema.ValidationError):
        validate_routing(child)
    rule = load(export.files(catalog, "kube")["prometheusrule.yaml"])
    del rule["spec"]["groups"][0]["name"]
    with pytest.raises(jsonschema.ValidationError, match="name"):
        validate(rule, PROMETHEUS_RULE)
    twice = load(export.files(catalog, "vm")["vmrule.yaml"])
    twice["spec"]["groups"].append(twice["spec"]["groups"][0])
    with pytest.raises(AssertionError, match="duplicate"):
        validate(twice, VMRULE)


# ---------------------------------------------------------------- prometheus


def test_prometheus_is_exactly_what_build_writes(any_catalog):
    assert export.files(any_catalog, "prometheus") == build.artifacts(any_catalog)


# ---------------------------------------------------------------- kube


def test_kube_prometheus_rule_is_valid_selected_and_holds_the_builds_rules(any_catalog):
    files = export.files(any_catalog, "kube")
    rule = load(files["prometheusrule.yaml"])
    validate(rule, PROMETHEUS_RULE)
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    # kube-prometheus-stack's ruleSelector: without this label the rules are ignored without a word
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["namespace"] == "monitoring"
    recording, alerting = _build_groups(any_catalog)
    for group in alerting:  # what the export adds: the namespace the AlertmanagerConfig's matcher asks for
        for r in group["rules"]:
            r["labels"] = {**r.get("labels", {}), "namespace": "monitoring"}
    assert rule["spec"]["groups"] == recording + alerting


def test_kube_every_alert_carries_the_alertmanagerconfigs_namespace(any_catalog):
    files = export.files(any_catalog, "kube", export.Options(namespace="payments-obs"))
    rule, routing = load(files["prometheusrule.yaml"]), load(files["alertmanagerconfig.yaml"])
    assert routing["metadata"]["namespace"] == rule["metadata"]["namespace"] == "payments-obs"
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert alerts and all(r["labels"]["namespace"] == "payments-obs" for r in alerts)
    assert all("namespace" not in r.get("labels", {}) for g in rule["spec"]["groups"] for r in g["rules"]
               if "record" in r)
    assert 'namespace="payments-obs"' in files["alertmanagerconfig.yaml"]  # said where people read it


def test_kube_alertmanagerconfig_is_valid_and_routes_as_the_builds_alertmanager(any_catalog):
    routing = load(export.files(any_catalog, "kube")["alertmanagerconfig.yaml"])
    validate_routing(routing)
    assert (routing["apiVersion"], routing["kind"]) == ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig")
    plain = alertmanager_config(any_catalog, production=any_catalog.delivers_in_production)
    spec = routing["spec"]
    assert spec["route"]["receiver"] == plain["route"]["receiver"]
    assert spec["route"]["groupBy"] == plain["route"]["group_by"]
    assert len(spec["route"]["routes"]) == len(plain["route"]["routes"])
    for ours, theirs in zip(spec["route"]["routes"], plain["route"]["routes"]):
        assert ours["receiver"] == theirs["receiver"]
        assert [f'{m["name"]}{m["matchType"]}"{m["value"]}"' for m in ours["matchers"]] == theirs["matchers"]
        assert ours.get("continue", False) == theirs.get("continue", False)
        assert ours.get("repeatInterval") == theirs.get("repeat_interval")
    assert [r["name"] for r in spec["receivers"]] == [r["name"] for r in plain["receivers"]]
    # every delivery the catalog declares, in the CRD's spelling (PagerDuty, Opsgenie, Slack, webhook)
    assert [sorted(k for k in r if k != "name") for r in spec["receivers"]] == \
        [sorted(camel(k) for k in r if k != "name") for r in plain["receivers"]]
    urls = [c["url"] for r in spec["receivers"] for c in r.get("webhookConfigs", ())]
    assert urls == [c["url"] for r in plain["receivers"] for c in r.get("webhook_configs", ())]
    assert spec["inhibitRules"][0]["equal"] == plain["inhibit_rules"][0]["equal"]


def test_kube_receivers_translate_secret_files_details_and_links_to_the_crds_shape(catalog, monkeypatch):
    """The production receivers (PagerDuty, Opsgenie, Slack, a webhook URL kept in a file) as the routing may
    carry them: camelCase, Secret references instead of files, details as key/value lists, all schema-valid."""
    plain = alertmanager_config(catalog)
    plain["receivers"] = [
        {"name": "pd", "pagerduty_configs": [{"routing_key_file": "/etc/am/pagerduty-payments", "severity": "critical",
                                              "details": {"slo": "{{ .CommonLabels.slo }}"},
                                              "links": [{"href": "{{ .CommonAnnotations.runbook_url }}",
                                                         "text": "runbook"}]}]},
        {"name": "og", "opsgenie_configs": [{"api_key_file": "/etc/am/opsgenie", "priority": "P1",
                                             "api_url": "https://api.eu.opsgenie.com/"}]},
        {"name": "chat", "slack_configs": [{"api_url_file": "/etc/am/slack", "channel": "#payments",
                                            "send_resolved": True,
                                            "actions": [{"type": "button", "text": "Runbook", "url": "{{ .x }}",
                                                         "confirm": {"text": "Sure?", "ok_text": "Yes"}}]}]},
        {"name": "hook", "webhook_configs": [{"url_file": "/etc/am/hook-url", "max_alerts": 10,
                                              "http_config": {"bearer_token_file": "/etc/am/token"}}]},
    ]
    monkeypatch.setattr("moneypath.generate.export.kube.alertmanager_config", lambda c, url, production: plain)
    text = export.files(catalog, "kube")["alertmanagerconfig.yaml"]
    routing = load(text)
    validate_routing(routing)
    pd, og, chat, hook = routing["spec"]["receivers"]
    assert pd["pagerdutyConfigs"][0]["routingKey"] == {"name": "moneypath-alertmanager-secrets",
                                                       "key": "pagerduty-payments"}
    assert pd["pagerdutyConfigs"][0]["details"] == [{"key": "slo", "value": "{{ .CommonLabels.slo }}"}]
    assert pd["pagerdutyConfigs"][0]["pagerDutyLinkConfigs"][0]["alt"] == "runbook"
    assert og["opsgenieConfigs"][0]["apiURL"] == "https://api.eu.opsgenie.com/"
    assert chat["slackConfigs"][0]["apiURL"]["key"] == "slack"
    assert chat["slackConfigs"][0]["actions"][0]["confirm"]["okText"] == "Yes"
    assert hook["webhookConfigs"][0]["urlSecret"]["key"] == "hook-url"
    assert hook["webhookConfigs"][0]["httpConfig"]["bearerTokenSecret"]["key"] == "token"
    assert "create secret generic moneypath-alertmanager-secrets --from-file=pagerduty-payments=PATH" in text


def test_kube_routing_it_cannot_translate_is_an_error_not_a_silent_drop(catalog, monkeypatch):
    plain = {**alertmanager_config(catalog), "time_intervals": [{"name": "weekend"}]}
    monkeypatch.setattr("moneypath.generate.export.kube.alertmanager_config", lambda c, url, production: plain)
    with pytest.raises(export.ExportError, match="time_intervals"):
        export.files(catalog, "kube")


def test_kube_one_sidecar_configmap_per_dashboard_with_folder_and_the_builds_json(any_catalog):
    files = export.files(any_catalog, "kube")
    maps = {rel: load(text) for rel, text in files.items() if rel.startswith("dashboards/")}
    built = dashboards.files(any_catalog, Path(any_catalog.path).name)
    # every board but readiness and the map, which only a catalog declaring `readiness:` or `money_path:` has
    assert len(maps) == len(built) == len(dashboards.BOARDS) - (any_catalog.readiness is None) - (
        any_catalog.money_path is None)
    contents = {}
    for doc in maps.values():
        jsonschema.Draft7Validator(CONFIG_MAP).validate(doc)
        validate(doc, CONFIG_MAP)
        assert doc["metadata"]["labels"] == {"grafana_dashboard": "1"}
        assert doc["metadata"]["annotations"] == {"grafana_folder": dashboards.DEFAULT_FOLDER}
        ((key, content),) = doc["data"].items()
        contents[f"dashboards/{key}"] = content
        # client-side `kubectl apply` keeps a copy in an annotation limited to 256 KiB
        assert len(json.dumps(doc)) < 256 * 1024
    assert contents == built
    kustomization = load(files["kustomization.yaml"])
    assert sorted(kustomization["resources"]) == sorted(rel for rel in files if rel != "kustomization.yaml")


def test_kube_options_replace_the_defaults(foreign):
    options = export.Options(namespace="shop", labels={"release": "prom", "team": "tickets"}, folder="Tickets",
                             folder_annotation="k8s-sidecar-target-directory",
                             dashboard_labels={"grafana.com/dashboard": "yes"}, pager_url="http://127.0.0.1:1")
    files = export.files(foreign, "kube", options)
    rule, routing = load(files["prometheusrule.yaml"]), load(files["alertmanagerconfig.yaml"])
    assert rule["metadata"]["labels"] == routing["metadata"]["labels"] == {"release": "prom", "team": "tickets"}
    board = load(next(text for rel, text in files.items() if rel.startswith("dashboards/")))
    assert board["metadata"]["namespace"] == "shop"
    assert board["metadata"]["labels"] == {"grafana.com/dashboard": "yes"}
    assert board["metadata"]["annotations"] == {"k8s-sidecar-target-directory": "Tickets"}
    assert not [c for r in routing["spec"]["receivers"] for c in r.get("webhookConfigs", ())
                if c.get("url", "").startswith("http://127.0.0.1:1/")]  # it declares its deliveries: no pager
    data = yaml.safe_load(FOREIGN_PATH.read_text())  # the same shop declaring none: every receiver on --pager-url
    data["receivers"] = {name: {"description": r["description"]} for name, r in data["receivers"].items()}
    del data["watchdog"]
    local = load(export.files(parse_catalog(yaml.safe_dump(data, sort_keys=False), str(FOREIGN_PATH)), "kube",
                              options)["alertmanagerconfig.yaml"])
    assert all(c["url"].startswith("http://127.0.0.1:1/hooks/") for r in local["spec"]["receivers"]
               for c in r["webhookConfigs"])


def test_kube_carries_the_catalogs_declared_receivers_with_their_secret_files_as_secret_keys(catalog):
    text = export.files(catalog, "kube")["alertmanagerconfig.yaml"]
    receivers = {r["name"]: r for r in load(text)["spec"]["receivers"]}
    [pd] = receivers[catalog.routes.page]["pagerdutyConfigs"]
    assert pd["routingKey"] == {"name": "moneypath-alertmanager-secrets", "key": "pagerduty-payments"}
    assert pd["pagerDutyLinkConfigs"][0] == {"href": "{{ .CommonAnnotations.runbook_url }}", "alt": "runbook"}
    [hook] = receivers["compliance"]["webhookConfigs"]
    assert hook["httpConfig"]["authorization"]["credentials"]["key"] == "incident-io-token"
    assert "Receivers deliver where the catalog declares" in text and "/etc/alertmanager" not in text


@pytest.mark.parametrize("options, words", [
    (export.Options(namespace="Monitoring"), "--namespace"),
    (export.Options(namespace="a" * 64), "--namespace"),
    (export.Options(labels={"release": "kube prometheus"}), "--label"),
    (export.Options(labels={"release": "x" * 64}), "--label"),
    (export.Options(labels={"-bad": "x"}), "--label"),
    (export.Options(labels={"UPPER.example.com/x": "y"}), "--label"),
    (export.Options(folder_annotation="grafana folder"), "--folder-annotation"),
    (export.Options(dashboard_labels={"grafana_dashboard": "1!"}), "--dashboard-label"),
])
def test_kube_refuses_what_kubernetes_would_reject(catalog, options, words):
    with pytest.raises(export.ExportError, match=words):
        export.files(catalog, "kube", options)


# ---------------------------------------------------------------- mimir


def test_mimir_one_namespace_one_file_holding_every_group_of_the_build(any_catalog):
    files = export.files(any_catalog, "mimir", export.Options(tenant="payments"))
    namespaces = Counter()
    for rel, text in files.items():
        doc = yaml.safe_load(text)
        namespaces[doc["namespace"]] += 1
        assert rel == f"rules/{doc['namespace']}.yaml"
    # the ruler (and mimirtool) refuse one namespace spread over two files
    assert namespaces == Counter({any_catalog.namespace: 1})
    (doc,) = [yaml.safe_load(t) for t in files.values()]
    recording, alerting = _build_groups(any_catalog)
    assert doc["groups"] == recording + alerting
    assert len({g["name"] for g in doc["groups"]}) == len(doc["groups"])  # group names unique in a namespace
    text = next(iter(files.values()))
    assert "--id=payments" in text and "mimirtool rules sync" in text and "X-Scope-OrgID: payments" in text


@pytest.mark.parametrize("options, words", [(export.Options(tenant=".."), "--tenant"),
                                            (export.Options(tenant="a b"), "--tenant"),
                                            (export.Options(namespace="../x"), "--namespace")])
def test_mimir_refuses_a_tenant_or_namespace_mimir_would_not_take(catalog, options, words):
    with pytest.raises(export.ExportError, match=words):
        export.files(catalog, "mimir", options)


# ---------------------------------------------------------------- vm


def test_vm_vmrule_is_valid_and_the_vmalert_files_are_the_builds_groups(any_catalog):
    files = export.files(any_catalog, "vm", export.Options(labels={"app": "vmalert"}))
    vmrule = load(files["vmrule.yaml"])
    validate(vmrule, VMRULE)
    assert (vmrule["apiVersion"], vmrule["kind"]) == ("operator.victoriametrics.com/v1beta1", "VMRule")
    assert vmrule["metadata"]["labels"] == {"app": "vmalert"}
    recording, alerting = _build_groups(any_catalog)
    assert vmrule["spec"]["groups"] == recording + alerting
    assert yaml.safe_load(files["rules/recording-rules.yaml"])["groups"] == recording
    assert yaml.safe_load(files["rules/alerts.yaml"])["groups"] == alerting


# ---------------------------------------------------------------- the command


def test_export_writes_every_file_and_says_what_to_run(tmp_path):
    out = tmp_path / "deploy"
    result = run_cli("export", "kube", "--catalog", str(FOREIGN_PATH), "--out", str(out), "--namespace", "shop",
                     "--label", "release=prom", "--label", "team=tickets")
    assert result.returncode == 0, result.stderr
    rule = load((out / "prometheusrule.yaml").read_text())
    assert rule["metadata"]["labels"] == {"release": "prom", "team": "tickets"}
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(line.removeprefix(f"wrote {out}/") for line in result.stdout.splitlines()
                             if line.startswith("wrote "))
    assert f"kubectl apply --server-side -k {out}" in result.stdout
    assert "release=prom, team=tickets" in result.stdout and "namespace=shop" in result.stdout


def test_export_default_directory_is_deploy_platform(tmp_path):
    result = run_cli("export", "mimir", "--catalog", str(CATALOG_PATH), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "deploy" / "mimir" / "rules").iterdir()] == ["moneypath.yaml"]


@pytest.mark.parametrize("args, words", [
    (("nope",), "unknown platform 'nope'"),
    (("kube", "--label", "release"), "not KEY=VALUE"),
    (("kube", "--label", "=x"), "not KEY=VALUE"),
    (("kube", "--label", "release=kube prometheus"), "Kubernetes would reject"),
    (("kube", "--dashboard-label", "grafana_dashboard"), "not KEY=VALUE"),
    (("kube", "--namespace", "Monitoring"), "not a Kubernetes namespace"),
    (("vm", "--namespace=vm-"), "not a Kubernetes namespace"),
    (("mimir", "--tenant", ".."), "not a Mimir tenant"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, words):
    out = tmp_path / "out"
    result = run_cli("export", *args, "--catalog", str(CATALOG_PATH), "--out", str(out))
    assert result.returncode == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists()


def test_an_unwritable_directory_is_one_line_and_nothing_is_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker, blocker / "sub"):
        result = run_cli("export", "vm", "--catalog", str(CATALOG_PATH), "--out", str(out))
        assert result.returncode == 1
        assert "nothing was written" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "x"


def test_a_directory_where_a_file_goes_leaves_every_file_as_it_was(tmp_path):
    out = tmp_path / "vm"
    (out / "rules").mkdir(parents=True)
    (out / "vmrule.yaml").write_text("old")
    (out / "rules" / "alerts.yaml").mkdir()
    result = run_cli("export", "vm", "--catalog", str(CATALOG_PATH), "--out", str(out))
    assert result.returncode == 1 and "alerts.yaml" in result.stderr
    assert (out / "vmrule.yaml").read_text() == "old"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["rules", "rules/alerts.yaml",
                                                                             "vmrule.yaml"]


def test_a_write_failing_halfway_leaves_nothing_behind(tmp_path, monkeypatch):
    from moneypath._common import atomic

    calls = []

    def full_disk(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(path))
        return atomic.replacing(path, *args, **kwargs)

    monkeypatch.setattr("moneypath.generate.export.replacing", full_disk)
    out = tmp_path / "a" / "kube"
    result = run_cli("export", "kube", "--catalog", str(CATALOG_PATH), "--out", str(out))
    assert result.returncode == 1 and "No space left" in result.stderr, result.stderr
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file, no directory it created


def test_help_explains_platforms_and_every_default():
    result = run_cli("export", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for words in ("prometheus", "kube", "mimir", "vm", "release=kube-prometheus-stack", "default: monitoring",
                  "default grafana_folder", "default grafana_dashboard=1", "default: anonymous", "deploy/PLATFORM",
                  "X-Scope-OrgID", "ruleSelector"):
        assert words in text, words
