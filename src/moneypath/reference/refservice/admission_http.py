"""uvicorn's HTTP protocol with admission control decided as the headers are parsed: a refused request is
answered there and then, and never becomes a task.

The count of requests in flight starts when the headers are in, so what waits for the event loop is only
what was admitted (a refusal in the ASGI middleware would still cost a task and wait in the loop's ready
queue behind everything else). Why: docs/decisions/0002-refuse-as-headers-are-parsed.md

Run with `uvicorn.run(app, http=AdmittingHttpToolsProtocol)`; an app without `state.admission` (admission off)
gets uvicorn's own behaviour, but for one thing: a request uvicorn cannot parse is answered 400 with problem+json,
like every other refusal of the service, not uvicorn's plain text. A pipelined request (one sent before the
previous answer) and a protocol upgrade go the ordinary way, and the ASGI middleware decides for them.

Two costs uvicorn pays per request are paid less often here, admission on or off: the keep-alive timer is armed
once per idle spell rather than re-armed after every answer, and a refusal's server headers are joined once a
second (when uvicorn replaces them).
"""

from __future__ import annotations

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from moneypath._common.problem import problem
from moneypath.reference.refservice.admission import ADMITTED, EXEMPT, KEYED, AdmissionGate, idempotency_key


class _Answered:
    """Stands in for the request cycle of a refused request: its body, if any follows, is dropped."""

    response_complete = True
    disconnected = False
    keep_alive = True

    class message_event:  # noqa: N801 - the attribute uvicorn sets when the connection is lost
        @staticmethod
        def set() -> None:
            pass


ANSWERED = _Answered()
# uvicorn's default headers (a list it replaces each second) and the same as bytes, shared by every connection.
_server_headers: tuple[list | None, bytes] = (None, b"")


class Releasing:
    """The app, giving back the admitted request's slot and its idempotency key's count however it ends
    (answered, failed, cancelled). One per connection, holding nothing of a request: a closure over the request's
    cycle would make each request a reference cycle, left for the cyclic collector with its scope and headers
    (docs/decisions/0008-heap-and-garbage-collector.md)."""

    def __init__(self, app, gate: AdmissionGate):
        self.app, self.gate = app, gate

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            extensions = scope["extensions"]
            if ADMITTED in extensions:
                self.gate.release()
            key = extensions.get(KEYED)
            if key is not None:
                self.gate.unkey(key)


def find_gate(app) -> AdmissionGate | None:
    """The admission gate of the app uvicorn serves (under uvicorn's own wrappers, e.g. proxy headers)."""
    for _ in range(8):
        if app is None:
            return None
        state = getattr(app, "state", None)
        gate = getattr(state, "admission", None)
        if isinstance(gate, AdmissionGate):
            return gate
        app = getattr(app, "app", None)
    return None


class AdmittingHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = find_gate(self.app)
        self.releasing = Releasing(self.app, self.gate) if self.gate is not None else None
        self._request_since_answer, self._answered_at = False, 0.0  # the keep-alive timer's (below)

    def on_headers_complete(self) -> None:
        gate = self.gate
        previous = self.cycle
        if gate is None or self.parser.should_upgrade() or (previous is not None and not previous.response_complete):
            super().on_headers_complete()
            return
        method = self.parser.get_method().decode("ascii")
        kind = gate.classify(method, httptools.parse_url(self.url).path.decode("ascii", "replace"))
        if kind == EXEMPT:
            super().on_headers_complete()
            return
        key = idempotency_key(self.headers)
        if key is not None and gate.admits_copy(key):
            self.scope["extensions"] = {KEYED: key}
            super().on_headers_complete()
            return
        if gate.admits(kind):
            gate.admit()
            if key is None:
                self.scope["extensions"] = {ADMITTED: kind}
            else:
                gate.key(key)
                self.scope["extensions"] = {ADMITTED: kind, KEYED: key}
            super().on_headers_complete()
            return
        gate.refuse_on_the_wire(kind, method)
        keep_alive = self.parser.should_keep_alive()
        self.transport.write(STATUS_LINE[503] + self._server_headers() + gate.refusal_on_the_wire(keep_alive))
        self.cycle = ANSWERED
        if keep_alive:
            self.on_response_complete()  # what uvicorn does after any answer: count it, arm the keep-alive timer
        else:
            self.transport.close()

    def _server_headers(self) -> bytes:
        """uvicorn's default headers as bytes, joined again only when uvicorn replaces them (each second: the date)."""
        global _server_headers
        headers, cached = self.server_state.default_headers, _server_headers  # one read: servers in threads share it
        if cached[0] is not headers:
            cached = _server_headers = (headers, b"".join(b"%s: %s\r\n" % pair for pair in headers))
        return cached[1]

    # The keep-alive timer, armed once per idle spell instead of once per answer. uvicorn cancels it on every read
    # and arms a new one (75 s) after every answer: a TimerHandle pushed into asyncio's heap (its comparisons in
    # Python) and one cancelled for the heap to sweep, per request. Here the timer stays armed and, when it fires,
    # closes the connection only if no request has begun since the last answer and it has been idle that long.
    # A request that has begun is not cut, however long it takes (uvicorn's rule too); bytes that are not a new
    # request (a refused request's body, arriving after the refusal) do not keep the connection open.

    def _unset_keepalive_if_required(self) -> None:
        """uvicorn cancels the timer here on every read and when the connection is lost: nothing to do (above)."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_since_answer = True

    def on_response_complete(self) -> None:
        """uvicorn's, but for the keep-alive timer: armed only if none is."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._answered_at = self.loop.time()
        self.flow.resume_reading()
        if self.pipeline:  # a request sent before this answer starts now: the connection stays busy
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._request_since_answer = False
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_at(self._answered_at + self.timeout_keep_alive,
                                                             self._keep_alive_expired)

    def _keep_alive_expired(self) -> None:
        self.timeout_keep_alive_task = None
        # Set as any request begins and cleared only once the connection has answered everything it was sent (a
        # pipelined request keeps it set), so it covers a request in flight as well as one whose headers are coming.
        if self._request_since_answer:
            return  # a request has begun since the last answer: armed again at its answer
        idle_until = self._answered_at + self.timeout_keep_alive
        if self.loop.time() < idle_until:  # answered again since the timer was armed
            self.timeout_keep_alive_task = self.loop.call_at(idle_until, self._keep_alive_expired)
            return
        self.timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def send_400_response(self, msg: str) -> None:
        """What uvicorn answers a request it cannot parse (then it closes the connection), as problem+json."""
        response = problem(400, "malformed-request", "Malformed HTTP request",
                           f"{msg.rstrip('.')}: the bytes received are not an HTTP/1.1 request this service can read")
        headers = (*self.server_state.default_headers, *response.raw_headers, (b"connection", b"close"))
        self.transport.write(STATUS_LINE[400] + b"".join(b"%s: %s\r\n" % pair for pair in headers) + b"\r\n"
                             + response.body)
        self.transport.close()

    def _start_asgi_task(self, cycle, app) -> None:
        extensions = cycle.scope.get("extensions", ())
        if ADMITTED in extensions or KEYED in extensions:
            app = self.releasing
        super()._start_asgi_task(cycle, app)
