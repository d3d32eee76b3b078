"""Production receivers: what each catalog receiver delivers to (PagerDuty Events v2, Opsgenie, Slack,
webhook), the refusal of a literal secret, and the production Alertmanager config generated from them, on
the reference catalog and the ticket shop's (tests/foreign). Delivery for real:
tests/integration/generate/test_receivers.py."""

from __future__ import annotations

import re

import pytest
import yaml

from moneypath.catalog import CatalogError, parse_catalog
from moneypath.generate import build
from moneypath.generate.receiver_blocks import OPSGENIE_PRIORITY, PAGERDUTY_SEVERITY
from moneypath.generate.routing import DEFAULT_PAGER_URL, alertmanager_config, render_alertmanager
from tests.conftest import CATALOG_PATH, FOREIGN_PATH, run_cli
from tests.docs_examples import args_of, code_block, shell

KINDS = {"pagerduty": "pagerduty_configs", "opsgenie": "opsgenie_configs", "slack": "slack_configs",
         "webhook": "webhook_configs"}
SECRET_FILES = {"pagerduty_configs": "routing_key_file", "opsgenie_configs": "api_key_file",
                "slack_configs": "api_url_file"}


def with_receiver(text: str, name: str, body: str) -> str:
    """Catalog text with receiver `name`'s whole entry replaced by `body` (a YAML flow mapping)."""
    entry = re.compile(rf"^  {re.escape(name)}:(?: \{{.*\}}\n|\n(?:    .*\n)+)", re.MULTILINE)
    assert entry.search(text), name
    return entry.sub(lambda _: f"  {name}: {body}\n", text, count=1)


def problems(text: str, where=CATALOG_PATH) -> list[str]:
    with pytest.raises(CatalogError) as err:
        parse_catalog(text, str(where))
    return err.value.problems


@pytest.mark.parametrize("fixture", ["catalog", "foreign"])
def test_each_receiver_delivers_where_the_catalog_declares_with_runbook_and_dashboard(fixture, request):
    c = request.getfixturevalue(fixture)
    config = alertmanager_config(c, production=True)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == {*c.receivers, c.watchdog.receiver}
    for name, receiver in c.receivers.items():
        declared = receiver.declared()
        assert declared, name
        block = receivers[name]
        assert set(block) == {"name"} | {KINDS[k] for k in declared}, name
        for kind, configs in block.items():
            if kind == "name":
                continue
            [one] = configs
            text = yaml.safe_dump(one)
            if kind in SECRET_FILES:  # the secret by file, exactly the catalog's path
                assert one[SECRET_FILES[kind]] == getattr(declared[kind.removesuffix("_configs")],
                                                          SECRET_FILES[kind]), name
                assert "{{ .CommonAnnotations.runbook_url }}" in text and \
                    "{{ .CommonAnnotations.dashboard_url }}" in text, (name, kind)
            assert DEFAULT_PAGER_URL not in text  # production never points at the local pager
    switch = receivers[c.watchdog.receiver]["webhook_configs"]
    assert switch == [{"url": c.watchdog.webhook.url, "send_resolved": False}]


@pytest.mark.parametrize("fixture", ["catalog", "foreign"])
def test_production_routes_are_the_drilled_routes(fixture, request):
    """Only the receivers differ: the routing tree drills exercise locally is the one production runs (and the
    group keys, so PagerDuty's dedup_key and Opsgenie's alias, are the same as they were before)."""
    c = request.getfixturevalue(fixture)
    local, production = alertmanager_config(c), alertmanager_config(c, production=True)
    assert {k: v for k, v in local.items() if k != "receivers"} == \
        {k: v for k, v in production.items() if k != "receivers"}
    assert [r["name"] for r in local["receivers"]] == [r["name"] for r in production["receivers"]]


def test_pagerduty_and_opsgenie_take_severity_and_priority_from_the_alerts_severity(catalog, foreign):
    assert set(PAGERDUTY_SEVERITY) == set(OPSGENIE_PRIORITY) == {"page", "ticket"}  # the catalog's severities
    assert set(PAGERDUTY_SEVERITY.values()) <= {"critical", "error", "warning", "info"}  # Events v2's fixed set
    assert set(OPSGENIE_PRIORITY.values()) <= {"P1", "P2", "P3", "P4", "P5"}
    [pd] = next(r for r in alertmanager_config(catalog, production=True)["receivers"]
                if r["name"] == "payments-oncall")["pagerduty_configs"]
    assert pd["severity"] == '{{ if eq .CommonLabels.severity "page" }}critical{{ else }}warning{{ end }}'
    assert pd["source"] == catalog.service and pd["links"][0] == {"href": "{{ .CommonAnnotations.runbook_url }}",
                                                                  "text": "runbook"}
    [og] = next(r for r in alertmanager_config(foreign, production=True)["receivers"]
                if r["name"] == "tickets-oncall")["opsgenie_configs"]
    assert og["priority"] == '{{ if eq .CommonLabels.severity "page" }}P1{{ else }}P3{{ end }}'
    assert og["api_url"] == "https://api.eu.opsgenie.com/" and og["source"] == foreign.service


def test_the_current_receiver_form_still_loads_and_means_the_local_pager(catalog):
    data = yaml.safe_load(CATALOG_PATH.read_text())
    data["receivers"] = {name: {"description": r["description"]} for name, r in data["receivers"].items()}
    del data["watchdog"]
    c = parse_catalog(yaml.safe_dump(data, sort_keys=False), str(CATALOG_PATH))
    assert not c.delivers_in_production and set(c.receivers) == set(catalog.receivers)
    assert alertmanager_config(c) == alertmanager_config(catalog)  # the local config is unchanged
    assert build.PRODUCTION_ALERTMANAGER not in build.rule_artifacts(c)
    with pytest.raises(CatalogError, match="no production delivery declared"):
        alertmanager_config(c, production=True)


@pytest.mark.parametrize("body, problem", [
    ("{description: x, pagerduty: {routing_key: R0123456789abcdef0123456789abcdef}}",
     "receivers.payments-oncall.pagerduty: routing_key: a secret never goes in the catalog (nor the generated "
     "Alertmanager config); put it in a file Alertmanager can read and give routing_key_file"),
    ("{description: x, pagerduty: {service_key: abc, routing_key_file: /s/pd}}",
     "receivers.payments-oncall.pagerduty: service_key: a secret never goes in the catalog"),
    ("{description: x, opsgenie: {api_key: 0c7b-key}}", "opsgenie: api_key: a secret never goes in the catalog"),
    ("{description: x, slack: {api_url: 'https://hooks.slack.com/services/T0/B0/XYZ'}}",
     "slack: api_url: a secret never goes in the catalog (nor the generated Alertmanager config); put it in a file "
     "Alertmanager can read and give api_url_file"),
    ("{description: x, webhook: {url: 'https://h.test/x', credentials: tok}}",
     "webhook: credentials: a secret never goes in the catalog"),
    ("{description: x, pagerduty: {routing_key_file: R0123456789abcdef0123456789abcdef}}",
     "receivers.payments-oncall.pagerduty.routing_key_file: give the path of the file that holds the secret"),
    ("{description: x, slack: {api_url_file: 'https://hooks.slack.com/services/T0/B0/XYZ'}}",
     "slack.api_url_file: give the path of the file that holds the secret"),
    ("{description: x, webhook: {url: 'https://h.test/x?token=abc'}}",
     "webhook.url: may carry a credential (user:password@ or a ?query), and the generated config would show it: "
     "put the whole URL in a file and give url_file"),
    ("{description: x, webhook: {url: 'https://user:pw@h.test/x'}}", "webhook.url: may carry a credential"),
    ("{description: x, webhook: {send_resolved: false}}", "webhook: give exactly one of url or url_file"),
    ("{description: x, opsgenie: {api_key_file: /s/og, api_url: 'ftp://h.test/'}}",
     "opsgenie.api_url: must be an http(s) URL"),
    ("{description: x, slack: {api_url_file: /s/sl, channel: 'payments alerts'}}", "slack.channel"),
    ("{description: x, teams: {url: 'https://h.test/x'}}", "receivers.payments-oncall.teams: Extra inputs"),
])
def test_a_bad_delivery_is_one_line_naming_file_line_and_key(body, problem):
    found = problems(with_receiver(CATALOG_PATH.read_text(), "payments-oncall", body))
    assert len(found) == 1 and problem in found[0], found
    assert re.match(rf"{re.escape(str(CATALOG_PATH))}:\d+: receivers\.payments-oncall", found[0])
    assert "R0123456789abcdef" not in found[0] and "XYZ" not in found[0]  # the error never echoes the secret


def test_deliveries_are_all_or_nothing_and_the_switch_needs_one(catalog):
    text = with_receiver(CATALOG_PATH.read_text(), "compliance", "{description: Compliance officer.}")
    assert problems(text) == [
        f"{CATALOG_PATH}:{_line(text, '  compliance:')}: receivers.compliance: declares no production delivery "
        "(pagerduty, opsgenie, slack, webhook) while other receivers do: its pages would go nowhere in production"]
    no_switch = re.sub(r"^watchdog:\n(?:  .*\n)*", "", CATALOG_PATH.read_text(), flags=re.MULTILINE)
    [problem] = problems(no_switch)
    assert problem.endswith("watchdog: receivers declare production deliveries, so the dead man's switch needs one "
                            "too: webhook: {url: <its ping URL>} (or url_file)")
    off = parse_catalog(no_switch + "watchdog: {enabled: false}\n", str(CATALOG_PATH))
    assert catalog.watchdog.receiver not in {r["name"] for r in alertmanager_config(off, production=True)["receivers"]}


def _line(text: str, prefix: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(prefix))


def test_a_webhook_token_goes_by_file_and_url_file_is_passed_through():
    text = with_receiver(FOREIGN_PATH.read_text(), "finance",
                         "{description: Finance, webhook: {url_file: /run/secrets/fh-url}}")
    text = with_receiver(text, "tickets-queue", "{description: Backlog, webhook: {url: 'https://api.h.test/v2/am', "
                                                     "credentials_file: /run/secrets/token, send_resolved: false}}")
    c = parse_catalog(text, str(FOREIGN_PATH))
    receivers = {r["name"]: r for r in alertmanager_config(c, production=True)["receivers"]}
    assert receivers["finance"]["webhook_configs"] == [{"url_file": "/run/secrets/fh-url", "send_resolved": True}]
    assert receivers["tickets-queue"]["webhook_configs"] == [{
        "url": "https://api.h.test/v2/am", "send_resolved": False,
        "http_config": {"authorization": {"type": "Bearer", "credentials_file": "/run/secrets/token"}}}]


@pytest.mark.parametrize("fixture", ["catalog", "foreign"])
def test_build_writes_the_production_config_beside_the_local_one(fixture, request):
    c = request.getfixturevalue(fixture)
    files = build.rule_artifacts(c)
    local, production = files["alerts/alertmanager.yml"], files[build.PRODUCTION_ALERTMANAGER]
    assert production.startswith("# Generated by `moneypath build`")
    assert production == build.HEADER.format(catalog="moneypath.yaml") + render_alertmanager(c, production=True)
    assert f"{DEFAULT_PAGER_URL}/hooks/" in local and DEFAULT_PAGER_URL not in production
    assert "{{ else }}" in production  # one template per line: nothing folded across YAML lines


def test_build_refuses_a_literal_secret_with_one_line_and_writes_nothing(tmp_path):
    """docs/alerts.md's example, as written, in a project whose catalog has a literal Slack hook URL."""
    example = code_block("docs/alerts.md", "Production receivers", "console")
    build, echo = shell(example)
    shown = example.splitlines()
    catalog = tmp_path / "moneypath.yaml"
    catalog.write_text(with_receiver(CATALOG_PATH.read_text(), "payments-tickets",
                                     "{description: Tickets, slack: {api_url: 'https://hooks.slack.com/services/T/B/S'}}"))
    result = run_cli(*args_of(build), cwd=tmp_path)
    assert echo == ["echo", "$?"] and shown[-1] == str(result.returncode) == "3" and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert re.sub(r":\d+:", ":N:", line, count=1) == re.sub(r":\d+:", ":N:", shown[1], count=1)  # the line may move
    assert line.startswith("moneypath.yaml:") and "receivers.payments-tickets.slack: api_url: a secret never goes" in line
    assert "hooks.slack.com" not in line and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["moneypath.yaml"]


def test_catalog_show_says_where_each_receiver_delivers(catalog):
    out = run_cli("catalog", "show", "--catalog", str(CATALOG_PATH)).stdout
    for name, receiver in catalog.receivers.items():
        assert re.search(rf"receiver {re.escape(name)}\s+│ {', '.join(receiver.declared())}\s", out), name
