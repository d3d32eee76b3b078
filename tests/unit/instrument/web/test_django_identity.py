"""The Django middleware answers with the process's identity (MoneyPath-Instance) under WSGI and ASGI, the same one
the /metrics view reports as the info series."""

from __future__ import annotations

import asyncio

from django.test import AsyncClient, Client

from moneypath.catalog.conventions import INSTANCE_HEADER, INSTANCE_ID_LABEL
from moneypath.instrument import _identity as identity


def test_wsgi_and_asgi_answers_carry_the_identity_metrics_reports(mp):
    client = Client()
    assert client.get("/orders/1/").headers[INSTANCE_HEADER] == identity.IDENTITY
    assert client.get("/nowhere/").headers[INSTANCE_HEADER] == identity.IDENTITY  # a 404 too

    async def go():
        return (await AsyncClient().get("/async/orders/1/")).headers[INSTANCE_HEADER]

    assert asyncio.run(go()) == identity.IDENTITY
    metrics = client.get("/metrics")
    assert f'{INSTANCE_ID_LABEL}="{identity.IDENTITY}"'.encode() in metrics.content
