"""Projects for `moneypath export loadtest` tests: a team's catalog, locustfile and scenario file copied into a
temporary directory, the scenario file given the kubernetes: block of docs/load-tests.md (or another), and the
export's objects read back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from tests.conftest import ROOT, run_cli
from tests.docs_examples import code_block

SCHEMAS = ROOT / "tests" / "schemas"
SCHEMA_FILES = {"Job": "batch_v1_job.json", "Deployment": "apps_v1_deployment.json", "Service": "core_v1_service.json",
                "ConfigMap": "core_v1_configmap.json", "PersistentVolumeClaim": "core_v1_persistentvolumeclaim.json"}
DJANGO = ROOT / "tests" / "foreign" / "djangoshop" / "ops"
TICKETS_BLOCK = """
kubernetes:
  scenario: on_sale
  workers: 3
  image: registry.example/tickets-loadtest:2.0
  namespace: tickets-load
  target: {service: "http://tickets.shop.svc:8080"}
  rate: 40
"""
DJANGO_BLOCK = """
kubernetes:
  scenario: checkout
  workers: 2
  image: registry.example/shop-ops:7
  target:
    service: http://shop.shop.svc:8000
    prometheus: http://prometheus.monitoring.svc:9090
  token_secret: shop-loadtest
  files: [../runbooks/drills/requests/checkout.yaml, ../runbooks/drills/requests/shop.yaml]
  worker_resources: {requests: {cpu: 2, memory: 1Gi}, limits: {cpu: 2, memory: 1Gi}}
"""


def schema(kind: str) -> dict:
    return json.loads((SCHEMAS / SCHEMA_FILES[kind]).read_text())


def page_block() -> str:
    """The kubernetes: block docs/load-tests.md shows."""
    return code_block("docs/load-tests.md", "On Kubernetes", "yaml")


def project(tmp_path: Path, kind: str, block: str | None = None) -> tuple[Path, Path]:
    """(catalog, scenario file) of a copied project: `reference` (this repository's), `tickets` (the foreign
    ticket shop, everything beside its catalog) or `django` (the Django shop's ops/, its locustfile in loadtests/
    and request templates under runbooks/)."""
    root = tmp_path / kind
    if kind == "reference":
        (root / "loadtests").mkdir(parents=True)
        shutil.copy(ROOT / "moneypath.yaml", root)
        for name in ("locustfile.py", "scenarios.yaml"):
            shutil.copy(ROOT / "loadtests" / name, root / "loadtests")
        scenario_file, block = root / "loadtests" / "scenarios.yaml", block or page_block()
    elif kind == "tickets":
        root.mkdir(parents=True)
        for name in ("moneypath.yaml", "locustfile.py", "scenarios.yaml"):
            shutil.copy(ROOT / "tests" / "foreign" / name, root)
        scenario_file, block = root / "scenarios.yaml", block or TICKETS_BLOCK
    else:
        shutil.copytree(DJANGO / "loadtests", root / "loadtests")
        shutil.copytree(DJANGO / "runbooks" / "drills" / "requests", root / "runbooks" / "drills" / "requests")
        shutil.copy(DJANGO / "moneypath.yaml", root)
        scenario_file, block = root / "loadtests" / "scenarios.yaml", block or DJANGO_BLOCK
    text = scenario_file.read_text()
    scenario_file.write_text(text + ("" if text.endswith("\n") else "\n") + block)
    return root / "moneypath.yaml", scenario_file


def export(catalog: Path, scenario_file: Path, out: Path) -> dict[str, dict]:
    """The export's files, each read back as YAML, by file name."""
    done = run_cli("--catalog", str(catalog), "export", "loadtest", str(scenario_file), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return {p.name: yaml.safe_load(p.read_text()) for p in out.iterdir()}


def by_kind(docs: dict[str, dict]) -> dict[str, dict]:
    found = {doc["kind"]: doc for doc in docs.values() if doc.get("kind") != "Kustomization"}
    assert len(found) == len(docs) - 1
    return found


def pod(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def container(doc: dict) -> dict:
    (only,) = pod(doc)["containers"]
    return only


def option(args: list[str], name: str) -> str:
    assert args.count(name) == 1, f"{name} in {args}"
    return args[args.index(name) + 1]
