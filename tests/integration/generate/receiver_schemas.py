"""What PagerDuty, Opsgenie, Slack and a generic webhook accept, as JSON Schemas written from each vendor's
documentation (page cited above each): required fields, fixed value sets and length limits. Only what the
documents state; fields they leave open stay open."""

from __future__ import annotations

# PagerDuty Events API v2, "Send an Alert Event":
# https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ and .../resolve-events/
# (routing_key 32 characters in practice, not checked; dedup_key at most 255; payload.summary at most 1,024;
# payload.severity one of critical, error, warning, info; payload required to trigger).
PAGERDUTY_EVENT = {
    "type": "object",
    "required": ["routing_key", "event_action"],
    "properties": {
        "routing_key": {"type": "string", "minLength": 1},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "minLength": 1, "maxLength": 255},
        "client": {"type": "string"},
        "client_url": {"type": "string"},
        "payload": {
            "type": "object",
            "required": ["summary", "source", "severity"],
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
                "source": {"type": "string", "minLength": 1},
                "severity": {"enum": ["critical", "error", "warning", "info"]},
                "timestamp": {"type": "string"},
                "component": {"type": "string"},
                "group": {"type": "string"},
                "class": {"type": "string"},
                "custom_details": {"type": "object"},
            },
        },
        "links": {"type": "array", "items": {"type": "object", "required": ["href"], "properties": {
            "href": {"type": "string", "pattern": "^https?://"}, "text": {"type": "string"}}}},
        "images": {"type": "array", "items": {"type": "object", "required": ["src"]}},
    },
    "if": {"properties": {"event_action": {"const": "trigger"}}},
    "then": {"required": ["payload"]},
    "else": {"required": ["dedup_key"]},  # resolve and acknowledge name the incident they act on
}

# Opsgenie Alert API, "Create Alert": https://docs.opsgenie.com/docs/alert-api#create-alert
# (message required, at most 130 characters; alias 512; description 15,000; source 100; entity 512;
# note 25,000; tags 20 of 50 characters; priority P1 to P5).
OPSGENIE_CREATE = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {"type": "string", "minLength": 1, "maxLength": 130},
        "alias": {"type": "string", "maxLength": 512},
        "description": {"type": "string", "maxLength": 15000},
        "responders": {"type": "array", "items": {"type": "object"}},
        "visibleTo": {"type": "array"},
        "actions": {"type": "array", "maxItems": 10, "items": {"type": "string", "maxLength": 50}},
        "tags": {"type": "array", "maxItems": 20, "items": {"type": "string", "maxLength": 50}},
        "details": {"type": "object", "additionalProperties": {"type": "string"}},
        "entity": {"type": "string", "maxLength": 512},
        "source": {"type": "string", "maxLength": 100},
        "priority": {"enum": ["P1", "P2", "P3", "P4", "P5"]},
        "user": {"type": "string", "maxLength": 100},
        "note": {"type": "string", "maxLength": 25000},
    },
}

# Opsgenie Alert API, "Close Alert": https://docs.opsgenie.com/docs/alert-api#close-alert
# (POST /v2/alerts/:identifier/close?identifierType=alias; optional user 100, source 100, note 25,000).
OPSGENIE_CLOSE = {
    "type": "object",
    "properties": {
        "user": {"type": "string", "maxLength": 100},
        "source": {"type": "string", "maxLength": 100},
        "note": {"type": "string", "maxLength": 25000},
    },
}

# Slack incoming webhooks: https://api.slack.com/messaging/webhooks, with the legacy secondary attachments
# of https://api.slack.com/reference/messaging/attachments (a message has text, blocks or attachments).
SLACK_MESSAGE = {
    "type": "object",
    "anyOf": [{"required": ["text"]}, {"required": ["blocks"]},
              {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}}],
    "properties": {
        "text": {"type": "string"},
        "channel": {"type": "string"},
        "attachments": {"type": "array", "items": {
            "type": "object",
            "anyOf": [{"required": ["text"]}, {"required": ["fallback"]}, {"required": ["title"]}],
            "properties": {
                "title": {"type": "string"},
                "title_link": {"type": "string", "pattern": "^https?://"},
                "text": {"type": "string"},
                "fallback": {"type": "string"},
                "color": {"type": "string"},
                "footer": {"type": "string"},
                "mrkdwn_in": {"type": "array", "items": {"enum": ["pretext", "text", "fields"]}},
            },
        }},
    },
}

# Alertmanager's webhook payload, version 4:
# https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
_KV = {"type": "object", "additionalProperties": {"type": "string"}}
WEBHOOK_V4 = {
    "type": "object",
    "required": ["version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
                 "commonAnnotations", "externalURL", "alerts"],
    "properties": {
        "version": {"const": "4"},
        "groupKey": {"type": "string", "minLength": 1},
        "truncatedAlerts": {"type": "integer", "minimum": 0},
        "status": {"enum": ["firing", "resolved"]},
        "receiver": {"type": "string", "minLength": 1},
        "groupLabels": _KV, "commonLabels": _KV, "commonAnnotations": _KV,
        "externalURL": {"type": "string"},
        "alerts": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"],
            "properties": {"status": {"enum": ["firing", "resolved"]}, "labels": _KV, "annotations": _KV,
                           "startsAt": {"type": "string"}, "endsAt": {"type": "string"},
                           "generatorURL": {"type": "string"}, "fingerprint": {"type": "string"}},
        }},
    },
}
