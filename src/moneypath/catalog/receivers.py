"""Where a receiver delivers in production: PagerDuty Events v2, Opsgenie, Slack or a generic webhook.

A secret (routing key, API key, Slack hook URL, bearer token) never goes in the catalog, so it never
reaches a generated file either: each delivery names a file Alertmanager reads at send time
(`routing_key_file`, `api_key_file`, `api_url_file`, `credentials_file`, `url_file`). A literal secret
is refused with the field to use instead.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from moneypath._common.strict import StrictModel


def _is_path(value: str) -> bool:
    """A file path, not a key or a URL pasted in its place: has a slash and no scheme."""
    return "/" in value and "://" not in value and not any(ch.isspace() for ch in value)


def _plain_url(value: str) -> str:
    """An endpoint URL that carries no credential (no user:password@, no ?query that could hold a token)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("url", "must be an http(s) URL")
    if parts.username or parts.password or parts.query:
        raise PydanticCustomError("url_secret", "may carry a credential (user:password@ or a ?query), and the "
                                  "generated config would show it: put the whole URL in a file and give url_file "
                                  "(Alertmanager 0.26 and later)")
    return value


class _Delivery(StrictModel):
    # A field people write the secret into → the *_file field to use instead.
    LITERAL_SECRETS: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secret(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for literal, file_field in cls.LITERAL_SECRETS.items():
                if literal in data:
                    raise PydanticCustomError(
                        "literal_secret", "{literal}: a secret never goes in the catalog (nor the generated "
                        "Alertmanager config); put it in a file Alertmanager can read and give {file_field}",
                        {"literal": literal, "file_field": file_field})
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _file_is_a_path(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name.endswith("_file") and isinstance(value, str) and not _is_path(value):
            raise PydanticCustomError("not_a_path", "give the path of the file that holds the secret "
                                      "(e.g. /etc/alertmanager/secrets/...), not the secret itself")
        return value


class PagerDuty(_Delivery):
    """PagerDuty Events API v2: an event per alert group, deduplicated by Alertmanager's group key hash."""

    LITERAL_SECRETS = {"routing_key": "routing_key_file", "service_key": "routing_key_file"}

    routing_key_file: str = Field(description="Path of the file holding the integration's routing key.")
    url: str | None = Field(default=None, description="The Events API endpoint; the default is PagerDuty's "
                            "(https://events.pagerduty.com/v2/enqueue), the EU service account uses "
                            "https://events.eu.pagerduty.com/v2/enqueue.")

    @field_validator("url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return value if value is None else _plain_url(value)


class Opsgenie(_Delivery):
    """Opsgenie Alert API: GenieKey auth from `api_key_file`, priority from the alert's severity."""

    LITERAL_SECRETS = {"api_key": "api_key_file"}

    api_key_file: str = Field(description="Path of the file holding the Opsgenie API key.")
    api_url: str | None = Field(default=None, description="Default https://api.opsgenie.com/; the EU instance "
                                "is https://api.eu.opsgenie.com/.")

    @field_validator("api_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return value if value is None else _plain_url(value)


class Slack(_Delivery):
    """A Slack incoming webhook: its URL is the credential, so it lives in `api_url_file`."""

    LITERAL_SECRETS = {"api_url": "api_url_file", "url": "api_url_file"}

    api_url_file: str = Field(description="Path of the file holding the incoming webhook's URL.")
    channel: str | None = Field(default=None, pattern=r"^\S+$", description="#name, @user or an ID; the hook's "
                                "own if none")


class Webhook(_Delivery):
    """A generic webhook (incident.io, FireHydrant, Grafana OnCall…) receiving Alertmanager's webhook payload.

    Either `url` (an endpoint that is not itself a credential) with an optional bearer token in
    `credentials_file`, or `url_file` when the URL carries the token (Alertmanager 0.26 and later)."""

    LITERAL_SECRETS = {"credentials": "credentials_file", "bearer_token": "credentials_file",
                       "password": "credentials_file"}

    url: str | None = Field(default=None, description="The endpoint, an http(s) URL carrying no credential.")
    url_file: str | None = Field(default=None, description="Path of a file holding the URL, when the URL is "
                                 "itself the credential.")
    credentials_file: str | None = Field(default=None, description="sent as `Authorization: Bearer <file "
                                         "content>`")
    send_resolved: bool = Field(default=True, description="Also post when the alert resolves.")

    @field_validator("url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return value if value is None else _plain_url(value)

    @model_validator(mode="after")
    def _one_url(self) -> Webhook:
        if (self.url is None) == (self.url_file is None):
            raise PydanticCustomError("one_url", "give exactly one of url or url_file")
        return self


class Deliveries(StrictModel):
    """The production delivery fields a receiver may declare; none means the local `moneypath pager` only."""

    pagerduty: PagerDuty | None = Field(default=None, description="Page through PagerDuty.")
    opsgenie: Opsgenie | None = Field(default=None, description="Page through Opsgenie.")
    slack: Slack | None = Field(default=None, description="Post to a Slack channel.")
    webhook: Webhook | None = Field(default=None, description="Post Alertmanager's webhook payload to an "
                                    "endpoint.")

    def declared(self) -> dict[str, _Delivery]:
        """Kind → delivery, for the kinds this receiver declares (in the order above)."""
        return {kind: d for kind in DELIVERY_KINDS if (d := getattr(self, kind)) is not None}


DELIVERY_KINDS = ("pagerduty", "opsgenie", "slack", "webhook")
