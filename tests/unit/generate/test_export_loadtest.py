"""`moneypath export loadtest`: a distributed load test as Kubernetes objects (a master Job, a worker Deployment,
the master's Service, a ConfigMap of the team's files, a claim for the reports), each valid against Kubernetes'
schema (tests/schemas, strict), and fitting together: the workers dial the Service that selects the master, the
master waits for as many workers as the Deployment runs, and every file a command reads is mounted from the
ConfigMap byte for byte. On this repository's project, the foreign ticket shop and the Django shop."""

from __future__ import annotations

import base64
import copy
import re
import shlex
from types import SimpleNamespace

import jsonschema
import pytest
import yaml

from moneypath.generate.export import LoadRun
from moneypath.generate.export.loadtest import MASTER_PORT, PROJECT, REPORTS, object_names
from tests.conftest import run_cli
from tests.docs_examples import code_block, command
from tests.unit.generate.loadtest_projects import by_kind, container, export, option, pod, project, schema

KINDS = ("reference", "tickets", "django")


def _strict(doc: dict, kind: str) -> None:
    jsonschema.Draft7Validator(schema(kind)).validate(doc)


@pytest.mark.parametrize("kind", KINDS)
def test_every_object_is_valid_against_its_kubernetes_schema_and_listed_in_the_kustomization(tmp_path, kind):
    docs = export(*project(tmp_path, kind), tmp_path / "out")
    objects = by_kind(docs)
    assert set(objects) == {"Job", "Deployment", "Service", "ConfigMap", "PersistentVolumeClaim"}
    for object_kind, doc in objects.items():
        _strict(doc, object_kind)
    assert sorted(docs["kustomization.yaml"]["resources"]) == sorted(n for n in docs if n != "kustomization.yaml")


@pytest.mark.parametrize(("kind", "path", "field", "misspelt"), [
    ("Job", ("spec",), "backoffLimit", "backofLimit"),
    ("Job", ("spec", "template", "spec", "containers", 0), "args", "agrs"),
    ("Deployment", ("spec",), "replicas", "replica"),
    ("Deployment", ("spec", "template", "spec", "containers", 0, "resources"), "limits", "limit"),
    ("Service", ("spec",), "selector", "selectr"),
    ("Service", ("spec", "ports", 0), "targetPort", "targetport"),
])
def test_a_misspelt_field_is_refused_as_kubectl_validate_strict_does(tmp_path, kind, path, field, misspelt):
    doc = copy.deepcopy(by_kind(export(*project(tmp_path, "tickets"), tmp_path / "out"))[kind])
    _strict(doc, kind)
    node = doc
    for step in path:
        node = node[step]
    node[misspelt] = node.pop(field)
    with pytest.raises(jsonschema.ValidationError, match=f"'{misspelt}' was unexpected"):
        _strict(doc, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_the_workers_dial_the_service_which_selects_the_master_and_targets_its_port(tmp_path, kind):
    objects = by_kind(export(*project(tmp_path, kind), tmp_path / "out"))
    job, workers, service = objects["Job"], objects["Deployment"], objects["Service"]
    host, _, port = option(container(workers)["args"], "--master").rpartition(":")
    assert container(workers)["command"] == ["moneypath"] and container(workers)["args"][0] == "loadtest-worker"
    assert host == service["metadata"]["name"] and int(port) == MASTER_PORT
    (service_port,) = service["spec"]["ports"]
    assert service_port["port"] == MASTER_PORT
    (master_port,) = container(job)["ports"]
    assert service_port["targetPort"] in (master_port["name"], master_port["containerPort"])
    bind_host, _, bind_port = option(container(job)["args"], "--bind").rpartition(":")
    assert (bind_host, int(bind_port)) == ("0.0.0.0", master_port["containerPort"])
    selector = service["spec"]["selector"]
    master_labels, worker_labels = job["spec"]["template"]["metadata"]["labels"], workers["spec"]["template"][
        "metadata"]["labels"]
    assert selector.items() <= master_labels.items() and not selector.items() <= worker_labels.items()
    assert workers["spec"]["selector"]["matchLabels"].items() <= worker_labels.items()
    assert not workers["spec"]["selector"]["matchLabels"].items() <= master_labels.items()
    names = {doc["metadata"]["namespace"] for doc in objects.values()}
    assert len(names) == 1  # a short Service name resolves in the workers' own namespace


@pytest.mark.parametrize("kind", KINDS)
def test_the_master_waits_for_as_many_workers_as_the_deployment_runs(tmp_path, kind):
    objects = by_kind(export(*project(tmp_path, kind), tmp_path / "out"))
    args = container(objects["Job"])["args"]
    assert container(objects["Job"])["command"] == ["moneypath"] and args[0] == "loadtest"
    assert int(option(args, "--workers")) == objects["Deployment"]["spec"]["replicas"]
    block = yaml.safe_load(project(tmp_path / "again", kind)[1].read_text())["kubernetes"]
    assert args[1] == block["scenario"] and objects["Deployment"]["spec"]["replicas"] == block["workers"]
    assert objects["Job"]["spec"]["backoffLimit"] == 0 and pod(objects["Job"])["restartPolicy"] == "Never"


def _mounted(doc: dict, config_map: dict) -> dict[str, bytes]:
    """Path in the container → content, of the files the pod mounts from the ConfigMap."""
    (mount,) = [m for m in container(doc)["volumeMounts"] if m["mountPath"] == PROJECT]
    assert mount.get("readOnly") is True
    (volume,) = [v for v in pod(doc)["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    data = {k: v.encode() for k, v in config_map.get("data", {}).items()}
    data |= {k: base64.b64decode(v) for k, v in config_map.get("binaryData", {}).items()}
    return {f"{PROJECT}/{item['path']}": data[item["key"]] for item in volume["configMap"]["items"]}


@pytest.mark.parametrize("kind", KINDS)
def test_every_file_a_command_reads_is_the_teams_file_byte_for_byte(tmp_path, kind):
    catalog, scenario_file = project(tmp_path, kind)
    objects = by_kind(export(catalog, scenario_file, tmp_path / "out"))
    root = catalog.parent
    block = yaml.safe_load(scenario_file.read_text())["kubernetes"]
    locustfile = scenario_file.parent / block.get("locustfile", "locustfile.py")
    teams = {"--catalog": catalog, "--scenario-file": scenario_file, "--locustfile": locustfile}
    for doc in (objects["Job"], objects["Deployment"]):
        mounted = _mounted(doc, objects["ConfigMap"])
        for name, path in teams.items():
            in_pod = option(container(doc)["args"], name)
            assert in_pod == f"{PROJECT}/{path.relative_to(root).as_posix()}"
            assert mounted[in_pod] == path.read_bytes()  # the admission's hashes match the team's
        for extra in block.get("files", []):  # at their paths: the locustfile's relative names still resolve
            path = (scenario_file.parent / extra).resolve()
            assert mounted[f"{PROJECT}/{path.relative_to(root).as_posix()}"] == path.read_bytes()
    assert (kind == "django") == bool(block.get("files"))


def test_a_file_yaml_would_fold_still_arrives_byte_for_byte(tmp_path):
    catalog, scenario_file = project(tmp_path, "tickets")
    odd = b"x = 1   \n\tdef f():\r\n  return 'caf\xc3\xa9'  # trailing spaces, a tab, CRLF, no final newline"
    (catalog.parent / "locustfile.py").write_bytes(odd)
    (catalog.parent / "data.bin").write_bytes(b"\xff\xfe\x00binary")
    (catalog.parent / "nel.txt").write_bytes("a\x85b\n".encode())  # UTF-8, but YAML reads NEL as a line break
    scenario_file.write_text(scenario_file.read_text() + "  files: [data.bin, nel.txt]\n")
    objects = by_kind(export(catalog, scenario_file, tmp_path / "out"))
    mounted = _mounted(objects["Deployment"], objects["ConfigMap"])
    assert mounted[f"{PROJECT}/locustfile.py"] == odd
    assert mounted[f"{PROJECT}/data.bin"] == b"\xff\xfe\x00binary"  # not UTF-8: binaryData
    assert mounted[f"{PROJECT}/nel.txt"] == "a\x85b\n".encode()
    assert set(objects["ConfigMap"]["binaryData"]) == {"data.bin", "nel.txt"}


def test_the_token_comes_from_the_teams_secret_and_is_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("MONEYPATH_TOKEN", "tok-from-the-shell-7f3a")  # what a team has at hand when exporting
    catalog, scenario_file = project(tmp_path, "django")
    out = tmp_path / "out"
    objects = by_kind(export(catalog, scenario_file, out))
    master = container(objects["Job"])
    assert master["envFrom"] == [{"secretRef": {"name": "shop-loadtest"}}]
    assert "--no-auth" not in master["args"] and "--token" not in master["args"]
    assert "env" not in master and "envFrom" not in container(objects["Deployment"])  # the master hands it on
    assert "tok-from-the-shell-7f3a" not in "".join(p.read_text() for p in out.iterdir())
    tickets = by_kind(export(*project(tmp_path, "tickets"), tmp_path / "out2"))  # no token_secret: no token
    assert "--no-auth" in container(tickets["Job"])["args"] and "envFrom" not in container(tickets["Job"])


def test_workers_ask_for_the_cores_they_are_limited_to(tmp_path):
    default = by_kind(export(*project(tmp_path, "tickets"), tmp_path / "out"))
    assert container(default["Deployment"])["resources"] == {"requests": {"cpu": "1", "memory": "512Mi"},
                                                             "limits": {"cpu": "1", "memory": "512Mi"}}
    given = by_kind(export(*project(tmp_path, "django"), tmp_path / "out2"))
    assert container(given["Deployment"])["resources"] == {"requests": {"cpu": "2", "memory": "1Gi"},
                                                           "limits": {"cpu": "2", "memory": "1Gi"}}
    assert container(given["Job"])["resources"]["limits"]["cpu"] == "1"


def test_the_report_is_kept_on_a_claim_and_the_run_is_judged_as_by_the_block(tmp_path):
    objects = by_kind(export(*project(tmp_path, "reference"), tmp_path / "out"))
    args = container(objects["Job"])["args"]
    (reports,) = [m for m in container(objects["Job"])["volumeMounts"] if m["mountPath"] == REPORTS]
    (volume,) = [v for v in pod(objects["Job"])["volumes"] if v["name"] == reports["name"]]
    assert volume["persistentVolumeClaim"]["claimName"] == objects["PersistentVolumeClaim"]["metadata"]["name"]
    assert option(args, "--out") == REPORTS
    assert option(args, "--host") == "http://payments.payments.svc:8080"
    assert option(args, "--prometheus") == "http://prometheus-operated.monitoring.svc:9090"
    assert option(args, "--rate") == "200" and "--no-prometheus" not in args
    shared = {"namespace": "loadtest"}
    assert all(doc["metadata"].items() >= shared.items() for doc in objects.values())
    claim_block = "\nkubernetes: {scenario: checkout, workers: 1, image: i, target: {service: 'http://s'}, " \
                  "report_claim: team-reports}\n"
    own = by_kind(export(*project(tmp_path / "own", "reference", claim_block), tmp_path / "out2"))
    assert "PersistentVolumeClaim" not in own
    assert [v["persistentVolumeClaim"]["claimName"] for v in pod(own["Job"])["volumes"] if "persistentVolumeClaim"
            in v] == ["team-reports"]
    assert "--no-prometheus" in container(own["Job"])["args"]


def test_the_pages_commands_export_and_run_the_load_test(tmp_path):
    """docs/load-tests.md, On Kubernetes: the export command as written, in the project the block is added to;
    the kubectl lines name the Secret, namespace and Job the export wrote (Kubernetes cannot run here)."""
    text = code_block("docs/load-tests.md", "On Kubernetes", "sh")
    catalog, _scenario_file = project(tmp_path, "reference")
    argv = command(text, "export", "loadtest")
    done = run_cli(*argv[1:], cwd=catalog.parent)
    assert done.returncode == 0, done.stderr
    out = catalog.parent / option(argv, "--out")
    objects = by_kind({p.name: yaml.safe_load(p.read_text()) for p in out.iterdir()})
    job, namespace = objects["Job"], objects["Job"]["metadata"]["namespace"]
    lines = [shlex.split(line) for line in text.splitlines() if line.startswith("kubectl")]
    secret, apply, logs = lines
    assert secret[:6] == ["kubectl", "-n", namespace, "create", "secret", "generic"]
    assert secret[6] == container(job)["envFrom"][0]["secretRef"]["name"]
    assert apply == ["kubectl", "apply", "-k", option(argv, "--out")]
    assert logs == ["kubectl", "-n", namespace, "logs", "-f", f"job/{job['metadata']['name']}"]
    assert f"apply: kubectl apply -k {option(argv, '--out')}" in done.stdout


def test_the_commands_are_ones_moneypath_parses(tmp_path):
    """The pods' command lines, parsed by moneypath's own parser: every option the export writes exists there and
    takes the value given. In a tree without issue 72's master options (--bind, --wait-workers) those two are
    what is left over; without its worker command (`loadtest-worker`) the workers' line is not parsed."""
    import argparse

    from moneypath.cli import build_parser

    parser = build_parser()
    objects = by_kind(export(*project(tmp_path, "django"), tmp_path / "out"))
    master, left = parser.parse_known_args(container(objects["Job"])["args"])
    assert left in ([], ["--bind", f"0.0.0.0:{MASTER_PORT}", "--wait-workers", "300"])
    assert (master.command, master.scenario, master.workers) == ("loadtest", "checkout", 2)
    assert str(master.catalog) == f"{PROJECT}/moneypath.yaml" and str(master.locustfile).startswith(PROJECT)
    assert (master.host, master.out, master.no_auth) == ("http://shop.shop.svc:8000", REPORTS, False)
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if "loadtest-worker" in commands.choices:
        worker = parser.parse_args(container(objects["Deployment"])["args"])
        assert worker.command == "loadtest-worker" and str(worker.scenario_file).startswith(PROJECT)


@pytest.mark.parametrize(("namespace", "scenario"), [
    ("moneypath", "retry_storm"), ("payments_eu_west", "x" * 80), ("7eleven", "checkout"), ("shop", "black.friday")])
def test_the_services_name_is_a_dns_label_whatever_the_scenario_is_called(namespace, scenario):
    run = LoadRun(scenario=scenario, workers=1, image="i", namespace="default", host="http://s", files=(),
                  locustfile="l.py", scenario_file="s.yaml", catalog="c.yaml")
    names = object_names(SimpleNamespace(namespace=namespace), run)
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", names["service"]) and len(names["service"]) <= 63
    assert all(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n) and len(n) <= 63 for n in names.values())
    assert len(set(names.values())) == 5  # the Job and its Service share a name; every other object its own
