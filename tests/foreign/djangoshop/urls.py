"""One GraphQL endpoint, as Saleor has, a health check for load balancers and /metrics for Prometheus."""

from django.conf import settings
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import GraphQLView

from djangoshop.payments.schema import schema
from moneypath.instrument.django import metrics_view


def health(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("graphql/", csrf_exempt(GraphQLView.as_view(schema=schema, graphql_ide="graphiql" if settings.DEBUG else None))),
    path("health/", health),
    path("metrics", metrics_view),  # every web worker's values, summed
]
