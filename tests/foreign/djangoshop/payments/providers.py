"""The providers' HTTP API client, the way their SDKs are built: one `requests` Session per process, a connect
and a read timeout on every call, one retry when the connection could not be made (nothing was sent, so a
charge cannot be made twice). Errors are requests' own exceptions (Timeout, ConnectionError, HTTPError)."""

import os
import threading

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

_local = threading.local()


def session() -> requests.Session:
    """This process's (and thread's) Session: a prefork worker or a forked web worker makes its own."""
    cached = getattr(_local, "session", None)
    if cached is None or cached[0] != os.getpid():
        s = requests.Session()
        # read=False: a read timeout is raised as requests.ReadTimeout, never retried (the charge may exist).
        retry = Retry(total=1, connect=1, read=False, status=0, other=0, redirect=0, backoff_factor=0)
        s.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=8))
        s.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=8))
        cached = _local.session = (os.getpid(), s)
    return cached[1]


class ProviderClient:
    """A stripe-like charges API: authorize (capture later), capture, read a charge."""

    def __init__(self, name: str):
        config = settings.PAYMENT_PROVIDERS[name]
        self.name = name
        self.base_url = config["url"].rstrip("/")
        self.api_key = config["api_key"]

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = session().request(method, f"{self.base_url}{path}", timeout=settings.PROVIDER_TIMEOUT,
                                     headers={"Authorization": f"Bearer {self.api_key}",
                                              **kwargs.pop("headers", {})}, **kwargs)
        response.raise_for_status()
        return response.json()

    def authorize(self, amount_minor: int, currency: str, reference: str) -> dict:
        """A charge held, not captured; `reference` (the payment id) is also the idempotency key."""
        return self._call("POST", "/v1/charges", headers={"Idempotency-Key": reference},
                          json={"amount": amount_minor, "currency": currency, "reference": reference,
                                "capture": False})

    def capture(self, charge_id: str, amount_minor: int) -> dict:
        return self._call("POST", f"/v1/charges/{charge_id}/capture", json={"amount": amount_minor})

    def charge(self, charge_id: str) -> dict:
        return self._call("GET", f"/v1/charges/{charge_id}")
