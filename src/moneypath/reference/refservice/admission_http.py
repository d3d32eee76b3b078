"""uvicorn's HTTP protocol with admission control decided as the headers are parsed: a refused request is
answered there and then, and never becomes a task.

Measured with benchmarks/bench_overload.py (3x saturation): refused in the ASGI middleware, each refusal still
cost the service a task, the scope, Starlette's middleware stack and uvicorn's response machinery (~126 µs of
the service's core each; at 2x saturation refused, a quarter of the core), and worse, every request waited in
the event loop's ready queue behind all the others before the middleware could count it, so a limit on
requests in flight did not bound that wait (admitted p99 4.4 s, clients timing out on admitted payments).
Here the count starts when the headers are in: what waits for the loop is what was admitted.

Run with `uvicorn.run(app, http=AdmittingHttpToolsProtocol)`; an app without `state.admission` (admission off)
gets uvicorn's own behaviour, but for one thing: a request uvicorn cannot parse is answered 400 with problem+json,
like every other refusal of the service, not uvicorn's plain text. A pipelined request (one sent before the
previous answer) and a protocol upgrade go the ordinary way, and the ASGI middleware decides for them.
"""

from __future__ import annotations

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from moneypath._common.problem import problem
from moneypath.reference.refservice.admission import ADMITTED, EXEMPT, Gate


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


class Releasing:
    """The app, giving back the admitted request's slot however it ends (answered, failed, cancelled). One per
    connection, holding nothing of a request: a closure over the request's cycle made each request a reference
    cycle (cycle -> closure -> cycle), and its scope, headers and FastAPI's exit stacks, ~20 objects a request,
    waited for the cyclic collector: a 50-70 ms collection every ~7 s at 150 authorizations/s and memory that
    grew between full collections."""

    def __init__(self, app, gate: Gate):
        self.app, self.gate = app, gate

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.release()


def find_gate(app) -> Gate | None:
    """The admission gate of the app uvicorn serves (under uvicorn's own wrappers, e.g. proxy headers)."""
    for _ in range(8):
        if app is None:
            return None
        state = getattr(app, "state", None)
        gate = getattr(state, "admission", None)
        if isinstance(gate, Gate):
            return gate
        app = getattr(app, "app", None)
    return None


class AdmittingHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = find_gate(self.app)
        self.releasing = Releasing(self.app, self.gate) if self.gate is not None else None

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
        if gate.admits(kind):
            gate.admit()
            self.scope["extensions"] = {ADMITTED: kind}
            super().on_headers_complete()
            return
        gate.refuse(kind)
        if gate.on_wire_refusal is not None:
            gate.on_wire_refusal(method)
        keep_alive = self.parser.should_keep_alive()
        server_headers = b"".join(b"%s: %s\r\n" % pair for pair in self.server_state.default_headers)
        self.transport.write(STATUS_LINE[503] + server_headers + gate.refusal_on_the_wire(keep_alive))
        self.cycle = ANSWERED
        if keep_alive:
            self.on_response_complete()  # what uvicorn does after any answer: count it, arm the keep-alive timer
        else:
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """What uvicorn answers a request it cannot parse (then it closes the connection), as problem+json."""
        response = problem(400, "malformed-request", "Malformed HTTP request",
                           f"{msg.rstrip('.')}: the bytes received are not an HTTP/1.1 request this service can read")
        headers = (*self.server_state.default_headers, *response.raw_headers, (b"connection", b"close"))
        self.transport.write(STATUS_LINE[400] + b"".join(b"%s: %s\r\n" % pair for pair in headers) + b"\r\n"
                             + response.body)
        self.transport.close()

    def _start_asgi_task(self, cycle, app) -> None:
        if ADMITTED in cycle.scope.get("extensions", ()):
            app = self.releasing
        super()._start_asgi_task(cycle, app)
