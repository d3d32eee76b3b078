"""`moneypath up | down | status`: the local stack on loopback.

Prometheus (generated scrape config, recording and alert rules, exemplar storage on),
Alertmanager (generated routing) and `moneypath pager`, each on a free port, with their
configuration, data and logs in a state directory. What runs is recorded in
`<state>/stack.json`, so `down` and `status` work from another shell.

With the reference service and the catalog's audit trail on, the service signs checkpoints of its audit
chain (moneypath.protocol.audit_checkpoint) into `<state>/audit-checkpoints/` with a key the stack makes once
in the state directory (`audit-checkpoint.key`, mode 0600, and `.pub`): files beside the ledger, never in it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import yaml

from moneypath._common import atomic
from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath.catalog import Catalog, duration_seconds
from moneypath.catalog.conventions import HA_COMPONENTS, HA_REPLICAS
from moneypath.generate.build import rules_yaml
from moneypath.generate.compress import compress_rules
from moneypath.generate.prometheus_config import prometheus_config, retention
from moneypath.generate.routing import FAST, Timings, render_alertmanager
from moneypath.generate.rules import alert_rules, recording_rules
from moneypath.protocol.audit_checkpoint import FILE as CHECKPOINT_FILE
from moneypath.protocol.audit_checkpoint import CheckpointError, write_key_pair

STATE_FILE = "stack.json"
LEDGER_DB = "ledger.db"  # the service's SQLite file in the state directory, unless up() is given a db_url
ENGINES = ("prometheus", "vm")
INSTANCE_PART = "refservice-"  # parts refservice (instance 0), refservice-1, refservice-2, …
MAX_INSTANCES = 16
AUDIT_KEY = "audit-checkpoint"  # <state>/audit-checkpoint.key (signer, 0600) and .pub (verifier), made once
AUDIT_CHECKPOINTS = "audit-checkpoints"  # <state>/audit-checkpoints/<seq>.note: what the service signed
# How often the service signs its verified head: the fast stack's rules are compressed 60x (drills), so its
# checkpoints must trail the head by seconds; otherwise the service's production default.
AUDIT_CHECKPOINT_INTERVAL_S = {True: "2", False: "60"}
REPLICAS = ("", "-b")  # part-name suffixes of an HA pair: prometheus and prometheus-b, alertmanager and alertmanager-b


def replica_part(component: str, replica: str) -> str:
    """The part that runs `replica` (HA_REPLICAS: a, b) of a monitoring pair: prometheus-b for (prometheus, b)."""
    if component not in HA_COMPONENTS or replica not in HA_REPLICAS:
        raise StackError(f"no replica {replica!r} of {component!r} (pairs: {', '.join(HA_COMPONENTS)}; "
                         f"replicas {', '.join(HA_REPLICAS)})")
    return component + REPLICAS[HA_REPLICAS.index(replica)]


class StackError(Exception):
    pass


@dataclass
class Part:
    name: str
    url: str
    pid: int
    health_path: str
    log: str
    argv: list[str] = field(default_factory=list)  # how it was started (restart_part starts it so again)


@dataclass
class StackState:
    state_dir: str
    scrape_interval: str
    evaluation_interval: str
    targets: list[str]
    parts: list[Part] = field(default_factory=list)
    time_factor: float = 1.0  # rules compressed by this factor (moneypath.generate.compress); 1 = as committed
    engine: str = "prometheus"  # or "vm": VictoriaMetrics stores and answers queries, vmalert runs the rules
    db_url: str = ""  # the reference service's ledger database, when `up` started it
    postgres_dir: str = ""  # the throwaway PostgreSQL cluster `up --postgres` made; removed by `down`
    ha: bool = False  # the monitoring runs in pairs (replica_part names them)
    fast: bool = False  # 1 s intervals and the FAST notification timings (moneypath.generate.routing)
    # The reference service's signed audit checkpoints ("" when it does not sign): the directory, the verifier
    # key file, and the ledger database they cover ("" for a database the stack was given: its URL is not kept).
    audit_checkpoints: str = ""
    audit_key: str = ""
    ledger_url: str = ""

    def service_urls(self) -> list[str]:
        """Every instance of the reference service, instance 0 (part "refservice") first."""
        return [p.url for p in self.parts if p.name == "refservice" or p.name.startswith(INSTANCE_PART)]

    def audit_verify_command(self) -> str:
        """The one command that checks the stack's ledger against what its service signed."""
        return (f"moneypath audit verify --db {self.ledger_url or 'URL'} --checkpoints {self.audit_checkpoints} "
                f"--key {self.audit_key}")

    def url(self, name: str) -> str:
        """A part's URL; "prometheus" is whatever answers the Prometheus HTTP API (VictoriaMetrics with vm)."""
        if name == "prometheus" and self.engine == "vm":
            name = "victoriametrics"
        return next(p.url for p in self.parts if p.name == name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise StackError(f"{names[0]} not found: install the Debian package (`make setup` does)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_state(state_dir: Path) -> StackState | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    data["parts"] = [Part(**p) for p in data["parts"]]
    return StackState(**data)


def up(c: Catalog, state_dir: Path, targets: list[str], fast: bool = False, progress=print,
       timeout_s: float = 60.0, remote_write: list[str] = (), services: bool = False,
       faults: bool = False, time_factor: float = 1.0, service_workers: int = 1,
       db_url: str | None = None, ha: bool = False, engine: str = "prometheus", instances: int = 1,
       postgres: bool = False) -> StackState:
    """Start Prometheus, Alertmanager and the pager; returns when all of them answer.

    `services` also starts the provider simulator and the reference service (scraped as a
    target; their secrets go to `<state>/secrets.json`); `faults` lets drills inject faults.
    `remote_write` URLs receive every scraped and recorded series (Mimir, Thanos Receive,
    VictoriaMetrics: see collector/README.md). `service_workers` > 1 runs the reference service as that
    many processes (`--workers`; metrics summed through `<state>/metrics-mp`, without exemplars).
    `db_url` is the service's ledger database (default: a SQLite file in the state directory).
    `instances` > 1 runs that many reference service processes on that one database, each on its own port and
    scraped as its own target (parts refservice, refservice-1, …; label instance = host:port): production's
    shape, where every rule must aggregate `instance` away (moneypath.check.instances). Instance 0 alone runs
    the jobs that must run once per database (reconciliation, the audit chain's walk and checkpoints:
    MONEYPATH_SINGLETON_JOBS=off elsewhere); every instance delivers the outbox, which is safe concurrently
    (rows claimed FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's BEGIN IMMEDIATE serializes writers).
    `postgres` starts a throwaway PostgreSQL (Debian's binaries, moneypath.stack.pgserver) for the ledger instead
    of the SQLite file: part "postgres", its cluster deleted by `down`.
    `time_factor` > 1 runs compressed copies of the rules (windows and `for:` divided by it; see
    moneypath.generate.compress): drills use it, alerts/ stays as committed. `ha` runs production's shape:
    two Prometheus replicas with the same rules (parts prometheus, prometheus-b; replica labels a, b) each
    sending to a two-node Alertmanager cluster gossiping on loopback (alertmanager, alertmanager-b).
    `engine` "vm" runs the same rules on VictoriaMetrics instead: victoria-metrics scrapes and stores (and
    answers the Prometheus API, proxying /api/v1/alerts and /api/v1/rules to vmalert), vmalert evaluates
    the rule files and writes recorded series and alert state back to it."""
    if engine not in ENGINES:
        raise StackError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    if not 1 <= instances <= MAX_INSTANCES:
        raise StackError(f"--instances {instances} must be between 1 and {MAX_INSTANCES}")
    if postgres and (db_url or not services):
        raise StackError("--postgres starts the reference service's database: not with --db-url, --target or "
                         "--no-services")
    if ha and engine != "prometheus":
        raise StackError("--ha runs a Prometheus pair; with --engine vm run vmalert in pairs yourself (docs/platforms.md)")
    state_dir = state_dir.resolve()
    running = load_state(state_dir)
    if running and any(_alive(p.pid) for p in running.parts):
        raise StackError(f"a stack is already running from {state_dir} (moneypath down --state-dir {state_dir})")
    interval = "1s" if fast else "15s"
    state = StackState(str(state_dir), interval, interval, list(targets), time_factor=time_factor, engine=engine,
                       ha=ha, fast=fast)
    replicas = REPLICAS if ha else ("",)
    for sub in ("logs", *(f"{kind}-data{r}" for kind in ("prometheus", "alertmanager") for r in replicas)):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    services_at = ["refservice", *(f"{INSTANCE_PART}{i}" for i in range(1, instances))]
    ports = {name: free_port() for name in ("pager", "providersim", *services_at, "victoriametrics", "vmalert", *(
        f"{kind}{r}" for kind in ("alertmanager", "prometheus", "cluster") for r in replicas))}
    commands: dict[str, tuple[list[str], str, str, dict]] = {}
    if postgres:
        db_url = _start_postgres(state, progress)
    if services:
        state.db_url = db_url or f"sqlite:///{state_dir / LEDGER_DB}"
        secrets = write_secrets(state_dir)
        checkpoints = audit_checkpoint_env(c, state_dir, fast) if c.enabled("audit") else {}
        if checkpoints:
            state.audit_checkpoints = checkpoints["MONEYPATH_AUDIT_CHECKPOINT_DIR"]
            state.audit_key = checkpoints["MONEYPATH_AUDIT_CHECKPOINT_KEY"].removesuffix(".key") + ".pub"
            state.ledger_url = "" if db_url else f"sqlite:///{state_dir / LEDGER_DB}"
        env = {"MONEYPATH_TOKEN_SECRET": secrets["token_secret"], "MONEYPATH_WEBHOOK_SECRET": secrets["webhook_secret"],
               "MONEYPATH_CATALOG": str(Path(c.path).resolve()),
               "MONEYPATH_DB_URL": state.db_url,
               "MONEYPATH_PROVIDER_URL": f"http://127.0.0.1:{ports['providersim']}",
               "MONEYPATH_SETTLEMENT_DIR": str(state_dir / "settlements"),
               # fast: settle every 2 s, reconcile every 1 s, call a capture missing after 30 s, so a drill sees it
               "MONEYPATH_RECONCILE_INTERVAL_S": "1" if fast else "5",
               "MONEYPATH_RECONCILE_GRACE_S": "5" if fast else "30",
               "MONEYPATH_MISSING_AFTER_S": "30" if fast else "3600",
               "MONEYPATH_AUDIT_VERIFY_INTERVAL_S": "1" if fast else "60",
               **checkpoints,
               **({"MONEYPATH_ENABLE_FAULTS": "1"} if faults else {})}
        commands["providersim"] = ([sys.executable, "-m", "moneypath.reference.providersim",
                                    "--port", str(ports["providersim"]), "--catalog", env["MONEYPATH_CATALOG"],
                                    "--settlement-dir", str(state_dir / "settlements"),
                                    "--settlement-interval", "2" if fast else "60",
                                    "--webhook-url", f"http://127.0.0.1:{ports['refservice']}/v1/webhooks",
                                    *(["--enable-faults"] if faults else [])],
                                   f"http://127.0.0.1:{ports['providersim']}", "/healthz", env)
        for i, name in enumerate(services_at):
            own = {**env, **({"MONEYPATH_SINGLETON_JOBS": "off"} if i else {}),
                   **({"PROMETHEUS_MULTIPROC_DIR": str(state_dir / f"metrics-mp{name.removeprefix('refservice')}")}
                      if service_workers > 1 else {})}
            commands[name] = ([sys.executable, "-m", "moneypath.reference.refservice",
                               "--port", str(ports[name]), "--workers", str(service_workers)],
                              f"http://127.0.0.1:{ports[name]}", "/healthz", own)
        targets = [*targets, *(f"127.0.0.1:{ports[name]}" for name in services_at)]
        state.targets = list(targets)
    pager_url = f"http://127.0.0.1:{ports['pager']}"
    alertmanagers = [f"127.0.0.1:{ports[f'alertmanager{r}']}" for r in replicas]

    timings: Timings = FAST if fast else Timings()
    (state_dir / "alertmanager.yml").write_text(render_alertmanager(c, pager_url, timings))
    (state_dir / "recording-rules.yaml").write_text(rules_yaml(compress_rules(recording_rules(c), time_factor)))
    (state_dir / "alert-rules.yaml").write_text(rules_yaml(compress_rules(alert_rules(c), time_factor)))
    for r in replicas:
        prom = prometheus_config(c, targets, [str(state_dir / "recording-rules.yaml"),
                                              str(state_dir / "alert-rules.yaml")],
                                 alertmanagers, interval, interval,
                                 remote_write=[remote_write_entry(url, fast) for url in remote_write],
                                 replica=(r.removeprefix("-") or "a") if ha else None)
        (state_dir / f"prometheus{r}.yml").write_text(yaml.safe_dump(prom, sort_keys=False))

    commands["pager"] = ([sys.executable, "-m", "moneypath", "pager", "--port", str(ports["pager"]),
                          "--journal", str(state_dir / "pages.jsonl"), "--watchdog-receiver", c.watchdog.receiver,
                          "--watchdog-timeout", f"{watchdog_timeout_s(c, timings):g}"], pager_url, "/healthz", {})
    for r in replicas:
        # Each node gossips with the other; the one second in line waits peer-timeout for the first's
        # notification before sending its own (Alertmanager's HA dedup).
        cluster = [f"--cluster.listen-address=127.0.0.1:{ports[f'cluster{r}']}",
                   *(f"--cluster.peer=127.0.0.1:{ports[f'cluster{p}']}" for p in replicas if p != r),
                   f"--cluster.peer-timeout={'2s' if fast else '15s'}"] if ha else ["--cluster.listen-address="]
        commands[f"alertmanager{r}"] = (
            [_binary("prometheus-alertmanager", "alertmanager"), f"--config.file={state_dir / 'alertmanager.yml'}",
             f"--storage.path={state_dir / f'alertmanager-data{r}'}",
             f"--web.listen-address=127.0.0.1:{ports[f'alertmanager{r}']}", *cluster],
            f"http://127.0.0.1:{ports[f'alertmanager{r}']}", "/-/ready", {})
    if engine == "vm":
        commands |= _vm_commands(c, state_dir, ports, alertmanagers, interval)
    for r in replicas if engine == "prometheus" else ():
        commands[f"prometheus{r}"] = (
            [_binary("prometheus"), f"--config.file={state_dir / f'prometheus{r}.yml'}",
             f"--storage.tsdb.path={state_dir / f'prometheus-data{r}'}",
             f"--web.listen-address=127.0.0.1:{ports[f'prometheus{r}']}",
             "--enable-feature=exemplar-storage", "--web.enable-lifecycle",
             f"--storage.tsdb.retention.time={retention(c)}",
             "--rules.alert.resend-delay=1s" if fast else "--rules.alert.resend-delay=1m"],
            f"http://127.0.0.1:{ports[f'prometheus{r}']}", "/-/ready", {})
    try:
        for name, (argv, url, health, env) in commands.items():
            log = state_dir / "logs" / f"{name}.log"
            with log.open("ab") as out:
                proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, env={**os.environ, **env})
            state.parts.append(Part(name, url, proc.pid, health, str(log), argv))
            _save(state)
            progress(f"started {name:<14} {url}  (log {log})")
        deadline = time.monotonic() + timeout_s
        for part in state.parts:
            while not _healthy(part):
                if _gone(part.pid):  # a child that exited stays a zombie, answering signal 0, until reaped
                    raise StackError(f"{part.name} exited at start: {_last_line(part.log)}; see {part.log}")
                if time.monotonic() > deadline:
                    raise StackError(f"{part.name} not ready after {timeout_s:.0f} s; see {part.log}")
                time.sleep(0.2)
            progress(f"ready   {part.name}")
    except BaseException:
        down(state_dir, progress=lambda *_: None)
        raise
    return state


def _start_postgres(state: StackState, progress) -> str:
    """A PostgreSQL cluster for the ledger, recorded as part "postgres" (so `down` stops it); its database's URL.
    Under root the server runs as the `postgres` user, which may not enter the state directory: then the cluster
    lives in a directory of its own under /tmp, which `down` deletes too."""
    from moneypath.stack import pgserver

    state_dir = Path(state.state_dir)
    base = None if pgserver.running_as_root() else state_dir / "postgres"
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)  # a cluster left by a stack that died: throwaway, as this one
    try:
        server = pgserver.start(free_port, base)
    except (pgserver.Unavailable, RuntimeError, OSError) as exc:
        raise StackError(f"--postgres: {str(exc).splitlines()[0]}") from None
    state.postgres_dir = str(server.base)
    state.parts.append(Part("postgres", f"postgresql://127.0.0.1:{server.port}", server.postmaster_pid(), "",
                            str(server.log)))
    _save(state)
    progress(f"started {'postgres':<14} 127.0.0.1:{server.port}  (log {server.log})")
    try:
        return server.url(server.create_database("ledger"))
    except Exception as exc:
        down(state_dir, progress=lambda *_: None)
        raise StackError(f"--postgres: the ledger database could not be created: {exc}") from None


def _vm_commands(c: Catalog, state_dir: Path, ports: dict[str, int], alertmanagers: list[str],
                 interval: str) -> dict[str, tuple[list[str], str, str, dict]]:
    """VictoriaMetrics (scraping what prometheus.yml lists) and vmalert (the same rule files), on loopback."""
    vm_url, vmalert_url = (f"http://127.0.0.1:{ports[n]}" for n in ("victoriametrics", "vmalert"))
    (state_dir / "victoriametrics-data").mkdir(exist_ok=True)
    return {
        "victoriametrics": (
            [_binary("victoria-metrics"), f"-storageDataPath={state_dir / 'victoriametrics-data'}",
             f"-httpListenAddr=127.0.0.1:{ports['victoriametrics']}", f"-promscrape.config={state_dir / 'prometheus.yml'}",
             "-promscrape.config.strictParse=false",  # rule_files and alerting are vmalert's, not its
             f"-vmalert.proxyURL={vmalert_url}", f"-retentionPeriod={retention(c)}",
             "-search.latencyOffset=0s",  # answer with the last second's samples, as Prometheus does
             "-search.disableCache"],  # a drill reads back what was just written
            vm_url, "/health", {}),
        "vmalert": (
            [_binary("vmalert"), f"-rule={state_dir / 'recording-rules.yaml'}", f"-rule={state_dir / 'alert-rules.yaml'}",
             f"-datasource.url={vm_url}", f"-remoteWrite.url={vm_url}", f"-remoteRead.url={vm_url}",
             *(f"-notifier.url=http://{am}" for am in alertmanagers), f"-evaluationInterval={interval}",
             f"-httpListenAddr=127.0.0.1:{ports['vmalert']}", f"-external.label=service={c.service}",
             f"-external.url={vm_url}"],
            vmalert_url, "/health", {}),
    }


TARGET_WAIT_S = 3.0  # how long `up` gives a --target to answer before it says so (a service still starting)


def unanswered_targets(targets: list[str], wait_s: float = TARGET_WAIT_S) -> list[tuple[str, str]]:
    """(target, why) for each host:port whose /metrics does not answer 2xx within `wait_s` (asked again every
    half second): what the first scrape would find."""
    reasons: dict[str, str] = {}
    pending = list(targets)
    deadline = time.monotonic() + wait_s
    while pending:
        for target in list(pending):
            try:
                r = httpx.get(f"http://{target}/metrics", timeout=max(0.2, min(1.0, deadline - time.monotonic())))
            except httpx.ConnectError:
                reasons[target] = "connection refused"
            except httpx.TimeoutException:
                reasons[target] = "no answer in time"
            except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # not a host:port a URL can hold
                reasons[target] = type(exc).__name__
            else:
                if r.is_success:
                    pending.remove(target)
                    reasons.pop(target, None)
                else:
                    reasons[target] = f"/metrics answered HTTP {r.status_code}"
        if not pending or time.monotonic() + 0.5 > deadline:
            break
        time.sleep(0.5)
    return [(t, reasons[t]) for t in pending]


def audit_checkpoint_env(c: Catalog, state_dir: Path, fast: bool) -> dict[str, str]:
    """The reference service's checkpoint settings: the stack's key, made on the first `up` and kept (the
    checkpoints already signed stay verifiable), and the directory beside the ledger."""
    private = state_dir / f"{AUDIT_KEY}.key"
    if not private.exists():
        try:
            write_key_pair(AUDIT_KEY, state_dir)
        except CheckpointError as exc:
            raise StackError(f"audit checkpoint key: {exc}") from None
    return {"MONEYPATH_AUDIT_CHECKPOINT_DIR": str(state_dir / AUDIT_CHECKPOINTS),
            "MONEYPATH_AUDIT_CHECKPOINT_KEY": str(private),
            "MONEYPATH_AUDIT_CHECKPOINT_INTERVAL_S": AUDIT_CHECKPOINT_INTERVAL_S[fast]}


SECRETS_FILE = "secrets.json"


def write_secrets(state_dir: Path) -> dict[str, str]:
    """Fresh secrets for this stack's services, readable only by the owner (drills mint tokens with them)."""
    import secrets as random_secrets

    values = {"token_secret": random_secrets.token_hex(32), "webhook_secret": random_secrets.token_hex(32)}
    path = state_dir / SECRETS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values


def read_secrets(state_dir: Path) -> dict[str, str]:
    return json.loads((state_dir / SECRETS_FILE).read_text())


def remote_write_entry(url: str, fast: bool = False) -> dict:
    entry: dict = {"url": url}
    if fast:  # ship within a second, so tests and drills read back what was just recorded
        entry["queue_config"] = {"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "1s"}
    return entry


def _save(state: StackState) -> None:
    atomic.write_text(Path(state.state_dir) / STATE_FILE, json.dumps(asdict(state), indent=2))


def _healthy(part: Part) -> bool:
    if part.url.startswith("postgresql://"):  # no HTTP: healthy while it accepts connections
        host, port = part.url.removeprefix("postgresql://").rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            return True
        except OSError:
            return False
    try:
        return httpx.get(part.url + part.health_path, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def down(state_dir: Path, progress=print, timeout_s: float = 15.0) -> bool:
    """Stop everything the state directory records; True if anything was running."""
    state = load_state(state_dir.resolve())
    if state is None:
        return False
    for part in reversed(state.parts):
        if _alive(part.pid):
            try:
                os.killpg(part.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
    deadline = time.monotonic() + timeout_s
    for part in reversed(state.parts):
        while _alive(part.pid) and time.monotonic() < deadline:
            _reap(part.pid)
            time.sleep(0.1)
        if _alive(part.pid):
            os.killpg(part.pid, signal.SIGKILL)
            _reap(part.pid)
        progress(f"stopped {part.name}")
    if state.postgres_dir:  # throwaway: the ledger goes with the stack
        shutil.rmtree(state.postgres_dir, ignore_errors=True)
    (Path(state.state_dir) / STATE_FILE).unlink(missing_ok=True)
    return True


def kill_part(state_dir: Path, name: str, timeout_s: float = 10.0) -> Part:
    """SIGKILL one part of the stack (its process group, as a crash would take it) and wait until it is gone;
    the part as stack.json records it. StackError when the stack has no such part or it is not running."""
    state = load_state(state_dir.resolve())
    part = next((p for p in state.parts if p.name == name), None) if state else None
    if part is None:
        raise StackError(f"no part {name!r} in the stack at {state_dir}")
    if not _alive(part.pid):
        raise StackError(f"{name} (pid {part.pid}) is not running")
    try:
        os.killpg(part.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout_s
    while not _gone(part.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not _gone(part.pid):
        raise StackError(f"{name} (pid {part.pid}) still runs {timeout_s:.0f} s after SIGKILL")
    return part


RESTARTABLE = tuple(c + r for c in HA_COMPONENTS for r in REPLICAS)  # their environment is this process's own


def restart_part(state_dir: Path, name: str, timeout_s: float = 30.0) -> Part:
    """Start a dead monitoring part again as `up` started it (same flags, data directory, port and log) and
    wait until it is ready; stack.json gets its new pid. StackError when it is running, unknown, or not ready."""
    state = load_state(state_dir.resolve())
    part = next((p for p in state.parts if p.name == name), None) if state else None
    if part is None:
        raise StackError(f"no part {name!r} in the stack at {state_dir}")
    if name not in RESTARTABLE or not part.argv:
        raise StackError(f"{name} cannot be restarted alone: moneypath down, then up")
    if not _gone(part.pid):
        raise StackError(f"{name} (pid {part.pid}) is still running")
    with open(part.log, "ab") as out:
        proc = subprocess.Popen(part.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    part.pid = proc.pid
    _save(state)
    deadline = time.monotonic() + timeout_s
    while not _healthy(part):
        if proc.poll() is not None:
            raise StackError(f"{name} exited at restart; see {part.log}")
        if time.monotonic() > deadline:
            raise StackError(f"{name} not ready {timeout_s:.0f} s after its restart; see {part.log}")
        time.sleep(0.2)
    return part


def _last_line(log: str) -> str:
    """The last line a part wrote (its error, when it exited at start)."""
    try:
        lines = [line for line in Path(log).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip()[:300] if lines else "nothing in its log"


def _gone(pid: int) -> bool:
    """Exited: reaped here when it is this process's child (`up` ran in it), else no longer running; a zombie
    whose parent is another process (it answers signal 0 like a live one) is gone too. A child whose first
    thread is a zombie while the others still exit is not yet gone: waitpid says so."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not _alive(pid) or _zombie(pid)
    return bool(reaped) or not _alive(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(state_dir: Path) -> list[tuple[str, str, bool, str]]:
    """(part, url, healthy, detail) for every part; empty when nothing runs."""
    state = load_state(state_dir.resolve())
    if state is None:
        return []
    rows = []
    instances = state.service_urls()
    for part in state.parts:
        ok = _alive(part.pid) and _healthy(part)
        detail = f"pid {part.pid}" if ok else (f"not answering; see {part.log}" if _alive(part.pid) else "exited")
        if ok and (part.name.startswith("prometheus") or part.name == "victoriametrics"):
            detail += _targets_summary(part.url)
        if ok and part.name == "pager":
            detail += _watchdog_summary(part.url)
        if len(instances) > 1 and part.url in instances:
            i = instances.index(part.url)
            detail += (f", instance {i} of {len(instances)} on one {state.db_url.split(':', 1)[0]} database"
                       + (" (runs the once-per-database jobs)" if i == 0 else ""))
        if part.name == "refservice" and state.audit_checkpoints:
            detail += _checkpoints_summary(Path(state.audit_checkpoints))
        rows.append((part.name, part.url, ok, detail))
    return rows


def watchdog_timeout_s(c: Catalog, timings: Timings) -> float:
    """Three missed heartbeats, plus the flush interval that may delay each one."""
    repeat = duration_seconds(timings.watchdog_repeat_interval or c.watchdog.repeat_interval)
    return 3 * repeat + duration_seconds(timings.watchdog_group_interval)


def _watchdog_summary(pager_url: str) -> str:
    try:
        beat = httpx.get(f"{pager_url}/watchdog", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return ""
    if beat.get("status") == "never":
        return ", watchdog: no heartbeat yet"
    silent = [f"replica {name} silent {r['age_s']} s" for name, r in (beat.get("replicas") or {}).items()
              if r.get("status") == "late"]
    return (f", watchdog {beat.get('status')} (last {beat.get('age_s')} s ago, timeout {beat.get('timeout_s'):g} s)"
            + "".join(f", {line}" for line in silent))


def _checkpoints_summary(directory: Path) -> str:
    """How many checkpoints the service signed and up to which seq (the file names say; `audit verify` checks)."""
    try:
        seqs = [int(m[1]) for p in directory.iterdir() if (m := CHECKPOINT_FILE.fullmatch(p.name))]
    except OSError:
        seqs = []
    if not seqs:
        return f", audit checkpoints: none yet in {directory}"
    return f", audit checkpoints: {len(seqs)} in {directory} (newest seq {max(seqs)})"


def _targets_summary(prom_url: str) -> str:
    try:
        with Prometheus(prom_url, timeout_s=2) as prom:
            active = prom.targets()
    except (PrometheusError, KeyError):
        return ""
    up_count = sum(1 for t in active if t.get("health") == "up")
    down = [f"{(t.get('labels') or {}).get('instance', t.get('scrapeUrl', '?'))} "
            f"({_short_error(t.get('lastError', '')) or 'no answer'})" for t in active if t.get("health") == "down"]
    return f", targets up {up_count}/{len(active)}" + (f"; down: {', '.join(down)}" if down else "")


def _short_error(error: str) -> str:
    """'Get "http://127.0.0.1:9/metrics": dial tcp 127.0.0.1:9: connect: connection refused' → 'connection refused'."""
    return error.rsplit(": ", 1)[-1].strip()
