"""The service's wiring, built once per app by create_app: the ledger's engines, the metrics, the
provider adapters, fault injection, cost, risk, outbox, reconciliation and the idempotent request
flow. Stored on `app.state.services`; the routers reach it through `Depends(services)`
(moneypath.reference.refservice.dependencies)."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

import httpx

from moneypath.catalog.conventions import Detector
from moneypath.instrument import MoneyPath
from moneypath.reference.refservice import ledger
from moneypath.reference.refservice.adapters import ADAPTERS, Adapter
from moneypath.reference.refservice.audit.chain_check import AuditCheck, Checkpointing, checkpoint_publisher
from moneypath.reference.refservice.booking import Idempotent
from moneypath.reference.refservice.config import ServiceConfig
from moneypath.reference.refservice.cost import CostMeter
from moneypath.reference.refservice.db import LOCK_WAIT_MS, is_lock_timeout, make_engine, make_reader
from moneypath.reference.refservice.durability import Checkpointer, GroupSync
from moneypath.reference.refservice.idempotency import IdempotencyStore
from moneypath.reference.refservice.outbox import OutboxWorker
from moneypath.reference.refservice.problems import ApiProblem
from moneypath.reference.refservice.provider_http import provider_http
from moneypath.reference.refservice.reconciliation import Reconciler
from moneypath.reference.refservice.resilience import RetryPolicy
from moneypath.reference.refservice.risk import RiskScreen
from moneypath.reference.refservice.service_faults import service_faults
from moneypath.reference.signing import WebhookVerifier, secrets_by_provider

# How long the event loop waits for SQLite's write lock before handing the call to a thread (see
# in_db). A few ms covers a background job's short transaction; at 0 one overlap sends a write to
# the thread, which holds the lock while waiting for the GIL, and the next writes overlap too.
# Why 5 ms: docs/decisions/0007-sqlite-write-lock-wait-inline.md
INLINE_LOCK_WAIT_MS = 5


class Services:
    """Everything the endpoints use, built once from the config; `aclose()` releases it."""

    def __init__(self, config: ServiceConfig, mp: MoneyPath,
                 provider_transport: httpx.AsyncBaseTransport | None = None):
        self.config, self.mp = config, mp
        self.sqlite = sqlite = config.db_url.startswith("sqlite")
        # SQLite: one engine whose commits do not sync; what acknowledges money syncs in groups before it answers
        # (in_db's durable=True, durability.GroupSync). PostgreSQL: bookings sync at commit (its own group commit),
        # claims need not (see make_engine).
        self.engine = make_engine(config.db_url, durable=not sqlite)
        path = self.engine.url.database
        on_file = sqlite and path not in (None, "", ":memory:")
        self.group_sync = GroupSync(path) if on_file else None
        self.checkpointer = Checkpointer(path) if on_file else None  # a background job (app.create_app)
        self.claims = self.engine if sqlite else make_engine(config.db_url, durable=False)
        self.store = IdempotencyStore(self.claims)
        # SQLite (a local file, one writer at a time) runs on the event loop: a transaction is tens of
        # microseconds of C plus SQLAlchemy's Python, and syncs happen off the loop (GroupSync) — less than
        # handing it to a thread, where it also waits for the GIL while holding SQLite's write lock
        # (docs/decisions/0007-sqlite-write-lock-wait-inline.md). When another writer holds the
        # lock (a background job, another worker process, an operator's script) the loop waits at most
        # INLINE_LOCK_WAIT_MS; then the same call runs again in a thread that waits up to the full busy
        # timeout. PostgreSQL (network round trips, real concurrency) always runs in a pool of threads.
        self.db_threads = ThreadPoolExecutor(1 if self.sqlite else 16, thread_name_prefix="ledger")
        self.client = provider_http(config.provider_url, provider_transport)
        self.adapters: dict[str, Adapter] = {name: cls(self.client, mp, timeout_s=config.provider_timeout_s)
                                             for name, cls in ADAPTERS.items() if name in mp.catalog.providers}
        self.faults = service_faults() if config.enable_faults else None
        self.cost = CostMeter(mp, mp.catalog, self.faults)
        self.risk = RiskScreen(mp, config.risk, self.cost, self.faults)
        self.outbox = OutboxWorker(self.engine, mp, self.faults, max_attempts=config.outbox_max_attempts,
                                   retry=RetryPolicy(config.outbox_max_attempts, base_s=0.2, cap_s=5.0))
        self.reconciler = (Reconciler(self.engine, mp, config.settlement_dir, list(mp.catalog.providers),
                                      config.reconcile_grace_s, config.missing_after_s)
                           if config.settlement_dir else None)
        self.reader = make_reader(config.db_url)
        publisher = checkpoint_publisher(config)
        checkpoints = (Checkpointing(publisher, config.audit_checkpoint_interval_s,
                                     before_signing=self.group_sync.sync_now if self.group_sync else None)
                       if publisher is not None else None)
        self.audit = AuditCheck(self.engine, self.reader, mp, self.faults, checkpoints=checkpoints,
                                walker_db_url=config.db_url if config.audit_check_process else None)
        self.imbalance = ledger.RunningImbalance()
        self.currencies = list(mp.catalog.currencies)
        self.verifiers = {name: WebhookVerifier(secret) for name, secret in
                          secrets_by_provider(mp.catalog.providers, config.webhook_secret,
                                              config.webhook_secrets).items()}
        self.idempotent = Idempotent(self.store, self.engine, mp, self.faults, self.in_db)

    async def in_db(self, fn, *args, durable: bool = False):
        """fn(*args): a function of database transactions only, so safe to run again after a lock timeout.
        durable=True before acknowledging what fn committed: returns once it is on disk."""
        result = await self._run_db(fn, *args)
        if durable and self.group_sync is not None:
            await self.group_sync.sync()
        return result

    async def _run_db(self, fn, *args):
        if self.sqlite:
            token = LOCK_WAIT_MS.set(INLINE_LOCK_WAIT_MS)
            try:
                return fn(*args)
            except Exception as exc:
                if not is_lock_timeout(exc):
                    raise
            finally:
                LOCK_WAIT_MS.reset(token)
        return await self._in_thread(fn, *args)

    async def _in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.db_threads, contextvars.copy_context().run,
                                                                fn, *args)

    def measure_ledger(self) -> None:
        with self.reader.connect() as conn:  # a read: never the writers' connection or lock
            sums = self.imbalance.update(conn)
        for currency in {*self.currencies, *sums}:
            self.mp.set_ledger_imbalance(currency, sums.get(currency, 0))
        self.mp.record_detector_run(Detector.LEDGER_BALANCE)

    def adapter_for(self, provider: str) -> Adapter:
        if provider not in self.adapters:
            raise ApiProblem(422, "unknown-provider", "Unknown provider",
                             f"provider must be one of {', '.join(sorted(self.adapters))}")
        return self.adapters[provider]

    async def aclose(self) -> None:
        """After the background jobs stopped: the provider client, the audit walker, the database threads and
        engines."""
        await self.client.aclose()
        self.audit.close()
        self.db_threads.shutdown(wait=True)
        if self.group_sync is not None:
            self.group_sync.close()
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.engine.dispose()
        if self.claims is not self.engine:
            self.claims.dispose()
        self.reader.dispose()
