"""The export's options, shared by every platform, and its one error."""

from __future__ import annotations

from dataclasses import dataclass, field

from moneypath.generate.routing import DEFAULT_PAGER_URL


class ExportError(ValueError):
    """One line for the person running export; nothing was written."""


@dataclass(frozen=True)
class LoadRun:
    """`export loadtest`: one scenario run on Kubernetes (generate.export.loadtest), from the scenario file's
    kubernetes: block (moneypath.formats.scenario_kubernetes), with the files its pods read."""

    scenario: str
    workers: int
    image: str  # the team's image, moneypath installed
    namespace: str
    host: str  # the payment service, as the pods reach it
    files: tuple[tuple[str, bytes], ...]  # (path inside the project, content): mounted at the same paths
    locustfile: str  # paths inside the project, each one of `files`
    scenario_file: str
    catalog: str
    prometheus: str | None = None  # None: --no-prometheus
    faultproxy: str | None = None
    providersim: str | None = None
    token_secret: str | None = None  # None: --no-auth
    rate: float | None = None
    users: int | None = None
    duration_s: float | None = None
    wait_workers_s: float = 300
    deadline_s: int = 3600  # the master Job's activeDeadlineSeconds
    worker_resources: dict = field(default_factory=dict)
    master_resources: dict = field(default_factory=dict)
    report_claim: str | None = None  # None: a claim is made


@dataclass(frozen=True)
class Options:
    """Every knob of every platform; a platform reads the ones it has. None: the platform's default."""

    namespace: str | None = None  # kube/vm: the Kubernetes namespace; mimir: the ruler namespace
    labels: dict[str, str] | None = None  # kube/vm: selector labels on the rule objects
    folder: str | None = None  # kube: the Grafana folder the sidecar files the dashboards in (None: the build's)
    folder_annotation: str = "grafana_folder"  # kube: the sidecar's folderAnnotation
    dashboard_labels: dict[str, str] = field(default_factory=lambda: {"grafana_dashboard": "1"})  # kube: sidecar label
    tenant: str = "anonymous"  # mimir: X-Scope-OrgID (Mimir's tenant when multi-tenancy is off)
    # kube: where the receivers' webhooks go (as in alerts/alertmanager.yml) when the catalog declares no deliveries
    pager_url: str = DEFAULT_PAGER_URL
    # argo-rollouts, flagger: the canary judge (`moneypath canary serve`) the templates call, and what they name
    judge_url: str | None = None  # required by both
    name: str | None = None  # object name prefix (default: the catalog's service, then -canary)
    selector_label: str | None = None  # Prometheus label telling canary pods from baseline ones (tool's default)
    prometheus_url: str | None = None  # the Prometheus the tools' own metric providers query
    target: str | None = None  # flagger: the Deployment the Canary manages
    port: int = 80  # flagger: the Canary's service port
    # kube: a game day (generate.export.gameday), a CronJob when gameday_schedule is given
    gameday_schedule: str | None = None  # cron, in gameday_time_zone
    gameday_environment: str | None = None  # the environment's name: the records', and the objects' names
    gameday_drills: tuple[str, ...] = ()  # drill files, as paths inside the image's project
    gameday_image: str | None = None  # an image with moneypath and the team's project (catalog, runbooks, drills)
    gameday_halt_burn: tuple[tuple[str, float], ...] = ()  # (slo, factor): halt when the SLO burns faster
    gameday_halt_alerts: tuple[str, ...] = ()  # halt when one of these alerts crosses its line
    gameday_history_claim: str | None = None  # an existing PersistentVolumeClaim holding the history (None: one made)
    gameday_time_zone: str = "Etc/UTC"
    loadtest: LoadRun | None = None  # loadtest: the run (from the scenario file's kubernetes: block)
