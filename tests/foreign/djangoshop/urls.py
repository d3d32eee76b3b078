"""One GraphQL endpoint, as Saleor has, and a health check for load balancers."""

from django.conf import settings
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import GraphQLView

from djangoshop.payments.schema import schema


def health(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("graphql/", csrf_exempt(GraphQLView.as_view(schema=schema, graphql_ide="graphiql" if settings.DEBUG else None))),
    path("health/", health),
]
