"""moneypath.instrument.graphql's MoneyPathGraphQLViewMixin on graphene-django's GraphQLView: operations by
name, a batch, a raising resolver (data and errors), payload user errors, an unnamed operation."""

from __future__ import annotations

import logging

from django.test import Client

from moneypath.catalog.conventions import Key
from tests.unit.instrument.web.conftest import errors, sample

CREATE = "mutation CheckoutCreate($email: String!) { checkoutCreate(email: $email) { checkoutId errors { code } } }"
COMPLETE = "mutation CheckoutComplete($id: ID!) { checkoutComplete(checkoutId: $id) { checkoutId errors { code } } }"


def ops(mp, operation, outcome):
    return sample(mp, Key.GRAPHQL_OPERATIONS_TOTAL, operation=operation, outcome=outcome)


def post(body, url="/graphene/"):
    return Client().post(url, body, content_type="application/json")


def test_operations_are_counted_by_name_with_their_outcome(mp):
    created = post({"query": CREATE, "variables": {"email": "a@example.com"}}).json()
    checkout_id = created["data"]["checkoutCreate"]["checkoutId"]
    done = post({"query": COMPLETE, "operationName": "CheckoutComplete", "variables": {"id": checkout_id}})
    assert done.status_code == 200
    post({"query": CREATE, "variables": {"email": "not-an-email"}})
    failed = post({"query": COMPLETE, "variables": {"id": "broken"}}).json()
    assert failed["errors"][0]["path"] == ["checkoutComplete"]
    assert ops(mp, "CheckoutCreate", "ok") == 1 and ops(mp, "CheckoutCreate", "rejected") == 1
    assert ops(mp, "CheckoutComplete", "ok") == 1 and ops(mp, "CheckoutComplete", "error") == 1
    assert sample(mp, Key.GRAPHQL_OPERATION_DURATION_SECONDS, "_count", operation="CheckoutComplete") == 2
    assert errors(mp) == 0


def test_a_batch_fails_only_the_operation_that_erred(mp):
    answers = post([{"query": CREATE, "variables": {"email": "b@example.com"}},
                    {"query": COMPLETE, "variables": {"id": "broken"}}], "/graphene-batch/").json()
    assert [bool(a.get("errors")) for a in answers] == [False, True]
    assert ops(mp, "CheckoutCreate", "ok") == 1 and ops(mp, "CheckoutComplete", "error") == 1


def test_an_unnamed_operation_of_a_declared_field_is_other_counted_and_logged_once(mp, caplog):
    with caplog.at_level(logging.WARNING, logger="moneypath.instrument"):
        for _ in range(2):
            post({"query": "mutation { checkoutComplete(checkoutId: \"ck-1\") { checkoutId } }"})
        post({"query": "{ ping }"})
    assert ops(mp, "other", "ok") == 3 and errors(mp) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "moneypath.instrument"]
    assert len(lines) == 1 and "CheckoutComplete is declared" in lines[0]
