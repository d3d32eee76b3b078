"""What shapes a local stack: the one object `moneypath.stack.local.up` takes, checked when it is made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from moneypath.stack.state import StackError

ENGINES = ("prometheus", "vm")
MAX_INSTANCES = 16


@dataclass(frozen=True)
class StackSpec:
    """The stack's shape; a combination it cannot run raises StackError here, before anything starts."""

    # Your services to scrape (host:port of their /metrics), besides the reference service when `services`.
    targets: tuple[str, ...] = ()
    # 1 s scrape and rule intervals and the FAST notification timings (tests, drills); else production's 15 s.
    fast: bool = False
    # Start the provider simulator and the reference service, scraped on its own metrics port
    # (`--metrics-port`, served off the request loop); their secrets go to `<state>/secrets.json`.
    services: bool = False
    # Let drills inject faults into the provider simulator and the service.
    faults: bool = False
    # URLs that receive every scraped and recorded series (Mimir, Thanos Receive, VictoriaMetrics: see
    # docs/platforms.md, "When one Prometheus is not enough").
    remote_write: tuple[str, ...] = ()
    # > 1 runs compressed copies of the rules (windows and `for:` divided by it; moneypath.generate.compress):
    # drills use it, alerts/ stays as committed.
    time_factor: float = 1.0
    # > 1 runs the reference service as that many processes (`--workers`; metrics summed through
    # `<state>/metrics-mp`, without exemplars).
    service_workers: int = 1
    # The service's ledger database; None: a SQLite file in the state directory.
    db_url: str | None = None
    # Production's shape: two Prometheus replicas with the same rules (parts prometheus, prometheus-b; replica
    # labels a, b), each sending to a two-node Alertmanager cluster gossiping on loopback (alertmanager,
    # alertmanager-b).
    ha: bool = False
    # "vm" runs the same rules on VictoriaMetrics instead: victoria-metrics scrapes and stores (and answers the
    # Prometheus API, proxying /api/v1/alerts and /api/v1/rules to vmalert), vmalert evaluates the rule files
    # and writes recorded series and alert state back to it.
    engine: str = "prometheus"
    # > 1 runs that many reference service processes on one database, each on its own port and scraped as its
    # own target (parts refservice, refservice-1, …; label instance = its metrics host:port): production's
    # shape, where every rule must aggregate `instance` away (moneypath.check.instances). Instance 0 alone runs
    # the once-per-database jobs (reconciliation, the audit chain's walk and checkpoints:
    # MONEYPATH_SINGLETON_JOBS=off elsewhere); every instance delivers the outbox, which is safe concurrently
    # (rows claimed FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's BEGIN IMMEDIATE serializes writers).
    instances: int = 1
    # Start a throwaway PostgreSQL (Debian's binaries, moneypath.stack.pgserver) for the ledger instead of the
    # SQLite file: part "postgres", its cluster deleted by `down`.
    postgres: bool = False
    # Evaluate the rules at this interval instead of the scrape's (load tests: production's 15 s, see
    # docs/decisions/0011-load-test-rules-every-15s.md). None: as often as the stack scrapes.
    rules_every: str | None = None
    # How long `up` waits for every part to answer.
    timeout_s: float = 60.0
    # How long `up` holds the alert rules (recording rules and the Watchdog run) waiting for each of `targets` to
    # answer its first scrape (moneypath.stack.first_scrape); past it the stack stops. 0: rules on at once.
    target_wait_s: float = 120.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", tuple(self.targets))
        object.__setattr__(self, "remote_write", tuple(self.remote_write))
        if self.engine not in ENGINES:
            raise StackError(f"unknown engine {self.engine!r} (known: {', '.join(ENGINES)})")
        if self.target_wait_s < 0:
            raise StackError(f"--target-wait {self.target_wait_s:g} must be 0 or more seconds")
        if not 1 <= self.instances <= MAX_INSTANCES:
            raise StackError(f"--instances {self.instances} must be between 1 and {MAX_INSTANCES}")
        if self.postgres and (self.db_url or not self.services):
            raise StackError("--postgres starts the reference service's database: not with --db-url, --target or "
                             "--no-services")
        if self.ha and self.engine != "prometheus":
            raise StackError("--ha runs a Prometheus pair; with --engine vm run vmalert in pairs yourself "
                             "(docs/platforms.md)")

    @property
    def interval(self) -> str:
        """The scrape interval (and the rules', unless `rules_every`)."""
        return "1s" if self.fast else "15s"


@dataclass(frozen=True)
class TargetSpec:
    """A running environment to work on (a team's staging, or a stack `moneypath up` started): its URLs, its other
    service instances and the database its money checks read. No URL and no database: nothing given, the command
    starts a stack of its own."""

    service: str | None = None
    prometheus: str | None = None
    alertmanager: str | None = None
    pager: str | None = None
    faultproxy: str | None = None
    providersim: str | None = None
    instances: tuple[str, ...] = ()
    db_url: str | None = None
    # Before a drill's peak that declares headroom, measure what the target carries (always on a stack of its own).
    probe_headroom: bool = False
    # It serves traffic of its own (staging): a run's conservation of counts is one-sided (counted >= acknowledged).
    shared: bool = False

    @property
    def given(self) -> bool:
        return any((self.service, self.prometheus, self.alertmanager, self.pager, self.faultproxy, self.providersim,
                    self.db_url))


@dataclass(frozen=True)
class RunSpec:
    """Where a command runs, built once by the CLI (options, environment, moneypath.run.yaml) and passed on
    unchanged: the target (when given), the shape of a stack the command starts itself, the target's time factor
    (how many times faster than production its rules run) and the state directory."""

    target: TargetSpec = TargetSpec()
    stack: StackSpec = StackSpec()
    time_factor: float = 1.0
    state_dir: Path = Path(".moneypath")
