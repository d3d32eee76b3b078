"""GraphQL operations by name (catalog feature `graphql`): a Strawberry schema extension, a graphene-django view
mixin, and a function for any other server.

    from moneypath.instrument.graphql import MoneyPathExtension
    schema = strawberry.Schema(query=Query, mutation=Mutation,
                               extensions=[MoneyPathExtension.using(mp)])   # or .using(get_moneypath)

    class ShopGraphQLView(MoneyPathGraphQLViewMixin, graphene_django.views.GraphQLView):
        moneypath = get_moneypath   # a MoneyPath, or a zero-argument callable returning one

Each executed operation (each one of a batched request too) is counted once in `graphql_operations_total`
and timed in `graphql_operation_duration_seconds`, labelled by its operation name when the catalog declares
it, else "other". Outcome: `error` when its answer has errors (a resolver raised, validation failed);
`rejected` when a root field's payload carries a non-empty user-errors list (`{checkoutComplete: {errors:
[...]}}`, the field name configurable, None to turn it off); `ok` otherwise. An unnamed or undeclared operation
whose root field is a declared operation name is counted as an instrumentation error and logged once
(MoneyPath.graphql_operation_label).

`record_graphql_answers` does the same from a request's JSON and its answer's, for any other GraphQL server
(Ariadne, a hand-written view): a view or a middleware calls it with what it sent back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any

DEFAULT_USER_ERRORS = "errors"
# The first named operation of a document: its name when the request gives no operationName (a document with
# several operations must give one). Cheaper than parsing the document again.
_NAMED_OPERATION = re.compile(r"\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


def outcome(data: Any, errors: Any, user_errors: str | None = DEFAULT_USER_ERRORS) -> str:
    """ok, error or rejected for one operation's answer (its `data` and top-level `errors`)."""
    if errors:
        return "error"
    if user_errors and isinstance(data, dict):
        for payload in data.values():
            if isinstance(payload, dict) and payload.get(user_errors):
                return "rejected"
    return "ok"


def record_graphql_answers(mp, request: Any, answer: Any, seconds: float,
                           user_errors: str | None = DEFAULT_USER_ERRORS) -> None:
    """Record every operation of one HTTP request from its JSON body (an object, or a list: a batch) and the
    answer's JSON (the same shape), the request's time shared evenly by a batch's operations. The root fields
    are the answer's `data` keys and its errors' `path[0]`, so no document is parsed."""
    try:
        requests = request if isinstance(request, list) else [request]
        answers = answer if isinstance(answer, list) else [answer]
        share = seconds / max(len(requests), 1)
        for sent, got in zip(requests, answers):
            sent = sent if isinstance(sent, dict) else {}
            got = got if isinstance(got, dict) else {}
            name = sent.get("operationName")
            if not isinstance(name, str):
                name = named_operation(sent.get("query"))
            _record(mp, name, None, got.get("data"), got.get("errors"), share, user_errors)
    except Exception:
        mp._failed("record_graphql_answers")


def named_operation(query: Any) -> str | None:
    match = _NAMED_OPERATION.search(query) if isinstance(query, str) else None
    return match.group(1) if match else None


def _record(mp, name: str | None, fields: Iterable[str] | None, data: Any, errors: Any, seconds: float,
            user_errors: str | None) -> None:
    """One operation; `fields` its root fields, or None to take them from the answer (data keys, errors' path[0])."""
    if fields is None:
        paths = [e.get("path") if isinstance(e, dict) else getattr(e, "path", None) for e in errors or ()]
        fields = [*(data if isinstance(data, dict) else ()), *(p[0] for p in paths if p)]
        fields = [f for f in fields if isinstance(f, str)]
    label = mp.graphql_operation_label(name, tuple(fields))
    mp.record_graphql_operation(label, outcome(data, errors, user_errors), seconds)


class MoneyPathGraphQLViewMixin:
    """graphene-django (or any view with graphene-django's `execute_graphql_request`): each operation it executes,
    each one of a batch too, recorded by name. Class attributes: `moneypath` (a MoneyPath or a zero-argument
    callable returning one) and `graphql_user_errors` (the payload's user-errors field, None for none)."""

    moneypath: Any = None
    graphql_user_errors: str | None = DEFAULT_USER_ERRORS

    def execute_graphql_request(self, request, data, query, variables, operation_name, *args, **kwargs):
        start = time.perf_counter()
        result = super().execute_graphql_request(request, data, query, variables, operation_name, *args, **kwargs)
        if result is not None:  # None: GraphiQL's page, not an operation
            mp = _resolve(type(self))
            try:
                _record(mp, operation_name or named_operation(query), None, result.data, result.errors,
                        time.perf_counter() - start, self.graphql_user_errors)
            except Exception:
                mp._failed("MoneyPathGraphQLViewMixin")
        return result


try:
    from graphql import FieldNode
    from strawberry.extensions import SchemaExtension
except ImportError:  # pragma: no cover - Strawberry is an extra; record_graphql_answers needs none
    SchemaExtension = None

if SchemaExtension is not None:

    class MoneyPathExtension(SchemaExtension):
        """Strawberry schema extension; `MoneyPathExtension.using(mp_or_factory, user_errors="errors")` binds
        it to a MoneyPath (or a zero-argument callable returning one, e.g. moneypath.instrument.django's
        get_moneypath, called at each operation)."""

        moneypath: Any = None
        user_errors: str | None = DEFAULT_USER_ERRORS

        @classmethod
        def using(cls, moneypath: Any, user_errors: str | None = DEFAULT_USER_ERRORS) -> type[MoneyPathExtension]:
            return type(cls.__name__, (cls,), {"moneypath": moneypath, "user_errors": user_errors})

        def on_operation(self):
            start = time.perf_counter()
            try:
                yield
            finally:
                self._record(time.perf_counter() - start)

        def _record(self, seconds: float) -> None:
            mp = _resolve(type(self))
            if mp is None:
                return
            try:
                ctx = self.execution_context
                result = ctx.result
                data = getattr(result, "data", None)
                errors = getattr(result, "errors", None) or ctx.pre_execution_errors
                _record(mp, ctx.operation_name, _root_fields(ctx), data, errors, seconds, self.user_errors)
            except Exception:
                mp._failed("MoneyPathExtension")


def _resolve(cls) -> Any:
    """The bound MoneyPath, or what the bound factory returns now (get_moneypath follows override_settings)."""
    mp = cls.moneypath
    if mp is None:
        raise RuntimeError("MoneyPathExtension: bind it with MoneyPathExtension.using(mp)")
    if not hasattr(mp, "record_graphql_operation") and isinstance(mp, Callable):
        return mp()
    return mp


def _root_fields(ctx) -> Iterable[str]:
    """Names of the root fields of the operation executed (fragment spreads at the root are not followed)."""
    document = ctx.graphql_document
    if document is None:
        return ()
    name = ctx.operation_name
    for definition in document.definitions:
        if getattr(definition, "operation", None) is None:
            continue
        if name is None or (definition.name is not None and definition.name.value == name):
            return [s.name.value for s in definition.selection_set.selections if isinstance(s, FieldNode)]
    return ()
