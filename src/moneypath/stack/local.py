"""`moneypath up | down`: the local stack on loopback.

Prometheus (generated scrape config, recording and alert rules, exemplar storage on),
Alertmanager (generated routing) and `moneypath pager`, each on a free port, with their
configuration, data and logs in a state directory. What runs is recorded in
`<state>/stack.json` (moneypath.stack.state), so `down` and `status` work from another shell.

With the reference service and the catalog's audit trail on, the service signs checkpoints of its audit
chain (moneypath.protocol.audit.checkpoint) into `<state>/audit-checkpoints/` with a key the stack makes once
in the state directory (`audit-checkpoint.key`, mode 0600, and `.pub`): files beside the ledger, never in it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from moneypath.catalog import Catalog, duration_seconds
from moneypath.catalog.conventions import HA_COMPONENTS
from moneypath.generate.build import rules_yaml
from moneypath.generate.compress import compress_rules
from moneypath.generate.prometheus_config import PrometheusIntervals, prometheus_config, retention
from moneypath.generate.routing import FAST, RoutingTimings, render_alertmanager
from moneypath.generate.rules import alert_rules, recording_rules
from moneypath.stack import first_scrape, processes
from moneypath.stack.processes import find_binary, free_port
from moneypath.stack.scrape import set_extra_scrape_targets as set_extra_scrape_targets  # callers import it from here
from moneypath.stack.service_files import audit_checkpoint_env, write_secrets
from moneypath.stack.service_files import read_secrets as read_secrets  # callers import it from here, with up
from moneypath.stack.spec import StackSpec as StackSpec  # callers import it from here, with up
from moneypath.stack.state import (
    INSTANCE_PART,
    LEDGER_DB,
    REPLICAS,
    STATE_FILE,
    Part,
    StackError,
    StackState,
    load_state,
    save_state,
)
from moneypath.stack.status import status as status  # callers import it from here, with up and down

PAGES_JOURNAL = "pages.jsonl"  # the pager's journal in the state directory (an earlier stack's is set aside)
METRICS_PORT_SUFFIX = "-metrics"  # the reference service's metrics port, by the service part's name (ports only)


def up(c: Catalog, state_dir: Path, spec: StackSpec, progress=print) -> StackState:
    """Start the stack `spec` shapes (Prometheus, Alertmanager and the pager at least) from `state_dir`; returns
    when every part answers. StackError when a stack already runs from there or a part does not start (what
    started is stopped again)."""
    state_dir = state_dir.resolve()
    running = load_state(state_dir)
    if running and any(processes.alive(p.pid) for p in running.parts):
        raise StackError(f"a stack is already running from {state_dir} (moneypath down --state-dir {state_dir})")
    interval = spec.interval
    targets, db_url = list(spec.targets), spec.db_url  # the service's own are added; --postgres makes one
    rules_interval = spec.rules_every or interval
    state = StackState(str(state_dir), interval, rules_interval, list(targets), time_factor=spec.time_factor,
                       engine=spec.engine, ha=spec.ha, fast=spec.fast)
    replicas = REPLICAS if spec.ha else ("",)
    for sub in ("logs", *(f"{kind}-data{r}" for kind in ("prometheus", "alertmanager") for r in replicas)):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    services_at = ["refservice", *(f"{INSTANCE_PART}{i}" for i in range(1, spec.instances))]
    metrics_at = {name: f"{name}{METRICS_PORT_SUFFIX}" for name in services_at}
    ports = {name: free_port() for name in ("pager", "providersim", *services_at, *metrics_at.values(),
                                            "victoriametrics", "vmalert", *(
        f"{kind}{r}" for kind in ("alertmanager", "prometheus", "cluster") for r in replicas))}
    commands: dict[str, tuple[list[str], str, str, dict]] = {}
    if spec.postgres:
        db_url = _start_postgres(state, progress)
    if spec.services:
        state.db_url = db_url or f"sqlite:///{state_dir / LEDGER_DB}"
        secrets = write_secrets(state_dir)
        checkpoints = audit_checkpoint_env(c, state_dir, spec.fast) if c.enabled("audit") else {}
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
               "MONEYPATH_RECONCILE_INTERVAL_S": "1" if spec.fast else "5",
               "MONEYPATH_RECONCILE_GRACE_S": "5" if spec.fast else "30",
               "MONEYPATH_MISSING_AFTER_S": "30" if spec.fast else "3600",
               **({"MONEYPATH_AUDIT_VERIFY_INTERVAL_S": "1"} if spec.fast else {}),  # else the service's default
               **checkpoints,
               **({"MONEYPATH_ENABLE_FAULTS": "1"} if spec.faults else {})}
        commands["providersim"] = ([sys.executable, "-m", "moneypath.reference.providersim",
                                    "--port", str(ports["providersim"]), "--catalog", env["MONEYPATH_CATALOG"],
                                    "--settlement-dir", str(state_dir / "settlements"),
                                    "--settlement-interval", "2" if spec.fast else "60",
                                    "--webhook-url", f"http://127.0.0.1:{ports['refservice']}/v1/webhooks",
                                    *(["--enable-faults"] if spec.faults else [])],
                                   f"http://127.0.0.1:{ports['providersim']}", "/healthz", env)
        for i, name in enumerate(services_at):
            own = {**env, **({"MONEYPATH_SINGLETON_JOBS": "off"} if i else {}),
                   **({"PROMETHEUS_MULTIPROC_DIR": str(state_dir / f"metrics-mp{name.removeprefix('refservice')}")}
                      if spec.service_workers > 1 else {})}
            commands[name] = ([sys.executable, "-m", "moneypath.reference.refservice",
                               "--port", str(ports[name]), "--metrics-port", str(ports[metrics_at[name]]),
                               "--workers", str(spec.service_workers)],
                              f"http://127.0.0.1:{ports[name]}", "/healthz", own)
        # Scraped on its metrics port, served off its event loop: an overloaded service (the overload drill) still
        # answers every scrape, where its API port answers a scrape only when the loop gets to it.
        targets = [*targets, *(f"127.0.0.1:{ports[metrics_at[name]]}" for name in services_at)]
        state.targets = list(targets)
    pager_url = f"http://127.0.0.1:{ports['pager']}"
    alertmanagers = [f"127.0.0.1:{ports[f'alertmanager{r}']}" for r in replicas]

    timings: RoutingTimings = FAST if spec.fast else RoutingTimings()
    (state_dir / "alertmanager.yml").write_text(render_alertmanager(c, pager_url, timings))
    (state_dir / "recording-rules.yaml").write_text(rules_yaml(compress_rules(recording_rules(c), spec.time_factor)))
    alerts = compress_rules(alert_rules(c), spec.time_factor)
    hold = bool(spec.targets) and spec.target_wait_s > 0  # until each --target answered a scrape: first_scrape
    (state_dir / "alert-rules.yaml").write_text(rules_yaml(first_scrape.held_rules(alerts) if hold else alerts))
    for r in replicas:
        prom = prometheus_config(c, targets, [str(state_dir / "recording-rules.yaml"),
                                              str(state_dir / "alert-rules.yaml")],
                                 alertmanagers, PrometheusIntervals(interval, rules_interval),
                                 remote_write=[remote_write_entry(url, spec.fast) for url in spec.remote_write],
                                 replica=(r.removeprefix("-") or "a") if spec.ha else None)
        (state_dir / f"prometheus{r}.yml").write_text(yaml.safe_dump(prom, sort_keys=False))

    from moneypath.stack.pager import set_aside

    if kept := set_aside(state_dir / PAGES_JOURNAL):  # a new stack starts with no pages; the old ones stay readable
        progress(f"earlier pages kept in {kept} (this stack's pager starts with none)")
    commands["pager"] = ([sys.executable, "-m", "moneypath", "pager", "--port", str(ports["pager"]),
                          "--journal", str(state_dir / PAGES_JOURNAL), "--watchdog-receiver", c.watchdog.receiver,
                          "--watchdog-timeout", f"{watchdog_timeout_s(c, timings):g}"], pager_url, "/healthz", {})
    for r in replicas:
        # Each node gossips with the other; the one second in line waits peer-timeout for the first's
        # notification before sending its own (Alertmanager's HA dedup).
        cluster = [f"--cluster.listen-address=127.0.0.1:{ports[f'cluster{r}']}",
                   *(f"--cluster.peer=127.0.0.1:{ports[f'cluster{p}']}" for p in replicas if p != r),
                   f"--cluster.peer-timeout={'2s' if spec.fast else '15s'}"] if spec.ha else [
            "--cluster.listen-address="]
        commands[f"alertmanager{r}"] = (
            [find_binary("prometheus-alertmanager", "alertmanager"), f"--config.file={state_dir / 'alertmanager.yml'}",
             f"--storage.path={state_dir / f'alertmanager-data{r}'}",
             f"--web.listen-address=127.0.0.1:{ports[f'alertmanager{r}']}", *cluster],
            f"http://127.0.0.1:{ports[f'alertmanager{r}']}", "/-/ready", {})
    if spec.engine == "vm":
        commands |= _vm_commands(c, state_dir, ports, alertmanagers, rules_interval)
    for r in replicas if spec.engine == "prometheus" else ():
        commands[f"prometheus{r}"] = (
            [find_binary("prometheus"), f"--config.file={state_dir / f'prometheus{r}.yml'}",
             f"--storage.tsdb.path={state_dir / f'prometheus-data{r}'}",
             f"--web.listen-address=127.0.0.1:{ports[f'prometheus{r}']}",
             "--enable-feature=exemplar-storage", "--web.enable-lifecycle",
             f"--storage.tsdb.retention.time={retention(c)}",
             "--rules.alert.resend-delay=1s" if spec.fast else "--rules.alert.resend-delay=1m"],
            f"http://127.0.0.1:{ports[f'prometheus{r}']}", "/-/ready", {})
    try:
        for name, (argv, url, health, env) in commands.items():
            log = state_dir / "logs" / f"{name}.log"
            with log.open("ab") as out:
                proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, env={**os.environ, **env})
            state.parts.append(Part(name, url, proc.pid, health, str(log), argv))
            save_state(state)
            progress(f"started {name:<14} {url}  (log {log})")
        deadline = time.monotonic() + spec.timeout_s
        for part in state.parts:
            while not processes.healthy(part):
                if processes.gone(part.pid):  # a child that exited stays a zombie, answering signal 0, until reaped
                    raise StackError(f"{part.name} exited at start: {processes.last_line(part.log)}; see {part.log}")
                if time.monotonic() > deadline:
                    raise StackError(f"{part.name} not ready after {spec.timeout_s:.0f} s; see {part.log}")
                time.sleep(0.2)
            progress(f"ready   {part.name}")
        if hold:
            _release_rules(state, spec, alerts, progress)
    except BaseException:
        down(state_dir, progress=lambda *_: None)
        raise
    return state


def _release_rules(state: StackState, spec: StackSpec, alerts: dict, progress) -> None:
    """Wait for each --target's first scrape on every scraper, then load the full alert rules."""
    state_dir = Path(state.state_dir)
    scrapers = [p.url for p in state.parts if p.name.startswith("prometheus") or p.name == "victoriametrics"]
    engines = [p.url for p in state.parts if p.name.startswith("prometheus") or p.name == "vmalert"]
    progress(f"alert rules held until {', '.join(spec.targets)} answer{'s' if len(spec.targets) == 1 else ''} a "
             f"first scrape (up to {spec.target_wait_s:.0f} s, --target-wait): nothing pages about a service "
             "still booting")
    waited = first_scrape.wait_first_scrapes(scrapers, spec.targets, spec.target_wait_s, progress)
    (state_dir / "alert-rules.yaml").write_text(rules_yaml(alerts))
    first_scrape.release(engines)
    progress(f"alert rules on after {waited:.0f} s")


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
    save_state(state)
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
            [find_binary("victoria-metrics"), f"-storageDataPath={state_dir / 'victoriametrics-data'}",
             f"-httpListenAddr=127.0.0.1:{ports['victoriametrics']}", f"-promscrape.config={state_dir / 'prometheus.yml'}",
             "-promscrape.config.strictParse=false",  # rule_files and alerting are vmalert's, not its
             f"-vmalert.proxyURL={vmalert_url}", f"-retentionPeriod={retention(c)}",
             "-search.latencyOffset=0s",  # answer with the last second's samples, as Prometheus does
             "-search.disableCache"],  # a drill reads back what was just written
            vm_url, "/health", {}),
        "vmalert": (
            [find_binary("vmalert"), f"-rule={state_dir / 'recording-rules.yaml'}",
             f"-rule={state_dir / 'alert-rules.yaml'}",
             f"-datasource.url={vm_url}", f"-remoteWrite.url={vm_url}", f"-remoteRead.url={vm_url}",
             *(f"-notifier.url=http://{am}" for am in alertmanagers), f"-evaluationInterval={interval}",
             f"-httpListenAddr=127.0.0.1:{ports['vmalert']}", f"-external.label=service={c.service}",
             f"-external.url={vm_url}"],
            vmalert_url, "/health", {}),
    }


def remote_write_entry(url: str, fast: bool = False) -> dict:
    entry: dict = {"url": url}
    if fast:  # ship within a second, so tests and drills read back what was just recorded
        entry["queue_config"] = {"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "1s"}
    return entry


def down(state_dir: Path, progress=print, timeout_s: float = 15.0) -> bool:
    """Stop everything the state directory records; True if anything was running."""
    state = load_state(state_dir.resolve())
    if state is None:
        return False
    processes.stop_groups(list(reversed(state.parts)), timeout_s, lambda part: progress(f"stopped {part.name}"))
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
    if not processes.alive(part.pid):
        raise StackError(f"{name} (pid {part.pid}) is not running")
    try:
        os.killpg(part.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout_s
    while not processes.gone(part.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not processes.gone(part.pid):
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
    if not processes.gone(part.pid):
        raise StackError(f"{name} (pid {part.pid}) is still running")
    with open(part.log, "ab") as out:
        proc = subprocess.Popen(part.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    part.pid = proc.pid
    save_state(state)
    deadline = time.monotonic() + timeout_s
    while not processes.healthy(part):
        if proc.poll() is not None:
            raise StackError(f"{name} exited at restart; see {part.log}")
        if time.monotonic() > deadline:
            raise StackError(f"{name} not ready {timeout_s:.0f} s after its restart; see {part.log}")
        time.sleep(0.2)
    return part


def watchdog_timeout_s(c: Catalog, timings: RoutingTimings) -> float:
    """Three missed heartbeats, plus the flush interval that may delay each one."""
    repeat = duration_seconds(timings.watchdog_repeat_interval or c.watchdog.repeat_interval)
    return 3 * repeat + duration_seconds(timings.watchdog_group_interval)
