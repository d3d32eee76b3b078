"""Requests aiohttp cannot parse, answered as problem+json like every other refusal of the proxy.

aiohttp answers a request it cannot parse (a header field over MAX_FIELD_BYTES, more than MAX_HEADERS
fields, a request line over MAX_LINE_BYTES, bad syntax or chunking) before any handler or middleware
runs, in plain text that echoes up to 100 bytes of the offending line (an oversized Authorization
header's token). It has no hook for that answer (aio-libs/aiohttp#3287, open since 2018): its
RequestHandler.handle_error renders it. So the proxy serves with a RequestHandler whose handle_error
answers 431, 414 or 400 problem+json and logs one line without the bytes. RequestHandler, Server and
handle_error are aiohttp's public names; AppRunner._make_server is the one private method overridden
(aiohttp is pinned in constraints.txt, and tests/integration/stack/test_faultproxy_process.py sends
such requests to the real process).
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from moneypath.stack.faultproxy.responses import problem

log = logging.getLogger("moneypath.faultproxy")

# aiohttp's own defaults, passed explicitly (Application handler_args) so the problems can say them.
MAX_LINE_BYTES = 8190
MAX_FIELD_BYTES = 8190
MAX_HEADERS = 128
LIMITS = {"max_line_size": MAX_LINE_BYTES, "max_field_size": MAX_FIELD_BYTES, "max_headers": MAX_HEADERS}

# LineTooLong does not say which line: the request target (C parser) or request line (pure-Python parser)
# starts like this, a header name or value almost never does.
_REQUEST_LINE = re.compile(rb"(?:[A-Z]+ )?(?:/|\*|[A-Za-z][A-Za-z0-9+.-]*://)")


def parse_problem(exc: HttpProcessingError) -> web.Response:
    """The problem for a request aiohttp refused to parse; names the limit, never echoes the bytes."""
    if isinstance(exc, LineTooLong):
        line = exc.args[0] if exc.args else b""
        line = line.encode("latin-1", "replace") if isinstance(line, str) else bytes(line)
        if _REQUEST_LINE.match(line):
            return problem(414, "uri-too-long", "URI too long",
                           f"the request line is longer than {MAX_LINE_BYTES} bytes")
        return _headers_too_large()
    if "Too many headers" in exc.message:
        return _headers_too_large()
    return problem(400, "malformed-request", "Malformed request",
                   f"the request is not valid HTTP/1.1 ({type(exc).__name__})")


def _headers_too_large() -> web.Response:
    return problem(431, "headers-too-large", "Request header fields too large",
                   f"a header field is limited to {MAX_FIELD_BYTES} bytes and a request to {MAX_HEADERS} fields")


class ProblemRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, but a request it cannot parse gets parse_problem."""

    __slots__ = ()

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):  # a handler failed or timed out: aiohttp logs it
            plain = super().handle_error(request, status, exc, message)
            answer = problem(plain.status, "internal-error", "Internal error", "the fault proxy failed; see its log")
        else:
            # One line, without the request's bytes (they may hold a token); no traceback: nothing broke.
            log.info("refused a malformed request from %s: %s", request.remote, type(exc).__name__)
            if request.writer.output_size > 0:  # as aiohttp: an answer was started, the connection is broken
                raise ConnectionError("a response was sent already; cannot send the parse error")
            answer = parse_problem(exc)
        answer.force_close()  # the parser's state is unknown: no keep-alive after it
        return answer


class ProblemServer(web.Server):
    def __call__(self) -> web.RequestHandler:  # the protocol factory: one handler per connection
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class ProblemRunner(web.AppRunner):
    """web.AppRunner whose connections are handled by ProblemRequestHandler."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return ProblemServer(server.request_handler, request_factory=server.request_factory,
                             handler_cancellation=server.handler_cancellation, loop=server._loop, **server._kwargs)
