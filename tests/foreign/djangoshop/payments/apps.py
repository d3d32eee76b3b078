from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "djangoshop.payments"
    label = "payments"
