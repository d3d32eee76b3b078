"""The `money_path:` section `moneypath init` writes: for every feature set, provider names and currencies, the
catalog validates, its map builds, and the map lint finds nothing; the project init writes checks and lints clean."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moneypath.catalog import load_catalog, parse_catalog
from moneypath.catalog.currencies import ISO_4217_EXPONENTS
from moneypath.catalog.features import FEATURES
from moneypath.check.map_lint import map_problems, not_declared
from moneypath.map.graph import build_map
from moneypath.scaffold.catalog_template import ScaffoldOptions, catalog_yaml
from tests.conftest import run_cli

PROVIDER = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
SERVICE = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,15}", fullmatch=True)


@st.composite
def options(draw) -> ScaffoldOptions:
    on = draw(st.sets(st.sampled_from(sorted(FEATURES))))
    return ScaffoldOptions(service=draw(SERVICE),
                           providers=draw(st.lists(PROVIDER, min_size=1, max_size=4, unique=True)),
                           currencies=draw(st.lists(st.sampled_from(sorted(ISO_4217_EXPONENTS)), min_size=1, max_size=3,
                                                    unique=True)),
                           features={name: name in on for name in FEATURES},
                           operations=["CheckoutComplete"] if "graphql" in on else [])


@settings(max_examples=80, derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(options())
def test_every_scaffolded_section_validates_builds_and_lints_clean(o: ScaffoldOptions):
    c = parse_catalog(catalog_yaml(o), "moneypath.yaml")  # CatalogError (the test fails) on any problem
    assert c.money_path is not None and not_declared(c) is None
    assert map_problems(c) == []
    graph = build_map([c])
    kinds = [n.kind for n in graph.nodes.values()]
    assert sorted(n.provider for n in graph.nodes.values() if n.provider) == sorted(o.providers)
    assert kinds.count("funding") == 1 and kinds.count("service") == 1
    for feature, kind in (("ledger", "ledger"), ("queues", "queue"), ("reconciliation", "settlement"),
                          ("payouts", "bank")):
        assert kinds.count(kind) == (1 if o.on(feature) else 0), (feature, kinds)
    assert all(e.signals for e in graph.edges) and not any(n.external for n in graph.nodes.values())
    for p in o.providers:  # each provider's edge reads its own calls
        assert any(m.label == "provider" and m.value == p for e in graph.edges_touching_provider(p)
                   for s in e.signals for m in s.selector.matchers)
    service = next(n for n in graph.nodes.values() if n.kind == "service")
    assert service.label == o.service and service.pci == ("transmit",)


def test_a_provider_named_like_a_fixed_node_or_a_yaml_word_gets_a_key_of_its_own():
    o = ScaffoldOptions(service="ledger", providers=["ledger", "customer", "on", "null"], currencies=["EUR"],
                        features={name: True for name in FEATURES}, operations=["Pay"])
    c = parse_catalog(catalog_yaml(o), "moneypath.yaml")
    assert sorted(c.money_path.nodes) == ["customer", "customer_2", "ledger", "ledger_2", "ledger_3", "null", "on",
                                          "outbox", "payee_bank", "settlement"]
    assert {n.provider for n in c.money_path.nodes.values() if n.provider} == {"ledger", "customer", "on", "null"}
    assert map_problems(c) == []


def test_init_writes_the_section_commented_and_the_project_checks_and_lints_clean(tmp_path: Path):
    root = tmp_path / "ops"
    made = run_cli("init", str(root), "--service", "tickets", "--providers", "komoju,knet", "--currencies", "JPY,KWD",
                   "--features", "ledger,queues,reconciliation,payouts,breaker")
    assert made.returncode == 0, made.stderr
    text = (root / "moneypath.yaml").read_text()
    section = text[text.index("\nmoney_path:"):text.index("\n# Alerts")]
    assert "# The money path (`moneypath map` draws it" in text and "card_numbers_total" in section
    data = yaml.safe_load(section)["money_path"]
    assert data["nodes"]["tickets"] == {"kind": "service", "label": "tickets", "pci": ["transmit"]}
    assert data["nodes"]["knet"] == {"kind": "provider", "provider": "knet", "pci": ["store", "process", "transmit"]}
    assert {"from": "tickets", "to": "komoju", "movement": "authorize", "signals": {
        "rate": 'provider_requests_total{provider="komoju"}',
        "errors": 'provider_requests_total{provider="komoju",outcome=~"error|timeout|circuit_open"}',
        "latency": 'provider_request_duration_seconds{provider="komoju"}'}} in data["edges"]
    assert [(e["from"], e["to"]) for e in data["edges"] if e["movement"] in ("settle", "reconcile")] == [
        ("komoju", "settlement"), ("knet", "settlement"), ("settlement", "ledger")]
    assert max(len(line) for line in section.splitlines()) <= 125
    check = run_cli("catalog", "check", "--catalog", str(root / "moneypath.yaml"))
    assert check.returncode == 0, check.stdout + check.stderr
    lint = run_cli("lint", "--root", str(root))
    assert lint.returncode == 0, lint.stderr
    assert "money-path map" not in lint.stdout
    assert len(build_map([load_catalog(root / "moneypath.yaml")]).edges) == 9


def test_lint_says_the_map_is_not_measured_when_the_catalog_has_none(tmp_path: Path):
    root = tmp_path / "ops"
    assert run_cli("init", str(root), "--providers", "komoju", "--currencies", "JPY").returncode == 0
    text = (root / "moneypath.yaml").read_text()
    start, end = text.index("# The money path ("), text.index("\n# Alerts")
    (root / "moneypath.yaml").write_text(text[:start] + text[end:])
    lint = run_cli("lint", "--root", str(root))
    assert lint.returncode == 0, lint.stderr  # an optional section: its absence fails nobody's lint
    assert re.search(r"^lint: money-path map not measured: the catalog declares no money_path: section", lint.stdout,
                     re.M), lint.stdout


def test_init_money_path_prints_the_section_for_a_catalog_written_before(tmp_path: Path):
    from tests.conftest import FOREIGN_PATH

    text = FOREIGN_PATH.read_text()
    (tmp_path / "moneypath.yaml").write_text(text[:text.index("\n# Where the shop's money moves")] + "\n")
    printed = run_cli("init", str(tmp_path), "--money-path")
    assert printed.returncode == 0, printed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["moneypath.yaml"]  # nothing written
    # the ticket shop declares no card-number guard: its service is left out of PCI scope, with a comment saying when
    assert "    tickets: {kind: service, label: tickets}\n" in printed.stdout
    assert "declare card_numbers_total and add pci: [transmit]" in printed.stdout
    pasted = parse_catalog((tmp_path / "moneypath.yaml").read_text() + "\n" + printed.stdout, "moneypath.yaml")
    assert map_problems(pasted) == [] and len(build_map([pasted]).edges) == 4  # authorize x3, ledger writes
    again = run_cli("init", str(FOREIGN_PATH.parent), "--money-path")
    assert (again.returncode, again.stdout) == (0, "")
    assert again.stderr == f"moneypath init: {FOREIGN_PATH}:" \
                           f"{text[:text.index(chr(10) + 'money_path:')].count(chr(10)) + 2}: money_path: already " \
                           "declared; nothing to scaffold\n"


def test_init_money_path_says_what_does_not_fit_a_catalog_whose_values_changed(tmp_path: Path):
    root = tmp_path / "ops"
    assert run_cli("init", str(root), "--providers", "komoju", "--currencies", "JPY",
                   "--features", "ledger").returncode == 0
    text = (root / "moneypath.yaml").read_text()
    text = text[:text.index("# The money path (")] + text[text.index("\n# Alerts"):]
    text = text.replace("outcome: [committed, failed, conflict]", "outcome: [committed, failed]")
    (root / "moneypath.yaml").write_text(text)
    printed = run_cli("init", str(root), "--money-path")
    assert printed.returncode == 1 and "money_path:" in printed.stdout
    lines = printed.stderr.splitlines()
    assert lines[0] == f"moneypath init: pasted at the end of {root}/moneypath.yaml, the section needs these changes:"
    assert len(lines) == 2 and re.fullmatch(
        re.escape(f"{root}/moneypath.yaml:") + r"\d+" + re.escape(": money_path.edges.2.signals.errors: "
                                                               "outcome=~\"failed|conflict\": 'conflict' is not a "
                                                               "declared value of outcome"), lines[1]), lines
