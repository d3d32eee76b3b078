"""`moneypath init`: a team's own project (a ticket shop: Komoju and KNET, JPY and KWD, no fraud, queues,
payouts, reconciliation or webhooks) that builds and lints clean, and that a second run never damages."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import py_compile
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import Key
from moneypath.catalog.features import FEATURES
from moneypath.formats import scenarios
from moneypath.formats.requests import Requests
from moneypath.loadtest.in_locust import client
from moneypath.scaffold.project import MANIFEST
from tests.conftest import ROOT, run_cli

SHOP = ("--service", "tickets", "--providers", "komoju,knet", "--currencies", "JPY,KWD",
        "--features", "cost,idempotency,ledger", "--methods", "card,konbini", "--routes", "/charges,/charges/{charge_id}")
OFF = ("fraud", "queues", "payouts", "breaker", "reconciliation", "webhooks", "audit", "admission", "graphql")


def init(root: Path, *extra: str):
    return run_cli("init", str(root), *extra)


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "ops"
    result = init(root, *SHOP)
    assert result.returncode == 0, result.stderr
    return root


def _text_of_every_file(root: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(root.rglob("*")) if p.is_file())


def test_init_writes_a_project_that_builds_and_lints_clean(project):
    c = load_catalog(project / "moneypath.yaml")
    assert (c.service, list(c.providers), c.currencies) == ("tickets", ["komoju", "knet"], ["JPY", "KWD"])
    assert {f for f in FEATURES if not c.enabled(f)} == set(OFF)
    check = run_cli("build", "--root", str(project), "--check")
    assert check.returncode == 0, check.stderr
    lint = run_cli("lint", "--root", str(project))
    assert lint.returncode == 0, lint.stderr
    assert run_cli("catalog", "check", "--catalog", str(project / "moneypath.yaml")).returncode == 0


def test_the_audit_feature_brings_its_signal_alert_page_and_drill_and_lints_clean(tmp_path):
    root = tmp_path / "ops"
    assert init(root, *SHOP[:-6], "--features", "cost,idempotency,ledger,audit", *SHOP[-4:]).returncode == 0
    c = load_catalog(root / "moneypath.yaml")
    assert c.enabled("audit") and c.has(Key.AUDIT_CHAIN_BROKEN) and "AuditChainBroken" in c.alerts
    rules = (root / "alerts/moneypath-alerts.yaml").read_text()
    assert "TicketsAuditChainBroken" in rules and "max(tickets_audit_chain_broken) > 0" in rules
    assert (root / "runbooks/ticketsauditchainbroken.md").is_file()
    assert any((root / "runbooks/drills").glob("*audit*"))
    assert run_cli("lint", "--root", str(root)).returncode == 0
    # A team's service is not assumed to sign checkpoints: no checkpoint signals, no AuditCheckpointStale ...
    assert not c.has(Key.AUDIT_CHECKPOINT_SEQ) and "AuditCheckpointStale" not in c.alerts
    assert "CheckpointStale" not in rules
    # ... until it does, and follows the catalog's comment: then `init .` writes its page and the lint is clean.
    text = (root / "moneypath.yaml").read_text()
    assert f"also declare the gauges\n  # {Key.AUDIT_CHECKPOINT_SEQ} and {Key.AUDIT_HEAD_SEQ}" in text
    gauges = "".join(f"  {key}:\n    type: gauge\n    help: {key}.\n    labels: {{}}\n"
                     for key in (Key.AUDIT_CHECKPOINT_SEQ, Key.AUDIT_HEAD_SEQ))
    assert text.index("\nsignals:") < text.index("\nslos:")  # the signals section ends where slos: starts
    text = text.replace("\nslos:", "\n" + gauges + "\nslos:", 1)
    text += ("  AuditCheckpointStale: {severity: ticket, threshold: 900, for: 5m,\n"
             "    summary: New audit events wait for a signed checkpoint.}\n")
    (root / "moneypath.yaml").write_text(text)
    assert run_cli("init", str(root)).returncode == 0 and run_cli("build", "--root", str(root), "--catalog",
                                                                   str(root / "moneypath.yaml")).returncode == 0
    assert "max(tickets_audit_checkpoint_seq) < max(tickets_audit_head_seq offset 15m)" in \
        (root / "alerts/moneypath-alerts.yaml").read_text()
    assert (root / "runbooks/ticketsauditcheckpointstale.md").is_file()
    assert run_cli("lint", "--root", str(root)).returncode == 0


def test_the_breaker_feature_brings_its_signal_and_the_circuit_half_of_the_provider_alert(tmp_path):
    root = tmp_path / "ops"
    assert init(root, *SHOP[:-6], "--features", "cost,idempotency,ledger,breaker", *SHOP[-4:]).returncode == 0
    c = load_catalog(root / "moneypath.yaml")
    assert c.enabled("breaker") and c.has(Key.PROVIDER_CIRCUIT_STATE)
    assert "circuit_open" in c.signals[Key.PROVIDER_REQUESTS_TOTAL].labels["outcome"]
    rules = (root / "alerts/moneypath-alerts.yaml").read_text()
    assert "max by (provider) (tickets_provider_circuit_state) > 0" in rules
    assert 'outcome=~"error|timeout|circuit_open"' in rules
    assert "Circuit state" in (root / "dashboards/tickets-providers.json").read_text()
    assert run_cli("lint", "--root", str(root)).returncode == 0


def test_the_admission_feature_brings_its_signal_shedding_alert_page_and_drill(tmp_path):
    root = tmp_path / "ops"
    assert init(root, *SHOP[:-6], "--features", "cost,idempotency,ledger,admission", *SHOP[-4:]).returncode == 0
    c = load_catalog(root / "moneypath.yaml")
    assert c.enabled("admission") and c.has(Key.REQUESTS_SHED_TOTAL) and "LoadShedding" in c.alerts
    assert c.signals[Key.REQUESTS_SHED_TOTAL].labels == {"priority": ["critical", "normal"]}
    rules = (root / "alerts/moneypath-alerts.yaml").read_text()
    assert "TicketsLoadShedding" in rules
    assert "sum(rate(tickets_requests_shed_total[5m])) / sum(rate(tickets_http_requests_total[5m])) > 0.05" in rules
    assert (root / "runbooks/ticketsloadshedding.md").is_file()
    assert (root / "runbooks/drills/ticketsloadshedding.yaml").is_file()
    assert run_cli("lint", "--root", str(root)).returncode == 0


def test_every_alert_has_a_page_and_every_paging_alert_a_tabletop_drill(project):
    rules = yaml.safe_load((project / "alerts/moneypath-alerts.yaml").read_text())
    every_rule = [r for g in rules["groups"] for r in g["rules"]]
    alerts = {r["alert"] for r in every_rule}
    assert "TicketsLedgerImbalance" in alerts
    pages = {p.stem for p in (project / "runbooks").glob("*.md")}
    assert pages == {a.lower() for a in alerts}
    drills = {p.stem for p in (project / "runbooks/drills").glob("*.yaml")}
    paging = {r["alert"].lower() for r in every_rule if r["labels"]["severity"] == "page"}
    assert drills == paging and drills != pages  # the cost ticket has a page but no drill
    page = (project / "runbooks/ticketsproviderpartialoutage.md").read_text()
    assert "owner: tickets-oncall" in page and "TODO" in page
    assert "tickets_provider_requests_total" in page  # the rule's own query is the first evidence
    check = run_cli("drill", "check", *map(str, sorted((project / "runbooks/drills").glob("*.yaml"))),
                    "--catalog", str(project / "moneypath.yaml"))
    assert check.returncode == 0, check.stderr
    assert "tabletop only" in check.stdout


def test_a_tabletop_drill_is_refused_by_drill_run_with_one_line(project):
    drill = next((project / "runbooks/drills").glob("*.yaml"))
    result = run_cli("drill", "run", str(drill), "--catalog", str(project / "moneypath.yaml"))
    assert result.returncode == 2
    assert "tabletop drill" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_nothing_of_a_disabled_feature_exists_anywhere(project):
    everything = _text_of_every_file(project).lower()
    reference = load_catalog(ROOT / "moneypath.yaml")
    for feature in OFF:
        for key in FEATURES[feature].signals:
            assert key not in everything, f"{feature}: {key}"
        for alert in FEATURES[feature].alerts:
            assert alert.lower() not in everything, f"{feature}: {alert}"
    # and nothing of the reference service either
    for word in (*reference.providers, "eur", "/v1/payments"):
        assert not re.search(rf"\b{re.escape(word)}\b", everything), word


def test_locustfile_is_a_payment_user_declaring_the_catalogs_authorization(project, monkeypatch):
    path = project / "loadtests/locustfile.py"
    py_compile.compile(str(path), doraise=True)
    assert ".moneypath/" in (project / ".gitignore").read_text().split()
    text = path.read_text()
    tree = ast.parse(text)
    assert any(isinstance(n, ast.ImportFrom) and n.module == "moneypath.loadtest.in_locust.user"
               and [a.name for a in n.names] == ["PaymentUser"] for n in tree.body)
    (user,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert [b.id for b in user.bases] == ["PaymentUser"]
    assert [f.name for f in user.body if isinstance(f, ast.FunctionDef)] == ["authorize"]
    assert '"/charges"' in text and "id_from=" in text and text.count("TODO") >= 2
    assert "moneypath loadtest checkout --locustfile loadtests/locustfile.py --host " in text
    # and it runs: loaded with the Locust-free body of PaymentUser (importing Locust would monkey-patch this
    # process), its authorize sends one POST named as the gates read it, drawn from the written scenario file
    monkeypatch.setitem(sys.modules, "moneypath.loadtest.in_locust.user", SimpleNamespace(PaymentUser=client.PaymentClient))
    module = importlib.util.module_from_spec(importlib.util.spec_from_file_location("init_locustfile", path))
    module.__spec__.loader.exec_module(module)
    assert client.mix_problems(module.Payer, _settings(project))[0] is None
    sent = []
    u = module.Payer()
    u.client = SimpleNamespace(post=lambda path, json=None, headers=None, name=None, catch_response=False:
                               sent.append((path, name, json)) or _Answer())
    u.environment = SimpleNamespace(events=SimpleNamespace(request=SimpleNamespace(fire=lambda **kw: None)))
    u.begin(_settings(project))
    order = u.order()
    assert u.authorize(order) is not None
    assert sent == [("/charges", f"authorize [requested {order.provider}]",
                     {"provider": order.provider, "currency": order.currency, "method": order.method,
                      "amount_minor": order.amount_minor, "reference": order.reference})]


class _Answer:
    status_code, content, error = 201, b"{}", None

    def json(self):
        return {"id": "ch_1"}

    def success(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _settings(project: Path) -> client.LoadSettings:
    spec = scenarios.load(project / "loadtests/scenarios.yaml", load_catalog(project / "moneypath.yaml"))
    return client.LoadSettings(spec, spec.get("checkout"), 10, 10, 60, None)


def test_scenario_file_beside_the_locustfile_loads_against_the_written_catalog(project):
    c = load_catalog(project / "moneypath.yaml")
    spec = scenarios.load(project / "loadtests/scenarios.yaml", c)
    assert set(spec.providers) == {"komoju", "knet"} and set(spec.currencies) == {"JPY", "KWD"}
    assert set(spec.methods) == {"card", "konbini"}
    assert {a for a, w in spec.mix.items() if w > 0} == {"authorize"} and "checkout" in spec.scenarios
    # amounts read sensibly in both exponents (JPY 0 decimals, KWD 3): JPY 1,000 to 100,000 and KWD 1 to 100
    assert 1_000 <= spec.amount_minor.median <= 100_000 and spec.amount_minor.min >= 1


def test_drill_requests_file_validates_and_reads_a_payment_by_the_templated_route(project):
    path = project / "runbooks/drills/requests/tickets.yaml"
    text = path.read_text()
    requests = Requests.model_validate(yaml.safe_load(text))
    assert requests.auth == "none" and "TODO" in text.split("auth:")[1].splitlines()[0]
    assert requests.authorize.path == "/charges" and requests.authorize.id and requests.authorize.outcome
    assert requests.read is not None and requests.read.path == "/charges/{payment_id}"
    assert json.loads((project / MANIFEST).read_text())["files"].keys() >= {
        "loadtests/locustfile.py", "loadtests/scenarios.yaml", "runbooks/drills/requests/tickets.yaml"}


def test_without_a_templated_route_the_requests_file_has_no_read(tmp_path):
    root = tmp_path / "ops"
    assert init(root, "--service", "shop", "--providers", "komoju", "--currencies", "USD",
                "--routes", "/pay").returncode == 0
    requests = Requests.model_validate(yaml.safe_load((root / "runbooks/drills/requests/shop.yaml").read_text()))
    assert requests.read is None and requests.authorize.path == "/pay"
    spec = scenarios.load(root / "loadtests/scenarios.yaml", load_catalog(root / "moneypath.yaml"))
    assert spec.amount_minor.median == 2500  # USD 25.00


@pytest.mark.parametrize("routes, authorize, read", [
    ("/admin/providers/{payment_id},/charges,/charges/{charge_id}/refunds,/charges/{charge_id}", "/charges",
     "/charges/{payment_id}"),
    ("/internal/sweep,/v2/tickets/orders,/debug/orders/{id},/v2/tickets/orders/{order_id}", "/v2/tickets/orders",
     "/v2/tickets/orders/{payment_id}"),
    ("/orders,/Admin/providers/{payment_id}", "/orders", None),
])
def test_the_requests_template_never_reads_a_payment_from_an_admin_or_internal_route(tmp_path, routes, authorize,
                                                                                   read):
    root = tmp_path / "ops"
    assert init(root, "--service", "shop", "--providers", "komoju,knet", "--currencies", "JPY",
                "--routes", routes).returncode == 0
    requests = Requests.model_validate(yaml.safe_load((root / "runbooks/drills/requests/shop.yaml").read_text()))
    assert requests.authorize.path == authorize
    assert (requests.read.path if requests.read else None) == read


def test_rerun_keeps_edited_files_refreshes_untouched_ones_and_removes_pages_of_removed_alerts(project):
    edited = project / "runbooks/ticketsledgerimbalance.md"
    edited.write_text(edited.read_text().replace("## Impact\n", "## Impact\nOur own words.\n"))
    untouched = project / "runbooks/ticketsduplicatechargedetected.md"
    untouched.write_text("")  # deleted content but the file is there: not what init wrote, so kept
    cost_page = project / "runbooks/ticketscostpertransactionregression.md"
    assert cost_page.exists()
    # the team turns the cost feature off in its catalog
    cat = project / "moneypath.yaml"
    doc = yaml.safe_load(cat.read_text())
    doc["features"]["cost"] = False
    del doc["signals"]["cost_usd_total"], doc["alerts"]["CostPerTransactionRegression"], doc["cost"]
    cat.write_text(yaml.safe_dump(doc, sort_keys=False))
    again = init(project)
    assert again.returncode == 0, again.stderr
    assert "Our own words." in edited.read_text()
    assert f"kept    {edited.relative_to(project)}" in again.stdout
    assert untouched.read_text() == ""
    assert not cost_page.exists() and "removed runbooks/ticketscostpertransactionregression.md" in again.stdout
    assert run_cli("lint", "--root", str(project)).returncode != 0  # the emptied page is the team's to fix
    third = init(project)
    assert not re.search(r"^(wrote|removed) ", third.stdout, re.MULTILINE)  # nothing left to do


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    for args, words in ((("--providers", "komoju", "--currencies", "XYZ"), "ISO 4217"),
                        (("--providers", "Komoju", "--currencies", "JPY"), "lower_snake_case"),
                        (("--providers", "komoju", "--currencies", "JPY", "--features", "loyalty"), "unknown loyalty"),
                        (("--currencies", "JPY",), "--providers and --currencies")):
        root = tmp_path / "x"
        result = init(root, *args)
        assert result.returncode == 2, args
        assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not root.exists() or not any(root.iterdir())


@pytest.mark.parametrize("option, value, named", [
    ("--currencies", "USD,usd", "usd"), ("--providers", "komoju,knet,komoju", "komoju"),
    ("--features", "fraud,fraud", "fraud"), ("--methods", "card,wallet,card", "card"),
    ("--routes", "/pay,/pay", "/pay"), ("--operations", "CheckoutCreate,checkoutcreate", "checkoutcreate")])
def test_a_value_given_twice_in_a_list_option_is_one_line_naming_the_option(tmp_path, option, value, named):
    args = {"--providers": "komoju,knet", "--currencies": "JPY,USD", option: value}
    result = init(tmp_path / "x", *(word for pair in args.items() for word in pair))
    assert result.returncode == 2
    assert result.stderr.strip() == f"moneypath init: {option}: {named} given more than once"
    assert not (tmp_path / "x").exists()


def test_a_broken_manifest_is_a_clear_error(project):
    (project / MANIFEST).write_text("not json")
    result = init(project)
    assert result.returncode == 3 and MANIFEST in result.stderr


# --- hostile input: init writes and deletes only inside the project, all or nothing ---

def _plant(project: Path, *names: str) -> None:
    """What a cloned repository can carry: a manifest that says init wrote files outside the project,
    with the right hashes so that a re-run would take them for untouched files of its own."""
    manifest = json.loads((project / MANIFEST).read_text())
    for name in names:
        target = Path(name) if Path(name).is_absolute() else project / name
        manifest["files"][name] = hashlib.sha256(target.read_text().encode()).hexdigest()
    (project / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("outside", ["../victim.txt", "ABSOLUTE", "runbooks/../../victim.txt"])
def test_a_manifest_naming_a_file_outside_the_project_is_refused_and_nothing_is_removed(project, outside):
    victim = project.parent / "victim.txt"
    victim.write_text("someone else's file\n")
    name = str(victim.resolve()) if outside == "ABSOLUTE" else outside
    _plant(project, name)
    before = _tree(project)
    result = init(project)
    assert result.returncode != 0 and victim.read_text() == "someone else's file\n"
    assert len(result.stderr.strip().splitlines()) == 1 and "refusing" in result.stderr, result.stderr
    assert "removed" not in result.stdout and _tree(project) == before


def test_a_planted_symlink_out_of_the_project_is_neither_written_through_nor_followed_to_delete(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine\n")
    (project / "runbooks/drills").rename(tmp_path / "drills-moved")
    (project / "runbooks/drills").symlink_to(elsewhere, target_is_directory=True)
    result = init(project)
    assert result.returncode != 0 and "outside" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert [p.name for p in elsewhere.iterdir()] == ["keep.txt"]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("word", ["yes", "null", "on", "off", "true", "No", "0x1F"])
def test_yaml_words_given_as_names_load_as_the_strings_given(tmp_path, word):
    # YAML 1.1 reads a bare yes/null/on as a bool or a null: every scalar init writes is quoted
    name = word if word[0].isalpha() else f"s{word}"
    root = tmp_path / "ops"
    result = init(root, "--service", name, "--providers", f"komoju,{word.lower()}" if word[0].isalpha() else "komoju",
                  "--currencies", "JPY", "--methods", f"card,{word}", "--oncall", word,
                  "--features", "cost,idempotency")
    assert result.returncode == 0, result.stderr
    c = load_catalog(root / "moneypath.yaml")
    assert c.service == name and c.routes.page == word
    assert word in c.signals[Key.AUTHORIZATIONS_TOTAL].labels["method"]
    if word[0].isalpha():
        assert word.lower() in c.providers
    assert run_cli("build", "--root", str(root), "--check").returncode == 0


@pytest.mark.parametrize("args, words", [
    (("--service", ""), "--service is empty"),
    (("--service", "   "), "--service is empty"),
    (("--oncall", ""), "--oncall is empty"),
    (("--service", "s" * 300), "at most"),
    (("--oncall", "a b"), "--oncall"),
    (("--routes", "/charges #x"), "--routes"),
])
def test_empty_or_unusable_names_are_refused_in_one_line(tmp_path, args, words):
    root = tmp_path / "ops"
    result = init(root, "--providers", "komoju", "--currencies", "JPY", *args)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not root.exists()


def test_an_empty_dir_is_refused_and_nothing_is_written_where_init_runs(tmp_path):
    result = run_cli("init", "", "--providers", "komoju", "--currencies", "JPY", cwd=tmp_path)
    assert result.returncode == 2 and "DIR is empty" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_runbooks_file_in_the_way_leaves_the_directory_exactly_as_it_was(tmp_path):
    root = tmp_path / "ops"
    root.mkdir()
    (root / "runbooks").write_text("a file, not a directory\n")
    (root / "notes.md").write_text("ours\n")
    result = init(root, *SHOP)
    assert result.returncode != 0 and "runbooks" in result.stderr and "nothing was written" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _tree(root) == {"notes.md": b"ours\n", "runbooks": b"a file, not a directory\n"}
    assert [p.name for p in tmp_path.iterdir()] == ["ops"]  # and no staging directory left beside it


def test_a_name_too_long_for_the_file_system_leaves_no_half_written_project(tmp_path):
    from moneypath.scaffold.catalog_template import ScaffoldOptions
    from moneypath.scaffold.project import InitError, init_project

    # past the CLI's own limit: the runbook pages' names are longer than the file system takes
    options = ScaffoldOptions(service="s" * 300, providers=["komoju"], currencies=["JPY"],
                              features={name: False for name in FEATURES})
    root = tmp_path / "ops"
    with pytest.raises(InitError, match="nothing was written"):
        init_project(root, options)
    assert list(tmp_path.iterdir()) == []
    result = init(tmp_path / "x" / ("d" * 300), *SHOP)  # and a DIR name too long: one line, nothing created
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_new_project_appears_whole_with_the_usual_permissions(tmp_path):
    root = tmp_path / "ops"
    assert init(root, *SHOP).returncode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["ops"]
    umask = os.umask(0)
    os.umask(umask)
    assert root.stat().st_mode & 0o777 == 0o777 & ~umask  # as mkdir makes it, not mkdtemp's 0700


def test_a_new_project_counts_card_numbers_its_service_refuses_or_redacts(project):
    from prometheus_client import CollectorRegistry

    from moneypath.instrument import MoneyPath
    from moneypath.instrument._prometheus_backend import PrometheusBackend

    c = load_catalog(project / "moneypath.yaml")
    assert c.signals[Key.CARD_NUMBERS_TOTAL].labels == {"source": ["api", "webhook"], "action": ["refused", "redacted"]}
    mp = MoneyPath(c, PrometheusBackend(CollectorRegistry()))
    mp.count_card_number("api", "refused")
    assert mp.registry.get_sample_value(c.metric(Key.CARD_NUMBERS_TOTAL), {"source": "api", "action": "refused"}) == 1
    assert c.metric(Key.CARD_NUMBERS_TOTAL).startswith("tickets_")


def test_a_catalog_linked_from_elsewhere_is_read_and_the_project_refreshed_inside(project, tmp_path):
    shared = tmp_path / "shared" / "moneypath.yaml"
    shared.parent.mkdir()
    (project / "moneypath.yaml").rename(shared)
    (project / "moneypath.yaml").symlink_to(shared)
    page = project / "runbooks/ticketsledgerimbalance.md"
    page.unlink()
    result = init(project)
    assert result.returncode == 0, result.stderr
    assert page.is_file() and (project / "moneypath.yaml").is_symlink()
    assert [p.name for p in shared.parent.iterdir()] == ["moneypath.yaml"]


@pytest.mark.parametrize("platform, first", [("kube", "prometheusrule.yaml"), ("mimir", "rules/tickets.yaml"),
                                             ("vm", "vmrule.yaml")])
def test_platform_writes_its_export_beside_the_plain_files_and_a_rerun_keeps_it(tmp_path, platform, first):
    from moneypath.generate import export

    root = tmp_path / "ops"
    result = init(root, *SHOP, "--platform", platform)
    assert result.returncode == 0, result.stderr
    c = load_catalog(root / "moneypath.yaml")
    expected = export.files(c, platform)
    assert first in expected
    deploy = root / "deploy" / platform
    assert {p.relative_to(deploy).as_posix(): p.read_text() for p in deploy.rglob("*") if p.is_file()} == expected
    assert f"moneypath export {platform} --catalog {root}/moneypath.yaml --out {root}/deploy/{platform}" in result.stdout
    assert run_cli("build", "--root", str(root), "--check").returncode == 0  # the plain files are there too
    assert run_cli("lint", "--root", str(root)).returncode == 0
    again = init(root, "--platform", platform)
    assert again.returncode == 0 and "nothing to write" in again.stdout, again.stdout


def test_the_default_platform_writes_no_deploy_directory(project):
    assert not (project / "deploy").exists()


def test_an_unknown_platform_is_one_line_and_writes_nothing(tmp_path):
    root = tmp_path / "ops"
    result = init(root, *SHOP, "--platform", "k8s")
    assert result.returncode == 2
    assert "--platform: unknown 'k8s'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not root.exists()
