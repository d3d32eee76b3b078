"""Admission decided in uvicorn's HTTP protocol (admission_http.py): a refused request is answered as its headers
are parsed and never reaches the app; the connection stays usable; the refusal is counted; what the
protocol admits is released however it ends; an idle connection is closed as uvicorn would, its timer armed once."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from contextlib import contextmanager

import uvicorn
from prometheus_client import CollectorRegistry

from moneypath.catalog import OTHER
from moneypath.catalog.conventions import Key
from moneypath.instrument import MoneyPath
from moneypath.reference.refservice.admission import LagLimit
from moneypath.reference.refservice.admission_http import AdmittingHttpToolsProtocol
from moneypath.reference.refservice.app import ServiceConfig, create_app
from tests.conftest import ROOT, free_port, wait_for


class Counting:
    """The app as uvicorn sees it, counting what reaches it (as uvicorn's own wrappers do, it has `.app`)."""

    def __init__(self, app):
        self.app, self.calls = app, []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.calls.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@contextmanager
def serving(app, keep_alive_s: float = 5):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                                           http=AdmittingHttpToolsProtocol, timeout_keep_alive=keep_alive_s))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 10, "the service", interval_s=0.02)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_refusal_is_answered_from_the_headers_and_the_connection_goes_on(tmp_path):
    mp = MoneyPath.from_catalog(ROOT / "moneypath.yaml", registry=CollectorRegistry())
    service = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=b"s" * 32,
                                       provider_url="http://127.0.0.1:9", background_jobs=False), mp=mp)
    gate = service.state.admission
    gate.limiter = LagLimit(limit=0, min_limit=0, max_limit=0)  # nothing new fits; a critical request still does
    app = Counting(service)
    with serving(app) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps({"amount_minor": 1000, "currency": "EUR"})
        for _ in range(2):  # a body follows the refused headers: it is dropped, and the next request is read whole
            conn.request("POST", "/v1/payments/authorize", body=body,
                         headers={"content-type": "application/json", "idempotency-key": "k-1"})
            refused = conn.getresponse()
            payload = json.loads(refused.read())
            assert refused.status == 503 and refused.getheader("retry-after") == "1"
            assert refused.getheader("content-type") == "application/problem+json"
            assert payload["type"].endswith("/overloaded") and payload["status"] == 503
            assert not refused.will_close
        conn.request("GET", "/healthz")  # the same connection: never limited
        health = conn.getresponse()
        health.read()
        assert health.status == 200
        conn.request("POST", "/v1/payments/pay_missing/capture", headers={"idempotency-key": "c-1"})
        captured = conn.getresponse()
        captured.read()
        assert captured.status != 503  # money in motion gets in above the limit
        assert ("POST", "/v1/payments/authorize") not in app.calls  # refused before it reached the app
        assert ("POST", "/v1/payments/pay_missing/capture") in app.calls
        wait_for(lambda: gate.in_flight == 0, 5, "the admitted capture released", interval_s=0.01)

        closing = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        closing.request("POST", "/v1/payouts", body="{}", headers={"connection": "close"})
        answer = closing.getresponse()
        answer.read()
        assert answer.status == 503 and answer.will_close
        conn.close()
        closing.close()

    shed = mp.catalog.metric(Key.REQUESTS_SHED_TOTAL)
    assert mp.registry.get_sample_value(shed, {"priority": "normal"}) == 3
    assert gate.refused == {"critical": 0, "normal": 3}
    requests = mp.registry.get_sample_value(mp.catalog.metric(Key.HTTP_REQUESTS_TOTAL),
                                            {"route": OTHER, "method": "POST", "status_class": "5xx"})
    assert requests == 3  # counted like any answer, though no middleware saw it (and kept out of the latency histogram)
    timed = mp.registry.get_sample_value(mp.catalog.metric(Key.HTTP_REQUEST_DURATION_SECONDS) + "_count",
                                         {"route": OTHER, "method": "POST"})
    assert not timed  # nothing timed them


def test_an_admitted_request_leaves_no_reference_cycle(tmp_path):
    """Each request's objects are freed by their reference counts: a cycle per request (a closure over the request
    kept by the request) left them all to the cyclic collector, whose pauses and memory grew with the load."""
    import gc

    mp = MoneyPath.from_catalog(ROOT / "moneypath.yaml", registry=CollectorRegistry())
    service = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=b"s" * 32,
                                       provider_url="http://127.0.0.1:9", background_jobs=False), mp=mp)
    with serving(service) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(3):  # warm: what the first requests build once (routes, caches) is not per request
            conn.request("POST", f"/v1/payments/pay_{i}/capture", headers={"idempotency-key": f"w-{i}"})
            conn.getresponse().read()
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for i in range(20):
                conn.request("POST", f"/v1/payments/pay_{i}/capture", headers={"idempotency-key": f"c-{i}"})
                conn.getresponse().read()
            wait_for(lambda: service.state.admission.in_flight == 0, 5, "the requests released", interval_s=0.01)
            gc.collect()
            cycles = [o for o in gc.garbage if type(o).__name__ == "RequestResponseCycle"]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        conn.close()
    assert cycles == []


def test_a_request_uvicorn_cannot_parse_is_answered_with_problem_json_admission_on_or_off(tmp_path):
    """uvicorn's own answer is plain text ("Invalid HTTP request received."); every other refusal of the service is
    problem+json, so a client reading problems reads this one too."""
    for admission in (True, False):
        service = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / f'{admission}.db'}", token_secret=b"s" * 32,
                                           provider_url="http://127.0.0.1:9", background_jobs=False,
                                           admission=admission),
                             mp=MoneyPath.from_catalog(ROOT / "moneypath.yaml", registry=CollectorRegistry()))
        with serving(service) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /v1/payments/authorize HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):  # the service closes the connection after it
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        assert lines[0] == "HTTP/1.1 400 Bad Request", admission
        assert headers["content-type"] == "application/problem+json" and headers["connection"] == "close"
        assert int(headers["content-length"]) == len(body)
        problem = json.loads(body)
        assert problem["type"].endswith("/malformed-request") and problem["status"] == 400
        assert problem["detail"].startswith("Invalid HTTP request received")


def _answer(sock: socket.socket, path: str) -> bytes:
    """One GET on a raw keep-alive connection: the answer's status line."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"ok"):
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before the answer to {path}"
        answer += chunk
    return answer.split(b"\r\n", 1)[0]


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    finally:
        sock.settimeout(10)


def _fast_and_slow():
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def fast(request):
        return PlainTextResponse("ok")

    async def slow(request):
        await asyncio.sleep(2.0)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/fast", fast), Route("/slow", slow)])


def test_a_connection_is_closed_once_idle_for_the_keep_alive_time_since_its_last_answer_and_never_while_busy():
    """The keep-alive timer is armed once per idle spell, not after every answer (uvicorn re-arms it each time):
    answered again before it fires, the connection gets the full time from that answer; a request still running
    when it fires is not cut, and the time counts from its answer."""
    keep_alive_s = 1.0
    with serving(_fast_and_slow(), keep_alive_s) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            assert _answer(sock, "/fast") == b"HTTP/1.1 200 OK"
            time.sleep(0.6)
            assert _answer(sock, "/fast") == b"HTTP/1.1 200 OK"
            time.sleep(0.6)  # 1.2 s after the first answer, 0.6 s after the last: still open
            assert _answer(sock, "/fast") == b"HTTP/1.1 200 OK"
            assert not _closed_within(sock, 0.5)
            assert _closed_within(sock, 3.0)  # idle past its time: closed
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            assert _answer(sock, "/fast") == b"HTTP/1.1 200 OK"
            assert _answer(sock, "/slow") == b"HTTP/1.1 200 OK"  # the timer fired meanwhile; the request went on
            assert not _closed_within(sock, 0.5)
            assert _closed_within(sock, 3.0)


def test_a_pipelined_request_running_when_the_keep_alive_timer_fires_is_not_cut():
    """Sent before the answer to the one ahead of it, a request starts at that answer: the connection is busy, and
    the timer armed after an earlier answer, firing meanwhile, leaves it be."""
    with serving(_fast_and_slow(), 1.0) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert _answer(sock, "/fast") == b"HTTP/1.1 200 OK"  # arms the timer
        time.sleep(0.5)
        sock.sendall(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        answers = b""
        while answers.count(b"HTTP/1.1 200 OK") < 2 or not answers.endswith(b"ok"):
            chunk = sock.recv(65536)
            assert chunk, f"the connection closed with the pipelined request unanswered: {answers!r}"
            answers += chunk
        assert _closed_within(sock, 3.0)


def test_a_refused_requests_body_arriving_after_the_refusal_does_not_keep_the_connection_open(tmp_path):
    """Refused as its headers are parsed, a request's body may come in a later read (clients send it apart): those
    bytes are not a new request, and the connection, idle after them, is closed in its keep-alive time."""
    service = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=b"s" * 32,
                                       provider_url="http://127.0.0.1:9", background_jobs=False),
                         mp=MoneyPath.from_catalog(ROOT / "moneypath.yaml", registry=CollectorRegistry()))
    service.state.admission.limiter = LagLimit(limit=0, min_limit=0, max_limit=0)
    body = json.dumps({"amount_minor": 1000, "currency": "EUR"}).encode()
    with serving(service, 1.0) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /v1/payments/authorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Idempotency-Key: k-1\r\nContent-Length: %d\r\n\r\n" % len(body))
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 503")
        sock.sendall(body)
        assert _closed_within(sock, 3.0)
