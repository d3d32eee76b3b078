"""A tiny Django app for the middleware and GraphQL tests: sync and async views, a path() route with a converter,
a re_path() route with named groups, an undeclared route, a Strawberry GraphQL endpoint with batching, /metrics."""

from __future__ import annotations

import strawberry
from django.http import HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import AsyncGraphQLView, GraphQLView
from strawberry.schema.config import StrawberryConfig

from moneypath.instrument import current_correlation_id
from moneypath.instrument.django import get_moneypath, metrics_view
from moneypath.instrument.graphql import MoneyPathExtension


def order(request, order_id):
    return JsonResponse({"id": order_id, "correlation_id": current_correlation_id()})


async def async_order(request, order_id):
    return JsonResponse({"id": order_id, "correlation_id": current_correlation_id()})


def legacy(request, year, slug):
    return HttpResponse(f"{year}/{slug}")


def undeclared(request):
    return HttpResponse("not in the catalog")


def boom(request):
    raise RuntimeError("database went away")


@strawberry.type
class Checkout:
    id: strawberry.ID


@strawberry.type
class CheckoutError:
    code: str
    message: str


@strawberry.type
class CheckoutPayload:
    checkout: Checkout | None = None
    errors: list[CheckoutError] = strawberry.field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field
    def checkout(self, id: strawberry.ID) -> Checkout | None:
        return Checkout(id=id)


@strawberry.type
class Mutation:
    @strawberry.mutation
    def checkout_create(self, email: str) -> CheckoutPayload:
        return CheckoutPayload(checkout=Checkout(id=strawberry.ID("ck-1")))

    @strawberry.mutation
    def checkout_payment_create(self, checkout_id: strawberry.ID, amount: int) -> CheckoutPayload:
        if amount <= 0:  # the shop's convention: a refusal is a payload error, not a GraphQL error
            return CheckoutPayload(errors=[CheckoutError(code="INVALID", message="amount must be positive")])
        return CheckoutPayload(checkout=Checkout(id=checkout_id))

    @strawberry.mutation
    def checkout_complete(self, checkout_id: strawberry.ID) -> CheckoutPayload:
        if checkout_id == "broken":
            raise RuntimeError("the provider went away")
        return CheckoutPayload(checkout=Checkout(id=checkout_id))


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[MoneyPathExtension.using(get_moneypath)],
                           config=StrawberryConfig(batching_config={"max_operations": 10}))

urlpatterns = [
    path("orders/<int:order_id>/", order),
    path("async/orders/<int:order_id>/", async_order),
    re_path(r"^legacy/(?P<year>[0-9]{4})/(?P<slug>[-\w]+)/$", legacy),
    path("api/", include([path("undeclared/", undeclared), path("boom/", boom)])),
    path("graphql/", csrf_exempt(GraphQLView.as_view(schema=schema))),
    path("agraphql/", csrf_exempt(AsyncGraphQLView.as_view(schema=schema))),
    path("metrics", metrics_view),
    path("", include("tests.unit.instrument.web.grapheneapp")),
]
