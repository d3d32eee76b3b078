"""GraphQL operations by name (catalog feature `graphql`): a Strawberry schema extension.

    from moneypath.instrument.graphql import MoneyPathExtension
    schema = strawberry.Schema(query=Query, mutation=Mutation,
                               extensions=[MoneyPathExtension.using(mp)])   # or .using(get_moneypath)

Each executed operation (each one of a batched request too) is counted once in `graphql_operations_total`
and timed in `graphql_operation_duration_seconds`, labelled by its operation name when the catalog declares
it, else "other". Outcome: `error` when its answer has errors (a resolver raised, validation failed);
`rejected` when a root field's payload carries a non-empty user-errors list (`{checkoutComplete: {errors:
[...]}}`, the field name configurable, None to turn it off); `ok` otherwise. An unnamed or undeclared operation
whose root field is a declared operation name is counted as an instrumentation error and logged once
(MoneyPath.graphql_operation_label).

`record_graphql_answers` does the same from a request's JSON and its answer's, for any other GraphQL server
(graphene-django's GraphQLView, Ariadne): a view or a middleware calls it with what it sent back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

DEFAULT_USER_ERRORS = "errors"


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
            data, errors = got.get("data"), got.get("errors")
            fields = [*(data if isinstance(data, dict) else ()),
                      *(e["path"][0] for e in errors or () if isinstance(e, dict) and e.get("path"))]
            name = sent.get("operationName")
            label = mp.graphql_operation_label(name if isinstance(name, str) else None, tuple(map(str, fields)))
            mp.record_graphql_operation(label, outcome(data, errors, user_errors), share)
    except Exception:
        mp._failed("record_graphql_answers")


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
                label = mp.graphql_operation_label(ctx.operation_name, tuple(_root_fields(ctx)))
                mp.record_graphql_operation(label, outcome(data, errors, self.user_errors), seconds)
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
