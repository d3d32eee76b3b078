"""The reference service's configuration: `ServiceConfig`, from arguments (tests, benchmarks) or
from MONEYPATH_* environment variables (`python -m moneypath.reference.refservice`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from moneypath.protocol.tokens import MAX_LIFETIME_S
from moneypath.reference.refservice.risk import RiskPolicy
from moneypath.reference.signing import own_secrets


@dataclass(frozen=True)
class ServiceConfig:
    catalog: str = "moneypath.yaml"
    db_url: str = "sqlite:///moneypath-ledger.db"
    provider_url: str = "http://127.0.0.1:8100"
    token_secret: bytes = b""
    webhook_secret: bytes = b""  # each provider's secret is derived from it unless it has its own:
    webhook_secrets: Mapping[str, bytes] = field(default_factory=dict)  # by variable (signing.secret_env)
    token_max_lifetime_s: float = MAX_LIFETIME_S  # a token that lives longer (exp - iat) is refused
    provider_timeout_s: float = 2.0
    enable_faults: bool = False  # the /admin/faults API for drills; off in production
    risk: RiskPolicy = RiskPolicy()
    settlement_dir: str = ""  # provider settlement files to reconcile; "" turns reconciliation off
    reconcile_interval_s: float = 5.0
    reconcile_grace_s: float = 30.0  # a settlement line may arrive before its capture commits
    missing_after_s: float = 3600.0  # a capture no settlement mentions by then is a break
    outbox_interval_s: float = 0.5
    outbox_max_attempts: int = 5
    # How often the background check walks the audit trail's hash chain. Each check costs what came since the last
    # (and a sweep as large): a long interval piles the work into one burst that takes throughput while it runs
    # and grows the WAL; a short one spreads the same work evenly.
    audit_verify_interval_s: float = 5.0
    # Walk the chain in a child process (audit/walker.py): its hashing then never holds the interpreter's lock that
    # request handling needs. The service's own run (from_env: MONEYPATH_AUDIT_CHECK_PROCESS, default on) does; an
    # app built in code (tests, embedded in another process) walks in a thread, pausing between pages.
    audit_check_process: bool = False
    # Signed checkpoints of the audit trail (moneypath.protocol.audit.checkpoint): a directory no database writer
    # can reach, and the signer key file (`moneypath audit keygen`); both or neither. "" : no checkpoints.
    audit_checkpoint_dir: str = ""
    audit_checkpoint_key: str = ""
    audit_checkpoint_interval_s: float = 60.0  # at most this often, at a check that found the chain intact
    background_jobs: bool = True  # outbox, reconciliation, ledger imbalance, cost accrual, audit chain, log checkpoints
    # The jobs one instance per database runs (reconciliation, the audit chain's walk and checkpoints); off on the
    # other instances of a service sharing the database. The rest run everywhere: the outbox claims rows with SKIP
    # LOCKED, and the imbalance each instance reads from the shared ledger is the same value (aggregate: max).
    singleton_jobs: bool = True
    instrumented: bool = True  # False: metrics off (no middleware, no /metrics); the benchmark's baseline
    admission: bool = True  # adaptive limit on requests in flight, fast 503 above it (admission.py); off: a baseline

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServiceConfig:
        """From MONEYPATH_* variables; a bad value stops with one line naming the variable."""
        env = os.environ if env is None else env
        secret = env.get("MONEYPATH_TOKEN_SECRET", "")
        if not secret:
            raise SystemExit("moneypath refservice: set MONEYPATH_TOKEN_SECRET (it signs and checks API tokens)")

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = env.get(name, "")
            try:
                value = float(raw) if raw else default
            except ValueError:
                raise SystemExit(f"moneypath refservice: {name}={raw!r} is not a number") from None
            if not low <= value <= high:
                raise SystemExit(f"moneypath refservice: {name}={raw} must be between {low:g} and {high:g}")
            return value

        def on(name: str) -> bool:
            raw = env.get(name, "on")
            if raw not in ("on", "off"):
                raise SystemExit(f"moneypath refservice: {name}={raw!r} must be on or off")
            return raw == "on"

        fallback = env.get("MONEYPATH_RISK_FALLBACK", "allow")
        instrumented, singleton, admission = (on("MONEYPATH_INSTRUMENTATION"), on("MONEYPATH_SINGLETON_JOBS"),
                                              on("MONEYPATH_ADMISSION"))
        audit_check_process = on("MONEYPATH_AUDIT_CHECK_PROCESS")
        if fallback not in ("allow", "hold"):
            raise SystemExit(f"moneypath refservice: MONEYPATH_RISK_FALLBACK={fallback!r} must be allow or hold")
        checkpoint_dir = env.get("MONEYPATH_AUDIT_CHECKPOINT_DIR", "")
        checkpoint_key = env.get("MONEYPATH_AUDIT_CHECKPOINT_KEY", "")
        if bool(checkpoint_dir) != bool(checkpoint_key):
            raise SystemExit("moneypath refservice: MONEYPATH_AUDIT_CHECKPOINT_DIR and MONEYPATH_AUDIT_CHECKPOINT_KEY "
                             "go together (where to publish the audit trail's checkpoints, the key that signs them)")
        if checkpoint_key:
            from moneypath.protocol.audit.checkpoint import CheckpointError, Signer, read_key

            try:
                Signer(read_key(checkpoint_key, "signer key"))
            except CheckpointError as exc:
                raise SystemExit(f"moneypath refservice: MONEYPATH_AUDIT_CHECKPOINT_KEY: {exc}") from None
        return cls(catalog=env.get("MONEYPATH_CATALOG", "moneypath.yaml"),
                   db_url=env.get("MONEYPATH_DB_URL", cls.db_url),
                   provider_url=env.get("MONEYPATH_PROVIDER_URL", cls.provider_url),
                   token_secret=secret.encode(),
                   webhook_secret=env.get("MONEYPATH_WEBHOOK_SECRET", "").encode(),
                   webhook_secrets=own_secrets(env),
                   token_max_lifetime_s=number("MONEYPATH_TOKEN_MAX_LIFETIME_S", MAX_LIFETIME_S, 60, 7 * 86_400),
                   enable_faults=env.get("MONEYPATH_ENABLE_FAULTS", "") in ("1", "true", "yes"),
                   risk=RiskPolicy(timeout_s=number("MONEYPATH_RISK_TIMEOUT_MS", 150, 1, 30_000) / 1000,
                                   fallback=fallback,
                                   allow_limit_minor=int(number("MONEYPATH_RISK_ALLOW_LIMIT_MINOR", 5000, 0, 10**12))),
                   settlement_dir=env.get("MONEYPATH_SETTLEMENT_DIR", ""),
                   reconcile_interval_s=number("MONEYPATH_RECONCILE_INTERVAL_S", 5, 0.1, 86_400),
                   reconcile_grace_s=number("MONEYPATH_RECONCILE_GRACE_S", 30, 0, 86_400),
                   missing_after_s=number("MONEYPATH_MISSING_AFTER_S", 3600, 1, 30 * 86_400),
                   audit_verify_interval_s=number("MONEYPATH_AUDIT_VERIFY_INTERVAL_S", 5, 0.1, 86_400),
                   audit_checkpoint_dir=checkpoint_dir, audit_checkpoint_key=checkpoint_key,
                   audit_checkpoint_interval_s=number("MONEYPATH_AUDIT_CHECKPOINT_INTERVAL_S", 60, 0.1, 86_400),
                   audit_check_process=audit_check_process, instrumented=instrumented, admission=admission,
                   singleton_jobs=singleton)
