"""The scenario file's `kubernetes:` block: how `moneypath export loadtest` runs one of the file's scenarios on a
Kubernetes cluster, a master Job and a Deployment of workers (moneypath.generate.export.loadtest writes them;
docs/decisions/0024-load-test-on-kubernetes-plain-manifests.md says why plain manifests).

Pure: the model and its checks, no I/O. Names that become Kubernetes objects are checked here, so a bad one is a
line of the scenario file (file, line, key) rather than a refused `kubectl apply` later.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator

from moneypath._common.strict import StrictModel as _Model

# apimachinery's validation: a DNS-1123 label (namespaces, at most 63) and subdomain (Secrets, claims, at most 253).
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# A resource quantity as people write one: 500m, 1, 1.5, 512Mi, 2G (Kubernetes' quantity grammar, exponents aside).
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")


def _quantity(value):
    """A number written bare in YAML (cpu: 1) is the quantity "1"."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Quantity = Annotated[str, BeforeValidator(_quantity)]


class Resources(_Model):
    """A container's resources (requests and limits of cpu, memory, ephemeral-storage), as Kubernetes takes them."""
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)

    @field_validator("requests", "limits")
    @classmethod
    def _known(cls, value: dict[str, str]) -> dict[str, str]:
        for name, quantity in value.items():
            if name not in RESOURCE_NAMES:
                raise ValueError(f"{name!r} is not a resource here (one of {', '.join(RESOURCE_NAMES)})")
            if not _QUANTITY.fullmatch(quantity):
                raise ValueError(f"{name}: {quantity!r} is not a quantity (e.g. 500m or 1 for cpu, 512Mi for memory)")
        return value


# A worker is one Locust process: one core is all it can use, and a core it must have, or the generator (not the
# service) sets the rate. Requests equal to limits: the Guaranteed QoS class, never throttled below what it asked.
WORKER_RESOURCES = Resources(requests={"cpu": "1", "memory": "512Mi"}, limits={"cpu": "1", "memory": "512Mi"})
# The master aggregates every worker's stats and writes the report and its plots at the end.
MASTER_RESOURCES = Resources(requests={"cpu": "1", "memory": "1Gi"}, limits={"cpu": "1", "memory": "1Gi"})


def _url(value: str | None) -> str | None:
    if value is not None and (not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value)):
        raise ValueError(f"{value!r} is not an http(s):// URL")
    return value.rstrip("/") if value else value


class KubernetesTarget(_Model):
    """The URLs the master's `moneypath loadtest` is given, as the pods reach them (a Service's DNS name)."""
    service: str  # --host: the payment service the workers load
    prometheus: str | None = None  # --prometheus (the one scraping the service); none: --no-prometheus
    faultproxy: str | None = None  # for scenarios with faults at: faultproxy
    providersim: str | None = None  # for scenarios with faults at: providersim

    @field_validator("service", "prometheus", "faultproxy", "providersim")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _url(value)


class KubernetesRun(_Model):
    """One scenario run on Kubernetes: the master (`moneypath loadtest SCENARIO --bind 0.0.0.0:5557 --workers N`)
    as a Job, its workers (`moneypath loadtest-worker --master <service>:5557`) as a Deployment of `workers`
    replicas, in the team's image (moneypath installed)."""
    scenario: str = Field(min_length=1)  # a scenario of this file
    workers: int = Field(ge=1, le=500)
    image: str = Field(min_length=1)
    target: KubernetesTarget
    namespace: str = "default"
    token_secret: str | None = None  # a Secret the team creates (MONEYPATH_TOKEN, ...); none: --no-auth
    rate: float | None = Field(gt=0, default=None)  # --rate (default: the file's baseline)
    users: int | None = Field(ge=1, default=None)  # --users
    duration_s: float | None = Field(gt=0, default=None)  # --duration (default: the scenario's)
    wait_workers_s: float = Field(gt=0, default=300)  # --wait-workers: pods pull the image and start first
    locustfile: str = Field(min_length=1, default="locustfile.py")  # relative to this file
    files: list[str] = Field(default_factory=list)  # more files the locustfile reads (a request template)
    worker_resources: Resources = WORKER_RESOURCES
    master_resources: Resources = MASTER_RESOURCES
    report_claim: str | None = None  # an existing PersistentVolumeClaim for the reports (none: one is made)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
            raise ValueError(f"{value!r} is not a Kubernetes namespace (lower-case letters, digits and -, at most 63)")
        return value

    @field_validator("token_secret", "report_claim")
    @classmethod
    def _object_name(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value)):
            raise ValueError(f"{value!r} is not a Kubernetes object name (lower-case letters, digits, - and .)")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not an image reference (no spaces)")
        return value
