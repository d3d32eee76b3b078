"""`up --target` on a service still booting: the alert rules wait for its first scrape, so AuthorizationsSilent
(`absent()` of authorizations, `for: 2m`: 10 s at --time-factor 60) does not page while it boots; once it answers
the rules are on, and the same service going away pages."""

from __future__ import annotations

import http.server
import threading
import time

import httpx
import pytest

from moneypath.stack import local as stack
from tests.conftest import free_port, wait_for

pytestmark = pytest.mark.integration

BOOT_S = 15  # the service answers this long after `up` starts: past the compressed `for` (10 s, its floor)


class Metrics(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_no_page_while_the_target_boots_then_its_absence_pages(catalog, tmp_path):
    port = free_port()
    Metrics.body = f'{catalog.metric("authorizations_total")}{{outcome="approved"}} 3\n'.encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Metrics)
    serving = threading.Event()

    def serve():
        serving.set()
        server.serve_forever()

    booted = threading.Timer(BOOT_S, serve)
    booted.start()
    lines: list[str] = []
    silent = catalog.alert_name("AuthorizationsSilent")
    started = time.monotonic()
    try:
        state = stack.up(catalog, tmp_path / "stack", stack.StackSpec([f"127.0.0.1:{port}"], fast=True,
                                                                      time_factor=60, target_wait_s=60),
                         progress=lines.append)
        assert time.monotonic() - started >= BOOT_S
        assert f"waiting for 127.0.0.1:{port} to answer its first scrape (0 s; not scraped yet)" in lines or \
            f"waiting for 127.0.0.1:{port} to answer its first scrape (0 s; connection refused)" in lines, lines
        assert any(line.startswith(f"127.0.0.1:{port} answered its first scrape after ") for line in lines), lines
        assert lines[-1].startswith("alert rules on after ")
        rules = httpx.get(f"{state.url('prometheus')}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert silent in {r["name"] for g in rules for r in g["rules"]}

        pages = f"{state.url('pager')}/pages"
        time.sleep(5)  # a page pending since the start would have fired and reached the pager by now
        assert [p["alertname"] for p in httpx.get(pages, params={"event": "firing"}, timeout=5).json()] == []

        server.shutdown()  # the service goes away: its series go stale, and that pages
        wait_for(lambda: httpx.get(pages, params={"alertname": silent, "status": "firing"}, timeout=5).json(), 30,
                 f"{silent} to page once the service is gone")
    finally:
        booted.cancel()
        if serving.is_set():
            server.shutdown()
        server.server_close()
        stack.down(tmp_path / "stack", progress=lambda *_: None)
