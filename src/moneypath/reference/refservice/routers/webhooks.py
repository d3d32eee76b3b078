"""Provider notifications: POST /v1/webhooks/{provider}, signed (moneypath.reference.signing)."""

from __future__ import annotations

import hashlib
import json
import math
import time

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError

from moneypath.catalog.pan import REDACTED, mentions_card_number, redact_card_mentions
from moneypath.reference.refservice import openapi, payment_state
from moneypath.reference.refservice.audit import trail
from moneypath.reference.refservice.db import webhook_events
from moneypath.reference.refservice.dependencies import ServicesDep
from moneypath.reference.refservice.problems import ApiProblem
from moneypath.reference.refservice.statements import Prepared
from moneypath.reference.signing import HEADER as SIGNATURE_HEADER
from moneypath.reference.signing import SECRET_ENV, WebhookSignatureError, secret_env

router = APIRouter()
_STORE = Prepared(webhook_events.insert().values({name: bindparam(name) for name in (
    "provider", "event", "provider_ref", "body", "received_at")}))


def _redacted(value):
    """A provider event with every card number in it (strings, keys, numbers) replaced by a marker, glued
    to letters or not ("card 4111111111111111", "ord4111111111111111"); and whether there was one."""
    if isinstance(value, str):
        clean = redact_card_mentions(value)
        return clean, clean != value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # a number as a whole (4111111111111111, 4111111111111111.0): its integer part, so that a window inside
        # its digits or a fractional timestamp's 17 digits (1795547276.2795284) is not taken for a card
        whole = str(int(value)) if math.isfinite(value) else ""
        return (REDACTED, True) if mentions_card_number(whole) else (value, False)
    if isinstance(value, list):
        items = [_redacted(v) for v in value]
        return [v for v, _ in items], any(r for _, r in items)
    if isinstance(value, dict):
        pairs = [(_redacted(k), _redacted(v)) for k, v in value.items()]
        return {k: v for (k, _), (v, _) in pairs}, any(rk or rv for (_, rk), (_, rv) in pairs)
    return value, False


WEBHOOK_STATUS = {"invalid_signature": 401, "stale": 400, "replayed": 409}


class WebhookAck(BaseModel):
    accepted: bool  # stored now; false for an event delivered before
    duplicate: bool
    booked: bool  # a capture.settled event booked a capture the service had not booked


@router.post("/v1/webhooks/{provider}", response_model=WebhookAck,
             responses=openapi.refusals(401, 404, 409, 503, said={
                 400: "Stale signature, or signed but not a provider event (or an invalid path or Content-Length).",
                 401: "The signature does not verify with this provider's secret.",
                 404: "The catalog names no such provider.", 409: "The signature's nonce was seen before.",
                 503: "No webhook secret for this provider (MONEYPATH_WEBHOOK_SECRET or its own)."}),
             openapi_extra={"security": [{openapi.WEBHOOK_SIGNATURE: []}], "x-audit": openapi.audit_event("webhook")})
async def webhook(request: Request, provider: str, svc: ServicesDep):
    """Provider notifications: signed with that provider's own secret, inside the time window, each
    nonce once; the same event delivered twice is acknowledged without being applied again. A
    provider the catalog does not name is not found (and counted)."""
    mp = svc.mp
    if provider not in mp.catalog.providers:
        mp.count_webhook("other", "unknown_provider")
        raise ApiProblem(404, "webhook-unknown-provider", "Unknown provider",
                         "the catalog names no such provider")
    verifier = svc.verifiers.get(provider)
    if verifier is None:
        raise ApiProblem(503, "webhooks-disabled", "Webhooks disabled",
                         f"no webhook secret configured for {provider} ({SECRET_ENV} or {secret_env(provider)})")
    body = await request.body()
    try:
        verifier.verify(request.headers.get(SIGNATURE_HEADER), body)
        text = body.decode("utf-8")  # stored as text; anything else is not a provider event
        event = json.loads(text)
        # Matched on the provider's own identifiers as sent: a hex id holds a Luhn-valid digit run about twice in
        # a thousand, and a redacted provider_ref would leave its capture unbooked. Stored, such an id is its
        # digest: one event per id still (the unique constraint), and no card-like number in the column.
        key = (str(event["event"]), str(event["provider_ref"]))
        stored_ref = key[1] if redact_card_mentions(key[1]) == key[1] else \
            "sha256:" + hashlib.sha256(key[1].encode()).hexdigest()
        clean, redacted = _redacted(event)
        if redacted:  # signed by the provider, so resent if refused: stored without the card number instead
            text = json.dumps(clean, ensure_ascii=False, separators=(",", ":"))
        if len(key[0]) > 64 or len(key[1]) > 128:  # the columns' sizes
            raise ValueError("event or provider_ref too long")
    except WebhookSignatureError as exc:
        mp.count_webhook(provider, exc.kind)
        raise ApiProblem(WEBHOOK_STATUS[exc.kind], f"webhook-{exc.kind.replace('_', '-')}", "Webhook rejected",
                         str(exc)) from None
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested too deeply
        mp.count_webhook(provider, "invalid_signature")
        raise ApiProblem(400, "webhook-malformed", "Webhook rejected", "signed, but not a provider event") from None
    if redacted:
        mp.count_card_number("webhook", "redacted")

    def store_event() -> tuple[bool, dict | None]:
        """Store the event once; a capture the provider settled that we never booked (our call
        timed out, theirs succeeded) is booked now, in the same transaction."""
        try:
            with svc.engine.begin() as conn, trail.acting(f"provider:{provider}"):
                _STORE.count(conn, {"provider": provider, "event": key[0], "provider_ref": stored_ref, "body": text,
                                    "received_at": time.time()})
                if key[0] != "capture.settled":
                    return True, None
                row = payment_state.by_provider_ref(conn, provider, key[1])
                booked = row is not None and payment_state.mark_captured(conn, row, str(event.get("status", "")))
                return True, row if booked else None
        except IntegrityError:
            return False, None

    # a capture.settled event may book a capture: a ledger write like the API's, measured the same way
    start = time.perf_counter()
    try:
        fresh, booked = await svc.in_db(store_event, durable=True)
    except Exception:
        if key[0] == "capture.settled":
            mp.record_ledger_write("failed", time.perf_counter() - start)
        raise
    if booked is not None:
        mp.record_ledger_write("committed", time.perf_counter() - start)
        svc.cost.provider_fee(booked["provider"], booked["amount_minor"], booked["currency"])
    mp.count_webhook(provider, "accepted" if fresh else "duplicate")
    return {"accepted": fresh, "duplicate": not fresh, "booked": booked is not None}
