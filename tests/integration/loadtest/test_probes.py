"""Load-test code probed in a subprocess, so that Locust's gevent stays out of this one: the CLI never imports
Locust, and the shipped locustfile is a payment user of the reference API (the rest:
tests/unit/loadtest/)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from moneypath.protocol.tokens import MAX_LIFETIME_S, verify
from tests.conftest import ROOT, SHIPPED_LOCUSTFILE, SHIPPED_SCENARIOS


def test_the_cli_never_imports_locust_or_gevent():
    code = ("import sys; from moneypath import cli; cli.build_parser(); "
            "import moneypath.loadtest.command.locust_run, moneypath.loadtest.command.capacity.plan; "
            "assert 'gevent' not in sys.modules and 'locust' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


LOCUSTFILE_PROBE = """
import json, os, sys

from locust.util.load_locustfile import load_locustfile
from locust import FastHttpUser

users, shapes = load_locustfile(sys.argv[1])  # as Locust loads it
from moneypath.loadtest.in_locust import client, harness, run_settings
from moneypath.formats import scenarios
from moneypath.loadtest.in_locust.user import PaymentUser

sent = []


class Answer:
    def __init__(self, body):
        self.status_code, self.body, self.content, self.error = 201, body, b"...", None
    def json(self):
        return self.body
    def success(self):
        pass
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False


class Client:
    def post(self, path, json=None, headers=None, name=None, catch_response=False):
        sent.append({"path": path, "name": name, "json": json})
        state = {"authorize": "authorized", "capture": "captured", "refund": "captured"}.get(name.split()[0])
        return Answer({"id": "pay_1", "state": state})


files = scenarios.load(sys.argv[2])
u = object.__new__(users["ReferenceUser"])  # its endpoints, without Locust's __init__
u.client = Client()
u.begin(client.LoadSettings(files, files.get("checkout"), 10, 10, 60, "tok"))
payment = u.authorize(u.order())
captured = u.capture(payment)
u.refund(captured, 100)
u.payout(u.order("payout"))
os.environ["MONEYPATH_TOKEN_SECRET"] = "s"
try:
    run_settings.token(None, ["payments:write"], "", "MONEYPATH_TOKEN", 2 * 86400)
    too_long = None
except SystemExit as exc:
    too_long = str(exc)
print(json.dumps({
    "users": {n: [issubclass(c, FastHttpUser), issubclass(c, PaymentUser)] for n, c in users.items()},
    "shapes": len(shapes), "sent": sent, "captured": captured is not None, "too_long": too_long,
    "day_token": run_settings.token(None, ["payments:write"], "", "MONEYPATH_TOKEN", 86400)}))
"""


def test_the_shipped_locustfile_is_a_payment_user_of_the_reference_api():
    """The shipped locustfile loaded as Locust loads it (in a subprocess: Locust's gevent stays out of this one):
    one PaymentUser with the reference service's endpoints; the shape comes from the init hook, not the file."""
    r = subprocess.run([sys.executable, "-c", LOCUSTFILE_PROBE, str(SHIPPED_LOCUSTFILE), str(SHIPPED_SCENARIOS)],
                       cwd="/", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    probe = json.loads(r.stdout.strip().splitlines()[-1])
    assert probe["users"] == {"ReferenceUser": [True, True]} and probe["shapes"] == 0
    assert [(s["path"], s["name"].split(" ")[0]) for s in probe["sent"]] == [
        ("/v1/payments/authorize", "authorize"), ("/v1/payments/pay_1/capture", "capture"),
        ("/v1/payments/pay_1/refund", "refund"), ("/v1/payouts", "payout")]
    assert probe["sent"][2]["json"] == {"amount_minor": 100} and probe["captured"]
    assert set(probe["sent"][0]["json"]) == {"amount_minor", "currency", "provider", "method", "reference"}
    # minted tokens fit the services' maximum lifetime; a run longer than that is refused in one line
    claims = verify(b"s", probe["day_token"], "payments:write")  # refuses a token living longer than the maximum
    assert claims.exp > time.time() + MAX_LIFETIME_S - 120
    assert "outlives the tokens minted here" in probe["too_long"] and "MONEYPATH_TOKEN" in probe["too_long"]
