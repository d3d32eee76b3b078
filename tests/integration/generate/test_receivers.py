"""Production receivers for real: the real Alertmanager runs the generated production config, its PagerDuty,
Opsgenie, Slack and webhook receivers pointed at a capture server on 127.0.0.1 with their secrets in temporary
files; alerts shaped like the generated rules fire and resolve, and every payload is checked against the
vendor's documented schema and limits (receiver_schemas.py). On the reference catalog (PagerDuty, incident.io
webhook, Slack) and the ticket shop's (Opsgenie, PagerDuty EU, Slack plus a webhook)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml

from moneypath.catalog import Catalog, parse_catalog
from moneypath.generate import build
from moneypath.generate.receiver_blocks import OPSGENIE_PRIORITY, PAGERDUTY_SEVERITY
from moneypath.generate.routing import FAST, render_alertmanager
from moneypath.generate.rules import alert_rules
from tests.conftest import CATALOG_PATH, FOREIGN_PATH, ROOT, free_port, stop_process, wait_for
from tests.integration.generate import receiver_schemas as schemas
from tests.loopback_http import LoopbackServer, QuietHandler


class Capture(LoopbackServer):
    """An HTTP server on 127.0.0.1 that keeps every POST: path, headers and JSON body."""

    def __init__(self):
        self.requests: list[dict] = []
        capture = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                capture.requests.append({"path": self.path, "headers": dict(self.headers.items()),
                                         "body": json.loads(body)})
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        super().__init__(Handler)

    def at(self, prefix: str) -> list[dict]:
        return [r for r in self.requests if r["path"].startswith(prefix)]


def amtool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("amtool"), *args], capture_output=True, text=True, timeout=60)


def pointed_at(base: Path, capture_url: str, secret_dir: Path) -> tuple[Catalog, dict[str, str]]:
    """The catalog with each declared delivery aimed at the capture server and each secret in a fresh file:
    the same kinds and options, other endpoints. Returns the catalog and the secret of each receiver."""
    data = yaml.safe_load(base.read_text())
    secret_of: dict[str, str] = {}

    def secret_file(name: str, value: str, end: str = "\n") -> str:
        path = secret_dir / name
        path.write_text(value + end)  # Alertmanager trims the newline a file usually ends with…
        return str(path)

    for name, receiver in data["receivers"].items():
        token = secret_of[name] = f"s3cret-{name}-{secrets.token_hex(8)}"
        if "pagerduty" in receiver:
            receiver["pagerduty"] = {"routing_key_file": secret_file(f"pd-{name}", token),
                                     "url": f"{capture_url}/pagerduty/{name}/v2/enqueue"}
        if "opsgenie" in receiver:
            # …but for Opsgenie's key before 0.28.1 (alertmanager#4195): with it, the header is invalid and nothing sent.
            receiver["opsgenie"] = {"api_key_file": secret_file(f"og-{name}", token, end=""),
                                    "api_url": f"{capture_url}/opsgenie/{name}/"}
        if "slack" in receiver:  # the hook URL is the credential: the secret rides in it
            receiver["slack"] = {**receiver["slack"], "api_url_file": secret_file(
                f"slack-{name}", f"{capture_url}/slack/{name}/{token}")}
        if "webhook" in receiver:
            hook = receiver["webhook"]
            receiver["webhook"] = {"url": f"{capture_url}/webhook/{name}/",
                                   "send_resolved": hook.get("send_resolved", True),
                                   "credentials_file": secret_file(f"wh-{name}", token)}
    data["watchdog"]["webhook"] = {"url": f"{capture_url}/watchdog"}
    catalog = secret_dir.parent / "moneypath.yaml"
    catalog.write_text(yaml.safe_dump(data, sort_keys=False))
    return parse_catalog(catalog.read_text(), str(catalog)), secret_of


def rule(c: Catalog, key: str) -> dict:
    name = c.alert_name(key)
    return next(r for g in alert_rules(c)["groups"] for r in g["rules"] if r["alert"] == name)


def as_posted(c: Catalog, r: dict, extra: dict[str, str], resolved: bool = False, **annotations) -> dict:
    """A generated rule as Prometheus would send it firing (its Go templates filled with a sample)."""
    filled = {k: re.sub(r"\{\{.*?\}\}", "42", v) for k, v in r["annotations"].items()}
    alert = {"labels": {"alertname": r["alert"], **r["labels"], **extra}, "annotations": {**filled, **annotations},
             "generatorURL": "http://127.0.0.1:9090/graph"}
    if resolved:
        alert["endsAt"] = datetime.now(UTC).isoformat()
    return alert


@pytest.fixture
def alertmanager(tmp_path):
    """Starts Alertmanager on a config file it is given; stops it after the test."""
    procs = []

    def start(config: Path) -> str:
        port = free_port()
        proc = subprocess.Popen([shutil.which("prometheus-alertmanager") or shutil.which("alertmanager"),
                                 f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                                stdout=subprocess.DEVNULL, stderr=(tmp_path / "am.log").open("wb"))
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ready(url), 30, "Alertmanager to start")
        return url

    yield start
    for proc in procs:
        stop_process(proc)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def validate(kind: str, request: dict) -> None:
    schema = {"pagerduty": schemas.PAGERDUTY_EVENT, "slack": schemas.SLACK_MESSAGE, "webhook": schemas.WEBHOOK_V4,
              "watchdog": schemas.WEBHOOK_V4,
              "opsgenie": schemas.OPSGENIE_CLOSE if request["path"].split("?")[0].endswith("/close")
              else schemas.OPSGENIE_CREATE}[kind]
    jsonschema.validate(request["body"], schema)


@pytest.mark.parametrize("base", [CATALOG_PATH, FOREIGN_PATH], ids=["reference", "foreign"])
def test_every_receiver_delivers_a_valid_payload_with_its_secret_from_a_file(base, tmp_path, alertmanager):
    (tmp_path / "secrets").mkdir()
    with Capture() as capture:
        c, secret_of = pointed_at(base, capture.url, tmp_path / "secrets")
        config = tmp_path / "alertmanager.yml"
        config.write_text(render_alertmanager(c, timings=FAST, production=True))
        check = amtool("check-config", str(config))
        assert check.returncode == 0, check.stdout + check.stderr
        for path in (config, Path(c.path)):  # the generated config and the catalog name files, never secrets
            text = path.read_text()
            assert not [s for s in secret_of.values() if s in text], path
        url = alertmanager(config)

        money, page = rule(c, "LedgerImbalance"), rule(c, "ProviderPartialOutage")
        ticket = next(r for g in alert_rules(c)["groups"] for r in g["rules"]
                      if r["labels"].get("severity") == "ticket" and "money_loss" not in r["labels"])
        long_summary = "Provider errors on every authorization " * 80  # 3,120 characters: over every limit
        alerts = [(money, {"currency": c.currencies[0]}, {}),
                  (page, {"provider": next(iter(c.providers))}, {"summary": long_summary}),
                  (ticket, {}, {}),
                  (rule(c, "Watchdog"), {}, {})]
        post = [as_posted(c, r, extra, **ann) for r, extra, ann in alerts]
        httpx.post(f"{url}/api/v2/alerts", json=post, timeout=5).raise_for_status()

        # Who gets what: the catalog's routes, each receiver by every delivery it declares.
        expected = {(kind, name) for name, receiver in c.receivers.items() for kind in receiver.declared()
                    if name in {*c.routes.money_loss, c.routes.page, c.routes.ticket}}
        def delivered() -> set[tuple[str, str]]:
            return {tuple(r["path"].split("/")[1:3]) for r in capture.requests if r["path"] != "/watchdog"}

        wait_for(lambda: delivered() >= expected, 60, f"deliveries to {sorted(expected)}")
        wait_for(lambda: capture.at("/watchdog"), 30, "the heartbeat")
        firing = list(capture.requests)

        resolve = [as_posted(c, r, extra, resolved=True, **ann) for r, extra, ann in alerts[:3]]
        httpx.post(f"{url}/api/v2/alerts", json=resolve, timeout=5).raise_for_status()
        resolved_expected = {(kind, name) for kind, name in expected
                             if not (kind == "webhook" and not c.receivers[name].webhook.send_resolved)}
        wait_for(lambda: {(kind, name) for kind, name in resolved_expected
                          if any(_is_resolve(kind, r) for r in capture.at(f"/{kind}/{name}/"))} == resolved_expected,
                 60, "every resolve")

    for request in capture.requests:
        validate(request["path"].split("/")[1], request)
    for name, receiver in c.receivers.items():
        routed = {r["alert"]: r for r, _, _ in alerts if name in _receivers_for(c, r["labels"])}
        for kind in receiver.declared():
            got = capture.at(f"/{kind}/{name}/")
            assert got, (kind, name)
            check_delivery(c, kind, got, secret_of[name], routed)
    # The money-loss group reaches its receivers by one route key, so PagerDuty's dedup_key, Opsgenie's alias and
    # the SHA-256 of the webhook's groupKey are one value: the same incident in every tool.
    keys = [_incident_keys(capture, name) for name in c.routes.money_loss]
    assert all(keys) and set.intersection(*keys), keys
    heartbeat = capture.at("/watchdog")
    assert all(r["body"]["status"] == "firing" for r in heartbeat)  # the switch never gets a resolve
    assert {a["labels"]["alertname"] for r in heartbeat for a in r["body"]["alerts"]} == {c.alert_name("Watchdog")}
    assert not [r for r in firing if r["path"] != "/watchdog" and c.alert_name("Watchdog") in json.dumps(r["body"])]


def _incident_keys(capture: Capture, name: str) -> set[str]:
    return ({r["body"]["dedup_key"] for r in capture.at(f"/pagerduty/{name}/")}
            | {r["body"]["alias"] for r in capture.at(f"/opsgenie/{name}/") if "alias" in r["body"]}
            | {hashlib.sha256(r["body"]["groupKey"].encode()).hexdigest() for r in capture.at(f"/webhook/{name}/")})


def _receivers_for(c: Catalog, labels: dict) -> set[str]:
    if labels.get("money_loss") == "true":
        return set(c.routes.money_loss)
    return {c.routes.page} if labels.get("severity") == "page" else {c.routes.ticket}


def _is_resolve(kind: str, request: dict) -> bool:
    body = request["body"]
    return {"pagerduty": lambda: body["event_action"] == "resolve",
            "opsgenie": lambda: request["path"].split("?")[0].endswith("/close"),
            "slack": lambda: body["attachments"][0]["title"].startswith("[RESOLVED]"),
            "webhook": lambda: body["status"] == "resolved"}[kind]()


def check_delivery(c: Catalog, kind: str, requests: list[dict], secret: str, routed: dict[str, dict]) -> None:
    """What each vendor needs beyond its schema: the secret from its file, the runbook and dashboard links, the
    severity mapping, a dedup key that stays the same from trigger to resolve. `routed`: alertname → rule."""
    runbooks = {r["annotations"]["runbook_url"] for r in routed.values()}
    severity = {name: r["labels"]["severity"] for name, r in routed.items()}
    if kind == "pagerduty":
        by_key: dict[str, set[str]] = {}
        for r in requests:
            body = r["body"]
            assert body["routing_key"] == secret
            assert re.fullmatch(r"[0-9a-f]{64}", body["dedup_key"])  # sha256 of the group key: stable, bounded
            by_key.setdefault(body["dedup_key"], set()).add(body["event_action"])
            if body["event_action"] == "trigger":
                payload = body["payload"]
                assert payload["source"] == c.service
                assert payload["severity"] == PAGERDUTY_SEVERITY[severity[payload["class"]]]
                assert len(payload["summary"]) <= 1024 and payload["summary"].startswith(payload["class"])
                assert {link["href"] for link in body["links"] if link["text"] == "runbook"} <= runbooks
                assert payload["custom_details"]["runbook_url"] in runbooks
                assert payload["custom_details"]["dashboard_url"].startswith(c.links.dashboard_base_url)
        assert all(actions == {"trigger", "resolve"} for actions in by_key.values()), by_key
    elif kind == "opsgenie":
        aliases = {}
        for r in requests:
            assert r["headers"]["Authorization"] == f"GenieKey {secret}"
            if r["path"].split("?")[0].endswith("/close"):
                aliases[r["path"].split("/")[-2]] = "closed"
                assert r["path"].endswith("?identifierType=alias")
                continue
            body = r["body"]
            assert body["priority"] == OPSGENIE_PRIORITY[severity[body["message"].split(":")[0]]]
            assert len(body["alias"]) == 64 and body["source"] == c.service
            assert body["details"]["runbook_url"] in runbooks and body["details"]["runbook_url"] in body["description"]
            aliases.setdefault(body["alias"], "open")
        assert set(aliases.values()) == {"closed"}, aliases  # every alert created is closed by the same alias
    elif kind == "slack":
        for r in requests:
            assert r["path"].endswith(f"/{secret}")  # the hook URL came from api_url_file
            [attachment] = r["body"]["attachments"]
            assert attachment["title_link"] in runbooks and f"<{attachment['title_link']}|runbook>" in attachment["text"]
            assert len(attachment["title"]) <= 1024
    elif kind == "webhook":
        for r in requests:
            assert r["headers"]["Authorization"] == f"Bearer {secret}"
            body = r["body"]
            assert body["commonAnnotations"]["runbook_url"] in runbooks
            assert body["commonAnnotations"]["dashboard_url"].startswith(c.links.dashboard_base_url)


@pytest.mark.parametrize("base", [CATALOG_PATH, FOREIGN_PATH], ids=["reference", "foreign"])
def test_amtool_accepts_the_production_config(base, tmp_path):
    """The committed one (reference) and the one the ticket shop's catalog generates."""
    if base == CATALOG_PATH:
        config = ROOT / build.PRODUCTION_ALERTMANAGER
    else:
        config = tmp_path / "alertmanager.production.yml"
        config.write_text(build.rule_artifacts(parse_catalog(base.read_text(), str(base)))[build.PRODUCTION_ALERTMANAGER])
    result = amtool("check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pagerduty" in config.read_text() and "slack_configs" in config.read_text()
