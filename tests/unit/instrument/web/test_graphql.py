"""moneypath.instrument.graphql: operations by name through a Strawberry schema behind Django's GraphQL views
(sync under the test Client, async under AsyncClient), batches, partial failures, payload errors, undeclared
operations; and record_graphql_answers for servers answering JSON."""

from __future__ import annotations

import asyncio
import logging

from django.test import AsyncClient, Client

from moneypath.catalog.conventions import Key
from tests.unit.instrument.web.conftest import errors, sample

OPS = Key.GRAPHQL_OPERATIONS_TOTAL
CREATE = "mutation CheckoutCreate($email: String!) { checkoutCreate(email: $email) { checkout { id } errors { code } } }"
PAY = ("mutation CheckoutPaymentCreate($id: ID!, $amount: Int!) { checkoutPaymentCreate(checkoutId: $id, amount: "
       "$amount) { checkout { id } errors { code message } } }")
COMPLETE = "mutation CheckoutComplete($id: ID!) { checkoutComplete(checkoutId: $id) { checkout { id } errors { code } } }"


def post(client, body, url="/graphql/"):
    return client.post(url, body, content_type="application/json")


def ops(mp, operation, outcome):
    return sample(mp, OPS, operation=operation, outcome=outcome)


def test_three_mutations_passing_an_id_along_are_counted_by_name(mp):
    client = Client()
    created = post(client, {"query": CREATE, "variables": {"email": "a@example.com"}}).json()
    checkout_id = created["data"]["checkoutCreate"]["checkout"]["id"]
    paid = post(client, {"query": PAY, "variables": {"id": checkout_id, "amount": 1200}}).json()
    done = post(client, {"query": COMPLETE, "operationName": "CheckoutComplete",
                         "variables": {"id": paid["data"]["checkoutPaymentCreate"]["checkout"]["id"]}}).json()
    assert done["data"]["checkoutComplete"]["checkout"]["id"] == "ck-1"
    for name in ("CheckoutCreate", "CheckoutPaymentCreate", "CheckoutComplete"):
        assert ops(mp, name, "ok") == 1, name
        assert sample(mp, Key.GRAPHQL_OPERATION_DURATION_SECONDS, "_count", operation=name) == 1
    assert sample(mp, Key.HTTP_REQUESTS_TOTAL, route="/graphql/", method="POST", status_class="2xx") == 3
    assert errors(mp) == 0


def test_a_batch_counts_each_operation_and_fails_only_the_one_that_erred(mp):
    batch = [{"query": CREATE, "variables": {"email": "b@example.com"}},
             {"query": COMPLETE, "variables": {"id": "broken"}},
             {"query": PAY, "variables": {"id": "ck-1", "amount": 5}}]
    answers = post(Client(), batch).json()
    assert [bool(a.get("errors")) for a in answers] == [False, True, False]
    assert answers[1]["data"] is None or answers[1]["data"]["checkoutComplete"] is None  # data and errors
    assert ops(mp, "CheckoutCreate", "ok") == 1
    assert ops(mp, "CheckoutComplete", "error") == 1 and ops(mp, "CheckoutComplete", "ok") == 0
    assert ops(mp, "CheckoutPaymentCreate", "ok") == 1
    assert errors(mp) == 0


def test_data_and_errors_in_one_answer_fail_only_the_operations_whose_root_fields_erred(mp):
    from moneypath.instrument.graphql import record_graphql_answers

    request = [{"query": COMPLETE, "operationName": "CheckoutComplete"},
               {"query": PAY, "operationName": "CheckoutPaymentCreate"}]
    answer = [{"data": {"checkoutComplete": None},
               "errors": [{"message": "the provider went away", "path": ["checkoutComplete"]}]},
              {"data": {"checkoutPaymentCreate": {"checkout": {"id": "ck-1"}, "errors": []}}}]
    record_graphql_answers(mp, request, answer, 0.2)
    assert ops(mp, "CheckoutComplete", "error") == 1 and ops(mp, "CheckoutPaymentCreate", "ok") == 1
    assert sample(mp, Key.GRAPHQL_OPERATION_DURATION_SECONDS, "_sum", operation="CheckoutComplete") == 0.1


def test_payload_user_errors_are_rejected_not_errors(mp):
    answer = post(Client(), {"query": PAY, "variables": {"id": "ck-1", "amount": 0}}).json()
    assert answer["data"]["checkoutPaymentCreate"]["errors"][0]["code"] == "INVALID" and "errors" not in answer
    assert ops(mp, "CheckoutPaymentCreate", "rejected") == 1 and ops(mp, "CheckoutPaymentCreate", "ok") == 0


def test_user_errors_field_is_configurable_and_can_be_off(mp):
    from moneypath.instrument.graphql import outcome

    data = {"checkoutComplete": {"order": None, "errors": [{"code": "X"}], "problems": [{"code": "Y"}]}}
    assert outcome(data, None) == "rejected"
    assert outcome(data, None, user_errors="problems") == "rejected"
    assert outcome({"checkoutComplete": {"problems": []}}, None, user_errors="problems") == "ok"
    assert outcome(data, None, user_errors=None) == "ok"
    assert outcome(data, [{"message": "boom"}]) == "error"


def test_a_validation_failure_is_an_error_of_its_operation(mp):
    answer = post(Client(), {"query": "mutation CheckoutComplete { checkoutComplete { nope } }"}).json()
    assert answer["errors"]
    assert ops(mp, "CheckoutComplete", "error") == 1


def test_an_undeclared_operation_calling_a_declared_field_is_other_counted_and_logged_once(mp, caplog):
    client = Client()
    anonymous = "mutation { checkoutComplete(checkoutId: \"ck-1\") { checkout { id } } }"
    with caplog.at_level(logging.WARNING, logger="moneypath.instrument"):
        post(client, {"query": anonymous})
        post(client, {"query": anonymous})
    assert ops(mp, "other", "ok") == 2
    assert errors(mp) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "moneypath.instrument"]
    assert len(lines) == 1 and "CheckoutComplete is declared" in lines[0] and "unnamed" in lines[0]


def test_an_undeclared_operation_of_undeclared_fields_is_other_without_an_error(mp, caplog):
    post(Client(), {"query": "query Look { checkout(id: \"ck-9\") { id } }"})
    assert ops(mp, "other", "ok") == 1
    assert errors(mp) == 0 and not [r for r in caplog.records if r.name == "moneypath.instrument"]


def test_the_async_view_records_the_same(mp):
    async def go():
        client = AsyncClient()
        return await client.post("/agraphql/", [{"query": CREATE, "variables": {"email": "c@example.com"}},
                                                {"query": PAY, "variables": {"id": "ck-1", "amount": 0}}],
                                 content_type="application/json")

    answer = asyncio.run(go())
    assert answer.status_code == 200
    assert ops(mp, "CheckoutCreate", "ok") == 1 and ops(mp, "CheckoutPaymentCreate", "rejected") == 1
    assert sample(mp, Key.HTTP_REQUESTS_TOTAL, route="/agraphql/", method="POST", status_class="2xx") == 1


def test_the_feature_off_makes_the_extension_record_nothing(tmp_path):
    from django.test import override_settings

    from moneypath.instrument.django import get_moneypath
    from tests.unit.instrument.web.conftest import write_catalog

    catalog = write_catalog(tmp_path, features={"graphql": False}, operations=[])
    with override_settings(MONEYPATH={"CATALOG": str(catalog)}):
        mp = get_moneypath()
        assert post(Client(), {"query": CREATE, "variables": {"email": "d@example.com"}}).status_code == 200
        assert not [f for f in mp.registry.collect() if "graphql" in f.name]
        assert errors(mp) == 0
