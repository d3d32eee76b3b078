"""An empty ${NAME} is refused like an unset one (`SHOP_VARIANT=` would send an empty id), unless the file says
what empty means: `${NAME:-}` sends an empty value, `${NAME:-value}` its default, as a POSIX shell reads them.
Each of set / empty / unset with and without a default; the one line `drill check` and a load test print."""

from __future__ import annotations

import shutil

import pytest

from moneypath.drills import hooks
from moneypath.formats.drill import read_drill
from moneypath.formats.env_refs import expand, problem, refs, unset
from moneypath.formats.requests import placeholders
from moneypath.loadtest.in_locust import flows
from tests.conftest import ROOT, run_cli

ENVS = {"set": {"V": "v1"}, "empty": {"V": ""}, "unset": {}}


@pytest.mark.parametrize("written, state, sent, refused", [
    ("${V}", "set", "v1", False),
    ("${V}", "empty", "${V}", True),
    ("${V}", "unset", "${V}", True),
    ("${V:-}", "set", "v1", False),
    ("${V:-}", "empty", "", False),
    ("${V:-}", "unset", "", False),
    ("${V:-eu-1}", "set", "v1", False),
    ("${V:-eu-1}", "empty", "eu-1", False),
    ("${V:-eu-1}", "unset", "eu-1", False),
])
def test_each_state_with_and_without_a_default(written, state, sent, refused):
    env = ENVS[state]
    value = {"headers": {"x-variant": f"id-{written}"}}
    assert expand(value, env) == {"headers": {"x-variant": f"id-{sent}"}}
    assert unset(refs(value), env) == ([(("headers", "x-variant"), "V")] if refused else [])


def test_the_line_says_empty_or_unset_and_how_to_mean_empty():
    keys = ("flow", "0", "json", "variant")
    assert problem("shop.yaml:7", keys, "SHOP_VARIANT", {"SHOP_VARIANT": ""}) == (
        "shop.yaml:7: flow.0.json.variant: ${SHOP_VARIANT} is set but empty in the environment (it is read when the "
        "run starts; give it a value, or write ${SHOP_VARIANT:-} where empty is meant)")
    assert problem("shop.yaml:7", keys, "SHOP_VARIANT", {}).startswith(
        "shop.yaml:7: flow.0.json.variant: ${SHOP_VARIANT} is not set in the environment")


def test_a_default_is_not_a_placeholder():
    assert placeholders("/v/${V:-eu-1}/{payment_id}") == {"payment_id"}


@pytest.fixture
def project(tmp_path):
    """The shipped project whose request template sends ${SHOP_VARIANT} in its JSON body."""
    shutil.copy(ROOT / "moneypath.yaml", tmp_path)
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    template = tmp_path / "runbooks/drills/requests/reference.yaml"
    text = template.read_text()
    assert 'headers: {idempotency-key: "{idempotency_key}"}\n  json' in text
    template.write_text(text.replace('headers: {idempotency-key: "{idempotency_key}"}\n  json',
                                     'headers: {x-variant: "${SHOP_VARIANT}"}\n  json', 1))
    return tmp_path


DRILL = "runbooks/drills/provider-partial-outage.yaml"


def test_drill_check_refuses_a_set_but_empty_name_in_one_line(project, monkeypatch):
    monkeypatch.setenv("SHOP_VARIANT", "")
    r = run_cli("drill", "check", DRILL, cwd=project)
    assert r.returncode == 2, r
    assert r.stderr.splitlines() == [
        f"{DRILL}: load.requests: runbooks/drills/requests/reference.yaml:8: authorize.headers.x-variant: "
        "${SHOP_VARIANT} is set but empty in the environment (it is read when the run starts; give it a value, or "
        "write ${SHOP_VARIANT:-} where empty is meant)"]
    monkeypatch.setenv("SHOP_VARIANT", "UHJvZHVjdDo3Mg==")
    assert run_cli("drill", "check", DRILL, cwd=project).returncode == 0


def test_a_drill_that_says_empty_is_meant_passes_and_sends_it(project, monkeypatch):
    template = project / "runbooks/drills/requests/reference.yaml"
    template.write_text(template.read_text().replace("${SHOP_VARIANT}", "${SHOP_VARIANT:-}"))
    monkeypatch.setenv("SHOP_VARIANT", "")
    assert run_cli("drill", "check", DRILL, cwd=project).returncode == 0
    drill = read_drill(project / DRILL, project)
    assert hooks.missing_env(drill) == []
    assert hooks.with_env(drill).load.requests.steps[0].headers["x-variant"] == ""


def test_the_drill_models_names_count_an_empty_one_as_missing(project):
    drill = read_drill(project / DRILL, project)
    assert hooks.missing_env(drill, {"SHOP_VARIANT": ""}) == ["SHOP_VARIANT"]
    assert hooks.missing_env(drill, {"SHOP_VARIANT": "x"}) == []


LOCUSTFILE = """\
from moneypath.loadtest.in_locust.user import PaymentUser


class Shop(PaymentUser):
    template = "requests/shop.yaml"
"""
TEMPLATE = """\
auth: none
authorize:
  path: /checkouts
  json: {variant: "${SHOP_VARIANT}", region: "${SHOP_REGION:-eu}", amount: "{amount_minor}"}
  id: id
  outcome: status
approved: [AUTHORIZED]
"""


def test_a_load_test_refuses_an_empty_name_before_locust_starts(tmp_path, monkeypatch):
    (tmp_path / "requests").mkdir()
    (tmp_path / "requests/shop.yaml").write_text(TEMPLATE)
    (tmp_path / "locustfile.py").write_text(LOCUSTFILE)
    monkeypatch.delenv("SHOP_REGION", raising=False)
    monkeypatch.setenv("SHOP_VARIANT", "")
    assert flows.unset_template_env(tmp_path / "locustfile.py") == [
        f"Shop.template: {tmp_path}/requests/shop.yaml:4: authorize.json.variant: ${{SHOP_VARIANT}} is set but empty "
        "in the environment (it is read when the run starts; give it a value, or write ${SHOP_VARIANT:-} where "
        "empty is meant)"]
    monkeypatch.setenv("SHOP_VARIANT", "v7")
    assert flows.unset_template_env(tmp_path / "locustfile.py") == []  # SHOP_REGION unset: its default
