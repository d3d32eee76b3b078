"""Background work: captures run in Celery workers, after the order is committed."""

import logging

from django.utils import timezone

from djangoshop.celery import app
from djangoshop.payments.models import Payment, ProviderCapture
from djangoshop.payments.plugins import get_plugin
from moneypath.instrument.django import get_moneypath

log = logging.getLogger(__name__)


class CaptureFailed(Exception):
    pass


@app.task(bind=True, autoretry_for=(CaptureFailed,), max_retries=3, retry_backoff=1, retry_jitter=False)
def capture_payment(self, payment_id: str) -> str:
    """Capture an authorized payment with its gateway and mark it captured; a captured one is left alone. The
    plugin records each capture call; a retry of the task is a retry of that call."""
    payment = Payment.objects.get(id=payment_id)
    if payment.status != Payment.Status.AUTHORIZED:
        return payment.status
    if self.request.retries:
        get_moneypath().count_provider_retry(payment.provider, "capture")
    response = get_plugin(payment.provider).capture_payment(payment)
    if not response.is_success:
        raise CaptureFailed(response.message)
    record_captures(payment, response.captures)
    Payment.objects.filter(id=payment.id, status=Payment.Status.AUTHORIZED).update(
        status=Payment.Status.CAPTURED, captured_at=timezone.now())
    log.info("payment %s captured (%s %s)", payment.id, payment.provider, payment.provider_ref)
    return Payment.Status.CAPTURED


def record_captures(payment: Payment, captures: list[dict]) -> None:
    """Keep the shop's copy of the provider's records (one row per provider capture id), add the fee the provider
    kept for each new one to the cost (settled in USD, as the provider reports it), and count a charge the provider
    reports captured more than once: money taken twice. Each call is a run of the shop's duplicate detector."""
    for capture in captures:
        _, new = ProviderCapture.objects.get_or_create(id=capture["id"], defaults={
            "payment": payment, "amount_minor": int(capture.get("amount", payment.amount_minor))})
        if new and capture.get("fee_currency") == "usd":
            get_moneypath().add_cost("provider_fee", int(capture["fee"]) / 100, payment.provider)
    if len(captures) > 1:
        extra = sum(int(c.get("amount", payment.amount_minor)) for c in captures[1:])
        get_moneypath().count_duplicate_charge(payment.provider, payment.currency, extra)
        log.error("payment %s captured %d times by %s (%s)", payment.id, len(captures), payment.provider,
                  payment.provider_ref)
    get_moneypath().record_detector_run("duplicates")  # the provider's captures of this payment counted: a run
