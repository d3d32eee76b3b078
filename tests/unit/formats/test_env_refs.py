"""${NAME} in what a drill or a load test sends (moneypath.formats.env_refs): read once from the environment into
every call's path, headers and JSON body of a request template (flow steps, authorize, capture, read), and an
unset one named by file, line and key before anything is sent: `drill check`, `drill run`, a locustfile's
template (the Locust master, and `moneypath loadtest` before Locust starts)."""

from __future__ import annotations

import shutil
import sys
import types

import pytest
import yaml

from moneypath.drills import hooks
from moneypath.formats.drill import read_drill
from moneypath.formats.env_refs import expand, refs, template_refs, unset
from moneypath.formats.requests import Requests, unset_env
from moneypath.loadtest.in_locust import flows
from tests.conftest import ROOT, run_cli

FLOW = """\
auth: none
flow:
  - name: create
    path: /shops/${SHOP}/checkouts
    headers: {x-tenant: "${TENANT}", idempotency-key: "{idempotency_key}"}
    json: {variant: "${VARIANT_ID}", currency: "{currency}", lines: [{qty: 1, id: "${VARIANT_ID}"}]}
    capture: {checkout_id: data.id}
  - name: pay
    path: "/checkouts/{checkout_id}/pay"
    authorizes: true
    json: {amount: "{amount_minor}", gateway: "${GATEWAY}"}
    id: data.payment.id
    outcome: data.payment.status
approved: [AUTHORIZED]
capture: {path: "/payments/{payment_id}/capture", headers: {authorization: "Bearer ${ADMIN_TOKEN}"}}
read: {method: GET, path: "/${API}/payments/{payment_id}", outcome: status}
captured: [captured]
"""
ENV = {"SHOP": "s1", "TENANT": "acme-eu", "VARIANT_ID": "UHJvZHVjdDo3Mg==", "GATEWAY": "paystack",
       "ADMIN_TOKEN": "t0k", "API": "v2"}


def test_expand_fills_strings_in_mappings_and_lists_and_leaves_an_unset_name_as_written():
    env = {"URL": "http://127.0.0.1:9"}
    assert expand({"u": "${URL}/x", "l": ["${NOPE}", 3, None], "t": "{amount_minor}"}, env) == {
        "u": "http://127.0.0.1:9/x", "l": ["${NOPE}", 3, None], "t": "{amount_minor}"}
    assert list(refs({"a": [{"b": "${X}-${Y}"}]})) == [(("a", "0", "b"), "X"), (("a", "0", "b"), "Y")]


def test_a_template_is_expanded_once_in_every_call_path_headers_and_body():
    api = Requests.model_validate(yaml.safe_load(FLOW))
    out = api.expanded(ENV)
    create, pay = out.steps
    assert create.path == "/shops/s1/checkouts" and create.headers["x-tenant"] == "acme-eu"
    assert create.headers["idempotency-key"] == "{idempotency_key}"  # a placeholder stays for each payment
    assert create.json_body == {"variant": "UHJvZHVjdDo3Mg==", "currency": "{currency}",
                                "lines": [{"qty": 1, "id": "UHJvZHVjdDo3Mg=="}]}
    assert pay.json_body["gateway"] == "paystack" and out.authorizing is pay and out.flow == out.steps
    assert out.capture.headers == {"authorization": "Bearer t0k"} and out.read.path == "/v2/payments/{payment_id}"
    assert api.steps[0].path == "/shops/${SHOP}/checkouts"  # the template as written is left alone


def test_a_one_call_template_is_expanded_as_its_one_step():
    doc = yaml.safe_load((ROOT / "runbooks/drills/requests/reference.yaml").read_text())
    doc["authorize"]["headers"]["x-tenant"] = "${TENANT}"
    out = Requests.model_validate(doc).expanded({"TENANT": "acme-eu"})
    assert out.authorize.headers["x-tenant"] == "acme-eu" and out.steps[0].headers["x-tenant"] == "acme-eu"


def test_each_unset_name_is_found_with_its_key_path():
    doc = yaml.safe_load(FLOW)
    missing = unset(template_refs(doc), {"SHOP": "s1", "GATEWAY": "g", "API": "v2"})
    assert missing == [(("flow", "0", "headers", "x-tenant"), "TENANT"), (("flow", "0", "json", "variant"), "VARIANT_ID"),
                       (("flow", "0", "json", "lines", "0", "id"), "VARIANT_ID"),
                       (("capture", "headers", "authorization"), "ADMIN_TOKEN")]


def test_a_template_file_names_the_line_of_each_unset_name(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(FLOW)
    lines = unset_env(path, {k: v for k, v in ENV.items() if k not in ("TENANT", "API")})
    assert lines == [f"{path}:5: flow.0.headers.x-tenant: ${{TENANT}} is not set in the environment (it is read when "
                     "the run starts; set it, or write the value)",
                     f"{path}:16: read.path: ${{API}} is not set in the environment (it is read when the run starts; "
                     "set it, or write the value)"]
    assert unset_env(path, ENV) == []


@pytest.fixture
def project(tmp_path):
    """A copy of the shipped project whose shared request template reads ${TENANT} in a header."""
    shutil.copy(ROOT / "moneypath.yaml", tmp_path)
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    template = tmp_path / "runbooks/drills/requests/reference.yaml"
    template.write_text(template.read_text().replace(
        'headers: {idempotency-key: "{idempotency_key}"}\n  json', 'headers: {x-tenant: "${TENANT}"}\n  json', 1))
    return tmp_path


def test_drill_check_and_run_name_each_unset_name_by_file_line_and_key(project, monkeypatch):
    monkeypatch.delenv("TENANT", raising=False)
    drill = "runbooks/drills/provider-partial-outage.yaml"
    want = ("runbooks/drills/provider-partial-outage.yaml: load.requests: runbooks/drills/requests/reference.yaml:8: "
            "authorize.headers.x-tenant: ${TENANT} is not set in the environment")
    for command in (("check",), ("run", "--reports", str(project / "reports"))):
        r = run_cli("drill", *command, drill, cwd=project)
        assert r.returncode == 2 and r.stderr.startswith(want) and len(r.stderr.splitlines()) == 1, r
    monkeypatch.setenv("TENANT", "acme-eu")
    assert run_cli("drill", "check", drill, cwd=project).returncode == 0


def test_an_inline_template_hook_and_action_name_their_line_in_the_drill_file(project):
    path = project / "runbooks/drills/provider-partial-outage.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["load"]["requests"] = yaml.safe_load((project / "runbooks/drills/requests/reference.yaml").read_text())
    doc["fault"] = {"where": "hook", "name": "flag", "duration": "30s",
                    "set": {"url": "${FLAGS_URL}/flags/slow", "headers": {"authorization": "Bearer ${FLAGS_TOKEN}"}},
                    "clear": {"method": "DELETE", "url": "${FLAGS_URL}/flags/slow"}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    text = path.read_text().splitlines()
    drill = read_drill(path, project)
    lines = hooks.unset_env(drill, project, {"FLAGS_URL": "http://127.0.0.1:9"})
    keys = [line.split(": ")[1] for line in lines]
    assert keys == ["load.requests.authorize.headers.x-tenant", "fault.set.headers.authorization"]
    for line in lines:
        where, key = line.split(": ")[0], line.split(": ")[1]
        number = int(where.rsplit(":", 1)[1])
        assert key.rsplit(".", 1)[1] in text[number - 1], (line, text[number - 1])
    assert hooks.missing_env(drill, {"FLAGS_URL": "u"}) == ["FLAGS_TOKEN", "TENANT"]


def test_a_drill_run_sends_its_template_expanded(project, monkeypatch):
    monkeypatch.setenv("TENANT", "acme-eu")
    drill = read_drill(project / "runbooks/drills/provider-partial-outage.yaml", project)
    assert drill.load.requests.steps[0].headers["x-tenant"] == "${TENANT}"
    assert hooks.with_env(drill).load.requests.steps[0].headers["x-tenant"] == "acme-eu"
    assert drill.load.requests.steps[0].headers["x-tenant"] == "${TENANT}"


LOCUSTFILE = """\
from moneypath.loadtest.in_locust.user import PaymentUser


class Shop(PaymentUser):
    template = "requests/shop.yaml"
"""


def test_a_locustfile_template_with_an_unset_name_is_refused_before_locust_starts(tmp_path, monkeypatch):
    (tmp_path / "requests").mkdir()
    (tmp_path / "requests/shop.yaml").write_text(FLOW)
    (tmp_path / "locustfile.py").write_text(LOCUSTFILE)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert flows.unset_template_env(tmp_path / "locustfile.py") == []
    monkeypatch.delenv("GATEWAY")
    assert flows.unset_template_env(tmp_path / "locustfile.py") == [
        f"Shop.template: {tmp_path}/requests/shop.yaml:11: flow.1.json.gateway: ${{GATEWAY}} is not set in the "
        "environment (it is read when the run starts; set it, or write the value)"]


def test_a_locust_user_class_reads_its_template_expanded_once_or_exits_naming_the_line(tmp_path, monkeypatch):
    (tmp_path / "shop.yaml").write_text(FLOW)
    shop = type("Shop", (), {"template": "shop.yaml", "__module__": "users_under_test"})
    # the template is found beside the class's module file, as beside a locustfile
    monkeypatch.setitem(sys.modules, "users_under_test", types.SimpleNamespace(__file__=str(tmp_path / "users.py")))
    try:
        for name, value in ENV.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("TENANT")
        with pytest.raises(SystemExit, match=r"^moneypath: Shop.template: .*shop.yaml:5: flow.0.headers.x-tenant: "
                                             r"\$\{TENANT\} is not set in the environment [^\n]*$"):
            flows.template_of(shop)
        monkeypatch.setenv("TENANT", "acme-eu")
        api = flows.template_of(shop)
        assert api.steps[0].headers["x-tenant"] == "acme-eu" and flows.template_of(shop) is api
    finally:
        flows._TEMPLATES.pop(shop, None)


def test_a_canary_drill_names_its_releases_hooks():
    path = ROOT / "tests/foreign/drills/canary-releases.yaml"
    lines = hooks.unset_in_file("canary-releases.yaml", path, ROOT, {})
    assert [line.split(": ")[:2] for line in lines] == [["canary-releases.yaml:34", "releases.0.faults.0.set.url"],
                                                        ["canary-releases.yaml:35", "releases.0.faults.0.clear.url"]]
    assert hooks.unset_in_file("canary-releases.yaml", path, ROOT, {"CANARY_URL": "http://127.0.0.1:9"}) == []
