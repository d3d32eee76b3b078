"""Payment plugins, one per gateway (Saleor's shape): each turns its provider's answers and failures into a
GatewayResponse the checkout acts on. A plugin never raises for a provider failure."""

import logging
import time
from dataclasses import dataclass, field

import requests

from djangoshop.payments.models import Payment
from djangoshop.payments.providers import ProviderClient
from moneypath.instrument.django import get_moneypath

log = logging.getLogger(__name__)


@dataclass
class GatewayResponse:
    is_success: bool
    kind: str             # "authorize" | "capture"
    psp_reference: str = ""
    error: str = ""       # "" | "declined" | "timeout" | "unavailable" | "provider_error"
    message: str = ""
    captures: list[dict] = field(default_factory=list)  # capture: every capture the provider holds for the charge


class BasePlugin:
    gateway = ""

    def __init__(self):
        self.client = ProviderClient(self.gateway)

    def authorize_payment(self, payment: Payment) -> GatewayResponse:
        try:  # a requests timeout leaving the block is recorded as "timeout", any other exception as "error"
            with get_moneypath().time_authorization(self.gateway, "card") as auth:
                try:
                    charge = self._call("authorize", self.client.authorize, payment.amount_minor,
                                        payment.currency, str(payment.id))
                except requests.HTTPError as exc:
                    if not _declined(exc):
                        raise
                    auth.outcome = "declined"
                    return self._failure("authorize", payment, exc)
                auth.outcome = "approved"
        except requests.RequestException as exc:
            return self._failure("authorize", payment, exc)
        return GatewayResponse(True, "authorize", psp_reference=charge["id"])

    def capture_payment(self, payment: Payment) -> GatewayResponse:
        try:
            charge = self._call("capture", self.client.capture, payment.provider_ref, payment.amount_minor)
        except requests.RequestException as exc:
            return self._failure("capture", payment, exc)
        return GatewayResponse(True, "capture", psp_reference=charge["id"], captures=list(charge.get("captures", [])))

    def _call(self, operation: str, call, *args):
        """One provider call, recorded: a decline is an answer (success), a timeout or any other failure not."""
        started = time.perf_counter()
        outcome = "error"
        try:
            result = call(*args)
            outcome = "success"
            return result
        except requests.Timeout:
            outcome = "timeout"
            raise
        except requests.HTTPError as exc:
            if _declined(exc):
                outcome = "success"
            raise
        finally:
            get_moneypath().record_provider_call(self.gateway, operation, outcome, time.perf_counter() - started)

    def _failure(self, kind: str, payment: Payment, exc: requests.RequestException) -> GatewayResponse:
        if isinstance(exc, requests.Timeout):
            error = "timeout"
        elif isinstance(exc, requests.ConnectionError):
            error = "unavailable"
        elif _declined(exc):
            error = "declined"
        else:
            error = "provider_error"
        log.warning("%s %s of payment %s failed: %s (%s)", self.gateway, kind, payment.id, error,
                    type(exc).__name__)
        return GatewayResponse(False, kind, error=error, message=f"{self.gateway}: {kind} failed ({error})")


def _declined(exc: requests.RequestException) -> bool:
    return exc.response is not None and exc.response.status_code == 402


class PaystackPlugin(BasePlugin):
    gateway = "paystack"


class MolliePlugin(BasePlugin):
    gateway = "mollie"


PLUGINS = {plugin.gateway: plugin for plugin in (PaystackPlugin, MolliePlugin)}


def get_plugin(gateway: str) -> BasePlugin:
    """KeyError for a gateway the shop has no plugin for."""
    return PLUGINS[gateway]()
