"""MoneyPath's web methods: HTTP requests by route template and GraphQL operations by name.

`record_http`, `count_http` and `record_graphql_operation` report a label value outside the catalog as every
recording method does (counted, logged once, "other"). The framework integrations (the ASGI, WSGI and Django
middlewares, Flask, Quart, aiohttp, the GraphQL extensions) call `record_request` and `graphql_operation_label`,
which fold what the framework gives into "other" first. A request the framework matched to no route (a scanner's
/wp-login.php), a HEAD or a client's ad-hoc query is "other" quietly. A route the framework matched that the
catalog does not declare is "other" too, counted once as an instrumentation error and logged once with the catalog
key to add it under (`FailurePath._undeclared_route`; after that a set lookup per request). When the catalog does
declare what it was and the integration did not see it (a raw path that fits a declared route template, a
request without any route information from its framework, an operation whose root field is a declared operation
name), that is an instrumentation bug: counted each time and logged once (`FailurePath._unmatched`).
"""

from __future__ import annotations

import math
import re
from typing import Any

from moneypath.catalog import OTHER
from moneypath.catalog.conventions import Key
from moneypath.instrument import _families as families

_INF = math.inf
_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
_PARAM = re.compile(r"\{[^{}/]+\}")


def template_pattern(template: str) -> re.Pattern:
    """A route template (`/orders/{order_id}`) as an anchored regex over raw paths: a parameter is one segment."""
    parts = _PARAM.split(template)
    return re.compile("[^/]+".join(re.escape(part) for part in parts) + r"\Z")


class WebSignals:
    """Mixed into MoneyPath; `_bind_web` is called from its __init__ with the bound families."""

    _observe: Any
    _failed: Any
    _unmatched: Any
    _undeclared_route: Any
    _undeclared_routes: set[str]

    def _bind_web(self, f: dict) -> None:
        self._http_total = f[Key.HTTP_REQUESTS_TOTAL]
        self._http_seconds = f[Key.HTTP_REQUEST_DURATION_SECONDS]
        self.declared_routes = frozenset(self._http_total.signal.labels["route"])
        self.declared_methods = frozenset(self._http_total.signal.labels["method"])
        # Literal routes first: /orders/new is itself, not /orders/{order_id}.
        ordered = sorted(self.declared_routes, key=lambda t: ("{" in t, t))
        self._route_patterns = [(template_pattern(t), t) for t in ordered]
        self._gql_total = f.get(Key.GRAPHQL_OPERATIONS_TOTAL)
        self._gql_seconds = f.get(Key.GRAPHQL_OPERATION_DURATION_SECONDS)
        self.declared_operations = (frozenset(self._gql_total.signal.labels["operation"])
                                    if self._gql_total is not None else frozenset())
        self._gql_folded = {name.casefold(): name for name in self.declared_operations}
        self._gql_pairs: dict[tuple, tuple] = {}

    # ------------------------------------------------------------ HTTP

    def record_http(self, route: str, method: str, status: int, seconds: float) -> None:
        try:
            self._http_total.child((route, method, _STATUS_CLASS.get(status // 100, "5xx"))).inc()
            self._observe(self._http_seconds, (route, method), seconds)
        except Exception:
            self._failed("record_http")

    def count_http(self, route: str, method: str, status: int, count: int = 1) -> None:
        """`count` answers that no timer saw, counted with every other answer (http_requests_total) and kept out
        of the latency histogram: e.g. a server's refusals as the headers are parsed, tallied and recorded now
        and then, whose time was never measured."""
        try:
            if not 0 <= count < _INF:
                raise ValueError("counters only go up by finite amounts")
            self._http_total.child((route, method, _STATUS_CLASS.get(status // 100, "5xx"))).inc(count)
        except Exception:
            self._failed("count_http")

    def record_request(self, route: str | None, path: str, method: str, status: int, seconds: float,
                       routed: bool = True) -> None:
        """What a middleware records for one request: `route` the framework's template (None when it matched
        none), `path` the raw path, `routed` False when the framework gives no route information at all. A route
        the catalog does not declare is "other"; see the module docstring for when that is counted as an error."""
        if route is None or route not in self.declared_routes:
            if route is None or route not in self._undeclared_routes:  # an undeclared route: reported once
                try:
                    self._route_unmatched(route, path, routed)
                except Exception:
                    self._failed("record_request")
            route = OTHER
        if method not in self.declared_methods:  # the framework's (a HEAD, an OPTIONS): "other", no mistake
            method = OTHER
        self.record_http(route, method, status, seconds)

    def declared_route_for(self, path: str) -> str | None:
        """The declared route template a raw path fits, if any."""
        for pattern, template in self._route_patterns:
            if pattern.match(path):
                return template
        return None

    def _route_unmatched(self, route: str | None, path: str, routed: bool) -> None:
        declared = self.declared_route_for(path)
        if not routed:
            what = f"route {declared} is declared but" if declared else "for every request"
            self._unmatched(("route", declared, routed),
                            f"{what} the middleware saw no route information (Starlette, FastAPI and Litestar give "
                            "it): for another framework pass route_name= (a callable returning the request's route "
                            "template) to the middleware, and use moneypath.instrument.django's middleware for "
                            "Django; recorded as other")
        elif declared is not None:
            self._unmatched(("route", declared, route),
                            f"route {declared} is declared and the request's path fits it, but the framework "
                            f"matched {route or 'no route'}: declare that template or fix the catalog's; recorded "
                            "as other")
        elif route is not None:
            self._undeclared_route(route)

    # ------------------------------------------------------------ GraphQL (feature graphql)

    def record_graphql_operation(self, operation: str, outcome: str, seconds: float) -> None:
        """One GraphQL operation by its declared name (or "other"): outcome ok, error (the answer's errors name
        it) or rejected (its payload's user-errors list was not empty); its latency."""
        try:
            if not 0.0 <= seconds < _INF:
                raise ValueError("latency must be a finite, non-negative number of seconds")
            values = (operation, outcome)
            pair = self._gql_pairs.get(values)
            if pair is None:
                pair = (self._gql_total.child(values), self._gql_seconds.child((operation,)))
                if values in self._gql_total._cache and len(self._gql_pairs) < families.RAW_CACHE_LIMIT:
                    self._gql_pairs[values] = pair
            pair[0].inc()
            pair[1].observe(seconds)
        except Exception:
            self._failed("record_graphql_operation")

    def graphql_operation_label(self, name: str | None, root_fields: tuple[str, ...] = ()) -> str:
        """The label an operation is recorded under: its name when declared, else "other" (counted as an
        instrumentation error and logged once when one of its root fields is a declared operation name, case aside:
        `mutation { checkoutComplete(...) }` for a declared CheckoutComplete)."""
        if name in self.declared_operations:
            return name
        try:
            declared = next((self._gql_folded[f.casefold()] for f in root_fields if f.casefold() in self._gql_folded),
                            None)
            if declared is not None:
                self._unmatched(("operation", declared, name),
                                f"GraphQL operation {declared} is declared but the request "
                                f"{'named its operation ' + repr(name[:40]) if name else 'sent an unnamed operation'} "
                                f"calling field {declared}: the label is the operation name; recorded as other")
        except Exception:
            self._failed("graphql_operation_label")
        return OTHER
