"""The fault proxy's answer to a request aiohttp cannot parse (moneypath.stack.faultproxy.parse_errors): which
status, and never the request's bytes. The real process gets the raw requests in
tests/integration/stack/test_faultproxy_process.py."""

from __future__ import annotations

import json

import pytest
from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, InvalidHeader, LineTooLong, TransferEncodingError

from moneypath.stack.faultproxy.parse_errors import parse_problem


@pytest.mark.parametrize(("exc", "status", "type_"), [
    (LineTooLong(b"/admin/faults?secret" + b"x" * 80 + b"...", 8190), 414, "uri-too-long"),  # C parser: the target
    (LineTooLong(b"GET /admin/faults?secret...", 8190), 414, "uri-too-long"),  # pure-Python parser: the line
    (LineTooLong(bytearray(b"http://proxy/secret..."), 8190), 414, "uri-too-long"),  # absolute form
    (LineTooLong(b"Bearer secret...", 8190), 431, "headers-too-large"),  # a header value
    (LineTooLong("X-secret-name...", 8190), 431, "headers-too-large"),  # a header name
    (BadHttpMessage("Too many headers received"), 431, "headers-too-large"),
    (InvalidHeader(b"secret without a colon"), 400, "malformed-request"),
    (BadStatusLine("secret / HTTP/9"), 400, "malformed-request"),
    (TransferEncodingError("Not enough data to satisfy transfer length header. secret"), 400, "malformed-request"),
])
def test_a_request_aiohttp_cannot_parse_is_a_problem_naming_the_limit_not_the_bytes(exc, status, type_):
    answer = parse_problem(exc)
    body = json.loads(answer.body)
    assert (answer.status, answer.content_type) == (status, "application/problem+json")
    assert body["status"] == status and body["type"] == f"https://moneypath.dev/problems/{type_}"
    assert "secret" not in answer.body.decode()
