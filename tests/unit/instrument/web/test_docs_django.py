"""docs/instrumenting.md's Django and GraphQL examples, run as the page shows them (read with `code_block`)."""

from __future__ import annotations

import strawberry
from django.test import override_settings
from django.urls import path

from moneypath.catalog.conventions import Key
from moneypath.instrument.django import DjangoMoneyPathMiddleware, metrics_view
from tests.docs_examples import code_block
from tests.unit.instrument.web.conftest import errors, sample, write_catalog

PAGE = "docs/instrumenting.md"


def test_the_django_examples_run_as_written(tmp_path):
    (tmp_path / "ops").mkdir()
    write_catalog(tmp_path / "ops")
    namespace = {"BASE_DIR": tmp_path, "MIDDLEWARE": ["django.middleware.common.CommonMiddleware"],
                 "urlpatterns": [], "path": path}
    text = code_block(PAGE, "Django")
    settings_part, rest = text.split("# urls.py")
    exec(settings_part, namespace)
    assert namespace["MIDDLEWARE"][0] == f"{DjangoMoneyPathMiddleware.__module__}.{DjangoMoneyPathMiddleware.__name__}"
    with override_settings(MONEYPATH=namespace["MONEYPATH"], BASE_DIR=tmp_path):
        exec(rest, namespace)
        mp = namespace["get_moneypath"]()
        assert sample(mp, Key.PROVIDER_REQUESTS_TOTAL, provider="paystack", operation="authorize",
                      outcome="success") == 1
    assert namespace["urlpatterns"][0].callback is metrics_view


def test_the_graphql_examples_run_as_written(mp):
    from tests.unit.instrument.web import djangoapp

    namespace = {"strawberry": strawberry, "Query": djangoapp.Query, "Mutation": djangoapp.Mutation}
    exec(code_block(PAGE, "GraphQL"), namespace)
    result = namespace["schema"].execute_sync(
        'mutation CheckoutCreate { checkoutCreate(email: "a@example.com") { checkout { id } } }')
    assert not result.errors
    assert sample(mp, Key.GRAPHQL_OPERATIONS_TOTAL, operation="CheckoutCreate", outcome="ok") == 1
    view = namespace["ShopGraphQLView"]
    assert view.graphql_user_errors == "errors" and view.__mro__[1].__name__ == "MoneyPathGraphQLViewMixin"
    assert errors(mp) == 0
