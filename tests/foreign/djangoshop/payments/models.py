"""No ledger: a checkout, its payments (one row per attempt, with the provider's reference) and the order
a completed checkout becomes. Amounts are integer minor units in the row's currency."""

import uuid

from django.db import models


class Checkout(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField()
    currency = models.CharField(max_length=3)
    lines = models.JSONField(default=list)  # [{"sku", "quantity", "unit_price_minor"}]
    total_minor = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "checkouts"


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        AUTHORIZED = "authorized"
        CAPTURED = "captured"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    checkout = models.ForeignKey(Checkout, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=32)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    provider_ref = models.CharField(max_length=64, blank=True, default="")
    error = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    refunded_minor = models.BigIntegerField(default=0)

    class Meta:
        db_table = "payments"
        indexes = [models.Index(fields=["status", "created_at"])]


class ProviderCapture(models.Model):
    """The shop's copy of the provider's records: one row per capture the provider reports for a charge (its
    own capture id), written from each capture answer; a charge captured twice has two."""

    id = models.CharField(primary_key=True, max_length=64)  # the provider's capture id
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="provider_captures")
    amount_minor = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "provider_captures"


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    checkout = models.OneToOneField(Checkout, on_delete=models.PROTECT, related_name="order")
    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="order")
    email = models.EmailField()
    total_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "orders"
