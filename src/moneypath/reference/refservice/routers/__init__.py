"""The service's HTTP API, one APIRouter per resource; create_app includes them in this order (payments,
the hot path, first: FastAPI matches included routers one after the other).

Modules:
payments (authorize, capture, refund and read a payment),
payouts (money out to a bank account),
webhooks (provider notifications, signed),
health (liveness),
admin_faults (fault injection for drills).
"""

from __future__ import annotations

from moneypath.reference.refservice.routers import admin_faults, health, payments, payouts, webhooks

ROUTERS = (payments.router, payouts.router, webhooks.router, health.router, admin_faults.router)
