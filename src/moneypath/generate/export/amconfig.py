"""Alertmanager configuration (as `routing.alertmanager_config` makes it) → an AlertmanagerConfig's spec
(monitoring.coreos.com/v1alpha1).

The CRD spells Alertmanager's snake_case in camelCase (with a few irregulars: apiURL, clientURL), matchers are
objects rather than strings, secrets are Secret references rather than files, and there is no `global` section.
The operator adds a `namespace="<the object's namespace>"` matcher to the route and inhibit rules, so the alerts
must carry that label (kube.py sets it on every alert rule).
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

from moneypath.generate.export.options import ExportError

# Alertmanager key → CRD key where camelCase alone is not it.
_IRREGULAR = {"api_url": "apiURL", "client_url": "clientURL", "icon_url": "iconURL", "image_url": "imageURL",
              "thumb_url": "thumbURL", "require_tls": "requireTLS", "links": "pagerDutyLinkConfigs",
              "images": "pagerDutyImageConfigs", "source_matchers": "sourceMatch", "target_matchers": "targetMatch"}
# `<field>_file` → the CRD's Secret reference field, where it is not camelCase of <field>.
_SECRET_FIELDS = {"url": "urlSecret", "bearer_token": "bearerTokenSecret"}
# Alertmanager maps that the CRD takes as lists of {key, value}.
_KEY_VALUE_LISTS = {"details"}
_TRANSLATED = {"global", "route", "receivers", "inhibit_rules"}
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*')


def camel(key: str) -> str:
    if key in _IRREGULAR:
        return _IRREGULAR[key]
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def matcher(text: str) -> dict:
    """'severity="page"' → {name: severity, value: page, matchType: "="}."""
    m = _MATCHER.fullmatch(text)
    if m is None:
        raise ExportError(f"routing matcher {text!r} is not name<op>\"value\": cannot translate it")
    return {"name": m.group(1), "value": json.loads(m.group(3)), "matchType": m.group(2)}


def _route(route: dict) -> dict:
    out = {}
    for key, value in route.items():
        if key == "matchers":
            out["matchers"] = [matcher(m) for m in value]
        elif key == "routes":
            out["routes"] = [_route(r) for r in value]
        else:
            out[camel(key)] = value
    return out


class _Secrets:
    """`*_file` settings (a key file on the Alertmanager host) become references to keys of one Secret in the
    object's namespace; the keys are the files' names, which the team creates the Secret with."""

    def __init__(self, name: str):
        self.name = name
        self.keys: list[str] = []

    def ref(self, path: str) -> dict:
        key = re.sub(r"[^-._a-zA-Z0-9]", "-", PurePosixPath(path).name) or "key"
        if key not in self.keys:
            self.keys.append(key)
        return {"name": self.name, "key": key}


def _receiver_config(config: dict, secrets: _Secrets) -> dict:
    out = {}
    for key, value in config.items():
        if key.endswith("_file"):
            field = key.removesuffix("_file")
            out[_SECRET_FIELDS.get(field) or camel(field)] = secrets.ref(value)
        elif key in _KEY_VALUE_LISTS and isinstance(value, dict):
            out[camel(key)] = [{"key": k, "value": str(v)} for k, v in value.items()]
        elif key == "links" and isinstance(value, list):  # PagerDuty: {href, text} → {href, alt}
            out[camel(key)] = [{"href": link["href"], "alt": link.get("text", "")} for link in value]
        elif isinstance(value, dict):
            out[camel(key)] = _receiver_config(value, secrets)
        elif isinstance(value, list):  # Slack fields and actions, Opsgenie responders: objects, camelCase too
            out[camel(key)] = [_receiver_config(v, secrets) if isinstance(v, dict) else v for v in value]
        else:
            out[camel(key)] = value
    return out


def spec(config: dict, secret_name: str) -> tuple[dict, list[str]]:
    """(the AlertmanagerConfig spec, the keys its Secret must hold) for an Alertmanager configuration. The
    `global` section has no place in the CRD: the cluster's Alertmanager keeps its own."""
    unknown = set(config) - _TRANSLATED
    if unknown:  # never drop a part of the routing silently
        raise ExportError(f"the routing has {', '.join(sorted(unknown))}, which the AlertmanagerConfig export does "
                          "not translate yet")
    secrets = _Secrets(secret_name)
    receivers = []
    for receiver in config["receivers"]:
        out = {"name": receiver["name"]}
        for kind, configs in receiver.items():
            if kind != "name":
                out[camel(kind)] = [_receiver_config(c, secrets) for c in configs]
        receivers.append(out)
    inhibit = [{camel(k): [matcher(m) for m in v] if k.endswith("matchers") else v for k, v in rule.items()}
               for rule in config.get("inhibit_rules", [])]
    out = {"route": _route(config["route"]), "receivers": receivers}
    if inhibit:
        out["inhibitRules"] = inhibit
    return out, secrets.keys
