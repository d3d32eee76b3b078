"""The checkout's three steps, as the GraphQL mutations call them. A step that cannot go on raises
CheckoutError (code, message, field), which the API returns in the mutation's `errors`."""

import logging
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from djangoshop.payments import money
from djangoshop.payments.models import Checkout, Order, Payment
from djangoshop.payments.plugins import PLUGINS, get_plugin
from djangoshop.payments.tasks import capture_payment

log = logging.getLogger(__name__)


class CheckoutError(Exception):
    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def _minor(amount, currency: str, field: str) -> int:
    try:
        return money.to_minor(Decimal(amount), currency)
    except (ValueError, InvalidOperation) as exc:
        raise CheckoutError("INVALID", str(exc), field) from None


def _checkout(checkout_id: str, lock: bool = False) -> Checkout:
    rows = Checkout.objects.select_for_update() if lock else Checkout.objects
    try:
        return rows.get(id=checkout_id)
    except (Checkout.DoesNotExist, ValidationError):  # ValidationError: not a UUID
        raise CheckoutError("NOT_FOUND", f"no checkout {checkout_id}", "checkoutId") from None


def create_checkout(lines: list[dict], currency: str, email: str) -> Checkout:
    """lines: [{"sku", "quantity", "unit_price"}] with unit prices in major units of `currency`."""
    currency = currency.upper()
    if currency not in money.EXPONENTS:
        raise CheckoutError("INVALID", f"unsupported currency {currency}", "currency")
    if not lines:
        raise CheckoutError("REQUIRED", "a checkout needs at least one line", "lines")
    stored = []
    for line in lines:
        if line["quantity"] < 1:
            raise CheckoutError("INVALID", "quantity must be at least 1", "lines")
        stored.append({"sku": line["sku"], "quantity": line["quantity"],
                       "unit_price_minor": _minor(line["unit_price"], currency, "lines")})
    total = sum(line["quantity"] * line["unit_price_minor"] for line in stored)
    return Checkout.objects.create(email=email, currency=currency, lines=stored, total_minor=total)


def create_payment(checkout_id: str, gateway: str, amount) -> Payment:
    """A pending payment for the checkout's whole total (Saleor refuses partial payments)."""
    checkout = _checkout(checkout_id)
    if checkout.completed_at is not None:
        raise CheckoutError("CHECKOUT_COMPLETED", "the checkout is already completed", "checkoutId")
    if gateway not in PLUGINS:
        raise CheckoutError("NOT_SUPPORTED_GATEWAY", f"no payment gateway {gateway}", "provider")
    amount_minor = _minor(amount, checkout.currency, "amount")
    if amount_minor != checkout.total_minor:
        raise CheckoutError("PARTIAL_PAYMENT_NOT_ALLOWED", "the amount must be the checkout's total", "amount")
    return Payment.objects.create(checkout=checkout, provider=gateway, amount_minor=amount_minor,
                                  currency=checkout.currency)


def complete_checkout(checkout_id: str) -> Order:
    """Authorize the checkout's pending payment with its gateway and turn the checkout into an order; the
    capture is queued for a worker once the order is committed (PAYMENT_CAPTURE automatic; manual: orderCapture).
    A completed checkout returns its order."""
    failure = None
    with transaction.atomic():
        checkout = _checkout(checkout_id, lock=True)  # one completion at a time: never two authorizations
        if checkout.completed_at is not None:
            return checkout.order
        payment = checkout.payments.filter(status=Payment.Status.PENDING).order_by("-created_at").first()
        if payment is None:
            raise CheckoutError("CHECKOUT_NOT_FULLY_PAID", "the checkout has no payment to authorize", "checkoutId")
        response = get_plugin(payment.provider).authorize_payment(payment)
        if response.is_success:
            payment.status, payment.provider_ref = Payment.Status.AUTHORIZED, response.psp_reference
            payment.save(update_fields=["status", "provider_ref"])
            checkout.completed_at = timezone.now()
            checkout.save(update_fields=["completed_at"])
            order = Order.objects.create(checkout=checkout, payment=payment, email=checkout.email,
                                         total_minor=checkout.total_minor, currency=checkout.currency)
            if settings.PAYMENT_CAPTURE == "automatic":
                transaction.on_commit(lambda: capture_payment.delay(str(payment.id)))
        else:
            payment.status, payment.error = Payment.Status.FAILED, response.error
            payment.save(update_fields=["status", "error"])
            failure = response
    if failure is not None:  # the failed payment is committed; the buyer may add another and try again
        raise CheckoutError("PAYMENT_ERROR", failure.message, "payment")
    log.info("order %s created for checkout %s, payment %s authorized", order.id, checkout.id, payment.id)
    return order


def capture_order(order_id: str) -> Order:
    """Queue the capture of the order's authorized payment for a worker (the manual capture of an "authorize
    only" shop); the worker leaves a payment that is no longer authorized alone."""
    try:
        order = Order.objects.select_related("payment").get(id=order_id)
    except (Order.DoesNotExist, ValidationError):
        raise CheckoutError("NOT_FOUND", f"no order {order_id}", "id") from None
    if order.payment.status not in (Payment.Status.AUTHORIZED, Payment.Status.CAPTURED):
        raise CheckoutError("CAPTURE_INACTIVE", f"the payment is {order.payment.status}", "id")
    if order.payment.status == Payment.Status.AUTHORIZED:
        capture_payment.delay(str(order.payment.id))
    return order
