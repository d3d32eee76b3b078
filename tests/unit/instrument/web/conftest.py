"""Django configured once for this directory (settings are process-wide), on an `init`-written catalog that is
not the shipped one: providers paystack and mollie, USD and JPY, the graphql feature on."""

from __future__ import annotations

import pytest

from moneypath.scaffold.catalog_template import ScaffoldOptions, catalog_yaml
from tests.support.signals import errors as errors_total

ROUTES = ["/orders/{order_id}/", "/async/orders/{order_id}/", "/legacy/{year}/{slug}/", "/graphql/", "/agraphql/",
          "/graphene/", "/graphene-batch/"]
OPERATIONS = ["CheckoutCreate", "CheckoutPaymentCreate", "CheckoutComplete"]


def _configure() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="not-a-secret", ALLOWED_HOSTS=["*"], USE_TZ=True, INSTALLED_APPS=[],
            ROOT_URLCONF="tests.unit.instrument.web.djangoapp",
            MIDDLEWARE=["moneypath.instrument.django.DjangoMoneyPathMiddleware"], MONEYPATH={})
        import django

        django.setup()


_configure()


def write_catalog(directory, features: dict[str, bool] | None = None, operations=OPERATIONS):
    from moneypath.catalog.features import FEATURES

    on = features or {"graphql": True}
    options = ScaffoldOptions(service="shop", providers=["paystack", "mollie"], currencies=["USD", "JPY"],
                              features={name: on.get(name, False) for name in FEATURES}, routes=[*ROUTES, "/healthz"],
                              operations=list(operations))
    path = directory / "moneypath.yaml"
    path.write_text(catalog_yaml(options))
    return path


@pytest.fixture(scope="session")
def shop_catalog(tmp_path_factory):
    return write_catalog(tmp_path_factory.mktemp("shop"))


@pytest.fixture
def mp(shop_catalog):
    """A fresh MoneyPath (own registry) from settings.MONEYPATH, as a Django service gets it."""
    from django.test import override_settings

    from moneypath.instrument.django import get_moneypath

    with override_settings(MONEYPATH={"CATALOG": str(shop_catalog)}):
        yield get_moneypath()


def sample(mp, key: str, suffix: str = "", **labels) -> float:
    return mp.registry.get_sample_value(mp.catalog.metric(key) + suffix, labels) or 0.0


def errors(mp) -> float:
    return errors_total(mp)
