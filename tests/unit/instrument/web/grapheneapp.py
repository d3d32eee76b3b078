"""The same checkout as djangoapp's Strawberry schema, in graphene behind graphene-django's GraphQLView with
moneypath's mixin (one view answering single requests, one answering batches)."""

from __future__ import annotations

import graphene
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from graphene_django.views import GraphQLView

from moneypath.instrument.django import get_moneypath
from moneypath.instrument.graphql import MoneyPathGraphQLViewMixin


class CheckoutError(graphene.ObjectType):
    code = graphene.String()


class CheckoutCreate(graphene.Mutation):
    class Arguments:
        email = graphene.String(required=True)

    checkout_id = graphene.ID()
    errors = graphene.List(graphene.NonNull(CheckoutError), required=True)

    def mutate(root, info, email):
        if "@" not in email:
            return CheckoutCreate(errors=[CheckoutError(code="INVALID_EMAIL")])
        return CheckoutCreate(checkout_id="ck-1", errors=[])


class CheckoutComplete(graphene.Mutation):
    class Arguments:
        checkout_id = graphene.ID(required=True)

    checkout_id = graphene.ID()
    errors = graphene.List(graphene.NonNull(CheckoutError), required=True)

    def mutate(root, info, checkout_id):
        if checkout_id == "broken":
            raise RuntimeError("the provider went away")
        return CheckoutComplete(checkout_id=checkout_id, errors=[])


class Query(graphene.ObjectType):
    ping = graphene.String()

    def resolve_ping(root, info):
        return "pong"


class Mutation(graphene.ObjectType):
    checkout_create = CheckoutCreate.Field()
    checkout_complete = CheckoutComplete.Field()


schema = graphene.Schema(query=Query, mutation=Mutation)


class ShopGraphQLView(MoneyPathGraphQLViewMixin, GraphQLView):
    moneypath = get_moneypath


urlpatterns = [
    path("graphene/", csrf_exempt(ShopGraphQLView.as_view(schema=schema))),
    path("graphene-batch/", csrf_exempt(ShopGraphQLView.as_view(schema=schema, batch=True))),
]
