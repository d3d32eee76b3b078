"""The GraphQL API at /graphql/ (Saleor's shape): checkoutCreate -> checkoutPaymentCreate -> checkoutComplete,
each passing the checkout's id; a failed step answers HTTP 200 with the payload's `errors` filled and its
object null. `orderCapture(id)` queues the capture of an order's payment (PAYMENT_CAPTURE manual). `order(id)`
reads an order with its payment's status and the provider's reference."""

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry
from django.core.exceptions import ValidationError

from djangoshop.payments import checkout as flow
from djangoshop.payments import money
from djangoshop.payments.models import Checkout as CheckoutRow
from djangoshop.payments.models import Order as OrderRow
from djangoshop.payments.models import Payment as PaymentRow
from moneypath.instrument.django import get_moneypath
from moneypath.instrument.graphql import MoneyPathExtension


@strawberry.type
class Money:
    amount: Decimal
    currency: str


def _money(minor: int, currency: str) -> Money:
    return Money(amount=money.from_minor(minor, currency), currency=currency)


@strawberry.enum
class PaymentStatus(Enum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    FAILED = "failed"


@strawberry.enum
class CheckoutErrorCode(Enum):
    INVALID = "invalid"
    REQUIRED = "required"
    NOT_FOUND = "not_found"
    NOT_SUPPORTED_GATEWAY = "not_supported_gateway"
    PARTIAL_PAYMENT_NOT_ALLOWED = "partial_payment_not_allowed"
    CHECKOUT_COMPLETED = "checkout_completed"
    CHECKOUT_NOT_FULLY_PAID = "checkout_not_fully_paid"
    PAYMENT_ERROR = "payment_error"
    CAPTURE_INACTIVE = "capture_inactive"


@strawberry.type
class CheckoutError:
    field: str | None
    code: CheckoutErrorCode
    message: str


def _errors(exc: flow.CheckoutError) -> list[CheckoutError]:
    return [CheckoutError(field=exc.field, code=CheckoutErrorCode[exc.code], message=exc.message)]


@strawberry.type
class CheckoutLine:
    sku: str
    quantity: int
    unit_price: Money


@strawberry.type
class Checkout:
    id: strawberry.ID
    email: str
    lines: list[CheckoutLine]
    total: Money

    @classmethod
    def of(cls, row: CheckoutRow) -> "Checkout":
        lines = [CheckoutLine(sku=line["sku"], quantity=line["quantity"],
                              unit_price=_money(line["unit_price_minor"], row.currency)) for line in row.lines]
        return cls(id=strawberry.ID(str(row.id)), email=row.email, lines=lines,
                   total=_money(row.total_minor, row.currency))


@strawberry.type
class Payment:
    id: strawberry.ID
    provider: str
    status: PaymentStatus
    psp_reference: str | None
    amount: Money
    captured_at: datetime | None

    @classmethod
    def of(cls, row: PaymentRow) -> "Payment":
        return cls(id=strawberry.ID(str(row.id)), provider=row.provider, status=PaymentStatus(row.status),
                   psp_reference=row.provider_ref or None, amount=_money(row.amount_minor, row.currency),
                   captured_at=row.captured_at)


@strawberry.type
class Order:
    id: strawberry.ID
    email: str
    created: datetime
    total: Money
    payment_status: PaymentStatus
    payment: Payment

    @classmethod
    def of(cls, row: OrderRow) -> "Order":
        payment = Payment.of(row.payment)
        return cls(id=strawberry.ID(str(row.id)), email=row.email, created=row.created_at,
                   total=_money(row.total_minor, row.currency), payment_status=payment.status, payment=payment)


@strawberry.input
class CheckoutLineInput:
    sku: str
    quantity: int
    unit_price: Decimal


@strawberry.type
class CheckoutCreate:
    checkout: Checkout | None = None
    errors: list[CheckoutError] = strawberry.field(default_factory=list)


@strawberry.type
class CheckoutPaymentCreate:
    checkout: Checkout | None = None
    payment: Payment | None = None
    errors: list[CheckoutError] = strawberry.field(default_factory=list)


@strawberry.type
class CheckoutComplete:
    order: Order | None = None
    errors: list[CheckoutError] = strawberry.field(default_factory=list)


@strawberry.type
class OrderCapture:
    order: Order | None = None
    errors: list[CheckoutError] = strawberry.field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field
    def order(self, id: strawberry.ID) -> Order | None:
        try:
            row = OrderRow.objects.select_related("payment").get(id=id)
        except (OrderRow.DoesNotExist, ValidationError):
            return None
        return Order.of(row)


@strawberry.type
class Mutation:
    @strawberry.mutation
    def checkout_create(self, lines: list[CheckoutLineInput], currency: str, email: str) -> CheckoutCreate:
        try:
            row = flow.create_checkout([{"sku": line.sku, "quantity": line.quantity, "unit_price": line.unit_price}
                                        for line in lines], currency, email)
        except flow.CheckoutError as exc:
            return CheckoutCreate(errors=_errors(exc))
        return CheckoutCreate(checkout=Checkout.of(row))

    @strawberry.mutation
    def checkout_payment_create(self, checkout_id: strawberry.ID, provider: str, amount: Decimal
                                ) -> CheckoutPaymentCreate:
        try:
            row = flow.create_payment(checkout_id, provider, amount)
        except flow.CheckoutError as exc:
            return CheckoutPaymentCreate(errors=_errors(exc))
        return CheckoutPaymentCreate(checkout=Checkout.of(row.checkout), payment=Payment.of(row))

    @strawberry.mutation
    def checkout_complete(self, checkout_id: strawberry.ID) -> CheckoutComplete:
        try:
            row = flow.complete_checkout(checkout_id)
        except flow.CheckoutError as exc:
            return CheckoutComplete(errors=_errors(exc))
        return CheckoutComplete(order=Order.of(row))

    @strawberry.mutation
    def order_capture(self, id: strawberry.ID) -> OrderCapture:
        try:
            row = flow.capture_order(id)
        except flow.CheckoutError as exc:
            return OrderCapture(errors=_errors(exc))
        return OrderCapture(order=Order.of(row))


# Each operation counted by its name; a payload's non-empty `errors` is a "rejected" one.
schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[MoneyPathExtension.using(get_moneypath)])
