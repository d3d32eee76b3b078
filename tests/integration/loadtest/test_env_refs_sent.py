"""${NAME} in a request template's flow steps reaches the target, read from the environment when the run starts:
a drill's load (moneypath.drills.baseline_load: its preflight probe and its open-loop load) and a load test
(`moneypath loadtest` running Locust on a locustfile whose user names the same template) both send the
expanded path, header and JSON body to a loopback HTTP server; with the variable unset, `moneypath loadtest`
exits 2 with the file, line and key before Locust starts, and the server receives nothing. One Locust run of 3 s."""

from __future__ import annotations

import json
import threading

import pytest
import yaml

from moneypath import cli
from moneypath.drills.baseline_load import Load, Mix, probe
from moneypath.formats.requests import Requests
from tests.conftest import wait_for
from tests.loopback_http import LoopbackServer, QuietHandler

pytestmark = pytest.mark.integration
TEMPLATE = """\
auth: none
name: checkout
flow:
  - name: create
    path: /shops/${SHOP_ID}/checkouts
    headers: {x-tenant: "${SHOP_TENANT}"}
    json: {variant: "${SHOP_VARIANT_ID}", currency: "{currency}"}
    capture: {checkout_id: data.id}
  - name: pay
    path: "/checkouts/{checkout_id}/pay"
    authorizes: true
    json: {amount_minor: "{amount_minor}"}
    id: data.payment.id
    outcome: data.payment.status
approved: [AUTHORIZED]
"""
ENV = {"SHOP_ID": "s1", "SHOP_TENANT": "acme-eu", "SHOP_VARIANT_ID": "UHJvZHVjdFZhcmlhbnQ6NzI="}
LOCUSTFILE = """\
from moneypath.loadtest.in_locust.user import PaymentUser


class Shopper(PaymentUser):
    template = "../runbooks/drills/requests/shop.yaml"
"""


class Shop(QuietHandler):
    """Answers the two steps of the template and keeps what each create call carried."""

    creates: list[tuple[str, str | None, dict]] = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"null")
        if self.path.endswith("/checkouts"):
            with self.lock:
                self.creates.append((self.path, self.headers.get("x-tenant"), body))
            answer = {"data": {"id": "c1"}}
        else:
            answer = {"data": {"payment": {"id": "p1", "status": "AUTHORIZED"}}}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def shop():
    Shop.creates = []
    with LoopbackServer(Shop) as server:
        yield server


def expanded(create) -> bool:
    return create == ("/shops/s1/checkouts", "acme-eu", {"variant": ENV["SHOP_VARIANT_ID"], "currency": "KWD"})


def test_a_drills_load_sends_the_expanded_step(shop, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    api = Requests.model_validate(yaml.safe_load(TEMPLATE))
    values = {"amount_minor": 6235, "currency": "KWD", "provider": "paystack", "method": "card", "reference": "r",
              "correlation_id": "c"}
    assert "create, pay → data.payment.id=p1" in probe(shop.url, {}, api, values)
    load = Load(shop.url, {}, api, Mix({"paystack": 1}, {"KWD": 1}, {"card": 1}, 6235, 6235, 0), 20,
                lambda minor, currency: "6.235")
    load.start()
    try:
        wait_for(lambda: len(Shop.creates) >= 5, 10, "five flows of the drill's load")
    finally:
        load.stop()
    assert Shop.creates and all(expanded(c) for c in Shop.creates), Shop.creates[:3]


def test_a_load_test_sends_the_expanded_step_or_refuses_an_unset_name_before_any_load(shop, tmp_path, monkeypatch,
                                                                                     capsys):
    root = tmp_path / "ops"
    assert cli.main(["init", str(root), "--service", "shop", "--providers", "paystack", "--currencies", "KWD",
                     "--oncall", "shop-oncall"]) == 0
    (root / "runbooks/drills/requests/shop.yaml").write_text(TEMPLATE)
    (root / "loadtests/locustfile.py").write_text(LOCUSTFILE)

    def loadtest(out: str) -> int:
        return cli.main(["loadtest", "checkout", "--catalog", str(root / "moneypath.yaml"), "--locustfile",
                         str(root / "loadtests/locustfile.py"), "--host", shop.url, "--no-auth", "--no-prometheus",
                         "--rate", "4", "--users", "2", "--duration", "3", "--state-dir", str(tmp_path / "state"),
                         "--out", str(tmp_path / out)])

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SHOP_TENANT")
    capsys.readouterr()
    assert loadtest("refused") == 2 and Shop.creates == []
    assert ("requests/shop.yaml:6: flow.0.headers.x-tenant: ${SHOP_TENANT} is not set in the environment"
            in capsys.readouterr().err)
    monkeypatch.setenv("SHOP_TENANT", ENV["SHOP_TENANT"])
    loadtest("reports")
    assert Shop.creates and all(expanded(c) for c in Shop.creates), Shop.creates[:3]
