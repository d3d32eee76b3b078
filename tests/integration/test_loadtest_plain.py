"""`moneypath loadtest --locustfile` with a locustfile that knows nothing of moneypath (an HttpUser with one
task) against a tiny HTTP app on loopback: Locust starts (its argv has no moneypath option), and the options
reach the harness through the environment: the scenario's shape runs --users users for --duration seconds.
On the ticket shop's catalog and scenarios; one run of 5 s."""

from __future__ import annotations

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from moneypath import cli
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
FOREIGN = ROOT / "tests" / "foreign"
PLAIN = '''from locust import HttpUser, constant, task


class Buyer(HttpUser):
    wait_time = constant(0.2)

    @task
    def charge(self):
        self.client.post("/charges", json={"amount_minor": 500})
'''


class Charges(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = b'{"id": "ch_1"}'
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


@pytest.fixture
def app():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Charges)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_plain_locustfile_runs_with_moneypaths_options(app, tmp_path, monkeypatch, capsys):
    for name in ("MONEYPATH_TOKEN", "MONEYPATH_ADMIN_TOKEN", "MONEYPATH_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    locustfile = tmp_path / "their_locustfile.py"
    locustfile.write_text(PLAIN)
    code = cli.main(["loadtest", "checkout", "--locustfile", str(locustfile), "--scenario-file",
                     str(FOREIGN / "scenarios.yaml"), "--catalog", str(FOREIGN / "moneypath.yaml"), "--host", app,
                     "--no-auth", "--no-prometheus", "--users", "2", "--duration", "5", "--state-dir",
                     str(tmp_path / "state"), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "does not use PaymentUser" in out and "Traceback" not in err
    (report,) = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    result = json.loads((report / "result.json").read_text())
    assert [r["name"] for r in result["locust"]["by_name"]] == ["/charges"]
    assert result["locust"]["failures"] == 0 and result["locust"]["requests"] >= 20
    with (report / "locust" / "locust_stats_history.csv").open() as f:
        users = {int(row["User Count"]) for row in csv.DictReader(f)}
    assert max(users) == 2  # --users reached the scenario's shape through $MONEYPATH_USERS
