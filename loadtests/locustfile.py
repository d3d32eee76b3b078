"""Locust load tests for the moneypath reference payment service.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --scenario checkout --rate 20
    locust -f loadtests/locustfile.py --state-dir .moneypath --scenario spike --headless

Scenarios are defined in loadtests/scenarios.yaml (checkout, peak, spike, soak, retry_storm,
slow_provider). `--rate` is the baseline in requests per second and `--concurrency` the users
at baseline: each user paces itself with constant_throughput(rate / concurrency) and the load
shape scales the number of users (10x for peak, 20x during a spike). Every request carries the
correlation header (`moneypath.instrument.correlation.HEADER`, x-correlation-id: one per payment,
from authorize to refund); every write an idempotency key.

Credentials: `--token` or $MONEYPATH_TOKEN (scopes payments:write payments:read), or a secret
to mint one: $MONEYPATH_TOKEN_SECRET, or `--state-dir` of a stack started by `moneypath up`
(which also supplies --host and the provider simulator's URL). Scenarios with faults need
`admin:faults` on the simulator: `--admin-token`/$MONEYPATH_ADMIN_TOKEN, or the same secret.

`--exporter-port N` serves Locust's statistics on 127.0.0.1:N/metrics (locust_exporter names)
for Prometheus. See loadtests/README.md, also for distributed runs across machines.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import locust.stats
import requests
from locust import FastHttpUser, LoadTestShape, constant_throughput, events, task
from locust.runners import WorkerRunner

from moneypath._common.tokens import MAX_LIFETIME_S, issue
from moneypath.instrument.correlation import HEADER as CORRELATION_HEADER
from moneypath.loadtest import contract, scenarios

log = logging.getLogger("moneypath.loadtests")
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1  # the history file feeds `moneypath loadtest`'s progress line
HERE = Path(__file__).resolve().parent
WRITE_SCOPES = ["payments:write", "payments:read"]
ATTEMPT, RETRIED, CHECK, DUPLICATE_CHECK, REPLAY_UNANSWERED = (
    contract.ATTEMPT, contract.RETRIED, contract.CHECK, contract.DUPLICATE_CHECK, contract.REPLAY_UNANSWERED)


@events.init_command_line_parser.add_listener
def _arguments(parser):
    group = parser.add_argument_group("moneypath", "scenario and credentials (loadtests/scenarios.yaml)")
    group.add_argument("--scenario", default="checkout", help="scenario name in the scenario file (default: checkout)")
    group.add_argument("--scenario-file", default=str(HERE / "scenarios.yaml"), help="scenario definitions")
    group.add_argument("--rate", type=float, default=0, help="baseline requests per second (default: the file's)")
    group.add_argument("--concurrency", type=int, default=0, help="users at baseline (default: the file's)")
    group.add_argument("--duration", type=float, default=0, help="run seconds (default: the scenario's)")
    group.add_argument("--token", default="", help="API bearer token (default: $MONEYPATH_TOKEN or minted)")
    group.add_argument("--admin-token", default="", help="admin:faults token for scenarios with faults")
    group.add_argument("--providersim", default="", help="provider simulator URL (fault API)")
    group.add_argument("--state-dir", default="", help="a `moneypath up` state directory: host, simulator, secrets")
    group.add_argument("--exporter-port", type=int, default=0, help="serve /metrics for Prometheus on this port")
    group.add_argument("--exporter-host", default="127.0.0.1", help="address of the /metrics server")


# ---------------------------------------------------------------- settings shared by every process


@dataclass
class Settings:
    spec: scenarios.ScenarioFile
    scenario: scenarios.Scenario
    rate: float
    users: int
    duration_s: float
    token: str

    @property
    def pace(self) -> float:
        return scenarios.pace_per_user(self.rate, self.users)


def _stack_state(options):
    if not options.state_dir:
        return None, None
    from moneypath.stack import local as stack

    state_dir = Path(options.state_dir).resolve()
    state = stack.load_state(state_dir)
    if state is None:
        raise SystemExit(f"--state-dir {state_dir}: no stack.json (start one with `moneypath up --faults`)")
    return state, stack.read_secrets(state_dir)


def _secret(options) -> bytes | None:
    if os.environ.get("MONEYPATH_TOKEN_SECRET"):
        return os.environ["MONEYPATH_TOKEN_SECRET"].encode()
    _, secrets = _stack_state(options)
    return secrets["token_secret"].encode() if secrets else None


def _token(options, scopes: list[str], given: str, env: str, duration_s: float) -> str:
    """The given token, or one minted for the run plus an hour (at most the services' default
    maximum token lifetime, which a longer run cannot fit in)."""
    if given or os.environ.get(env):
        return given or os.environ[env]
    secret = _secret(options)
    if secret is None:
        raise SystemExit(f"no API token: pass --token, set ${env} or $MONEYPATH_TOKEN_SECRET, or --state-dir")
    if duration_s > MAX_LIFETIME_S:
        raise SystemExit(f"a {duration_s:g} s run outlives the tokens minted here (at most {MAX_LIFETIME_S} s): "
                         f"set ${env} to a longer-lived token and raise the service's MONEYPATH_TOKEN_MAX_LIFETIME_S")
    return issue(secret, "loadtest", scopes, ttl_s=int(min(duration_s + 3600, MAX_LIFETIME_S)))


def settings(environment) -> Settings:
    cached = getattr(environment, "moneypath_settings", None)
    if cached is not None:
        return cached
    o = environment.parsed_options
    spec = scenarios.load(o.scenario_file)
    scenario = spec.get(o.scenario)
    duration = scenarios.duration_of(spec, scenario, o.duration or None)
    token = o.token or _token(o, WRITE_SCOPES, "", "MONEYPATH_TOKEN", duration)
    result = Settings(spec, scenario, o.rate or spec.baseline.rate, o.concurrency or spec.baseline.users, duration,
                      token)
    environment.moneypath_settings = result
    return result


@events.init.add_listener
def _on_init(environment, **_kwargs):
    o = environment.parsed_options
    if o is None or isinstance(environment.runner, WorkerRunner):
        return  # a worker gets the master's options (and token) when the test starts
    try:
        s = settings(environment)
    except scenarios.ScenarioError as exc:
        raise SystemExit(f"moneypath: {exc}") from None
    o.token = s.token  # sent to workers with the other options when the test starts
    state, _ = _stack_state(o)
    if state is not None:
        environment.host = environment.host or state.url("refservice")
        o.providersim = o.providersim or state.url("providersim")
    if o.exporter_port:
        from moneypath.loadtest.exporter import serve

        serve(environment, o.exporter_host, o.exporter_port)
        log.info("Locust metrics on http://%s:%d/metrics", o.exporter_host, o.exporter_port)


# ---------------------------------------------------------------- faults a scenario sets (master only)


def _fault_calls(environment):
    s = settings(environment)
    o = environment.parsed_options
    if not s.scenario.faults:
        return []
    admin = _token(o, ["admin:faults"], o.admin_token, "MONEYPATH_ADMIN_TOKEN", s.duration_s)
    calls = []
    for fault in s.scenario.faults:
        base = o.providersim if fault.at == "providersim" else environment.host
        if not base:
            raise SystemExit(f"scenario {s.scenario.name} sets a {fault.at} fault: pass --providersim or --state-dir")
        calls.append((f"{base.rstrip('/')}/admin/faults/{fault.name}", fault.params,
                      {"authorization": f"Bearer {admin}"}))
    return calls


@events.test_start.add_listener
def _set_faults(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return
    for url, params, headers in _fault_calls(environment):
        r = requests.put(url, json=params, headers=headers, timeout=10)
        if r.status_code >= 300:
            raise SystemExit(f"setting fault {url} failed: {r.status_code} {r.text[:200]}")
        log.info("fault set: %s %s", url, params)


@events.test_stop.add_listener
def _clear_faults(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return
    for url, params, headers in _fault_calls(environment):
        # the simulator names the provider in ?provider=, the service the target in ?target=
        query = {"provider": params["provider"]} if "provider" in params else (
            {"target": params["queue"]} if "queue" in params else None)
        requests.delete(url, params=query, headers=headers, timeout=10)
        log.info("fault cleared: %s", url)


# ---------------------------------------------------------------- users


def _reference(kind: str) -> str:
    """A unique merchant reference. The hex is glued to the word so that no digit run in it stands
    alone: the service refuses a reference holding a standalone card number."""
    return f"{kind}{uuid.uuid4().hex[:16]}"


def _weighted(weights: dict[str, int]) -> str:
    keys = list(weights)
    return random.choices(keys, weights=[weights[k] for k in keys])[0]


def _correlation_id() -> str:
    return f"lt-{uuid.uuid4().hex}"


class MoneyPathUser(FastHttpUser):
    abstract = True

    def on_start(self):
        self.s = settings(self.environment)
        self.headers = {"authorization": f"Bearer {self.s.token}"}
        self._pacer = constant_throughput(self.s.pace)
        # Start at a random phase of the pacing interval, as real clients do: users spawned
        # together would otherwise send their requests in lockstep bursts.
        time.sleep(random.uniform(0, 1 / self.s.pace))

    def wait_time(self):
        return self._pacer(self)

    def amount(self) -> int:
        a = self.s.spec.amount_minor
        return int(min(a.max, max(a.min, random.lognormvariate(0, a.sigma) * a.median)))

    def write(self, path: str, body: dict | None, name: str, correlation_id: str, key: str | None = None):
        """POST with an idempotency key and the correlation id; (status, JSON body or None, response headers)."""
        headers = {**self.headers, "idempotency-key": key or uuid.uuid4().hex, CORRELATION_HEADER: correlation_id}
        with self.client.post(path, json=body, headers=headers, name=name, catch_response=True) as r:
            status = r.status_code
            data = None
            if status in (200, 201):
                try:
                    data = r.json()
                    r.success()
                except ValueError:
                    r.failure(f"{status} answer is not JSON")
            else:
                r.failure(_failure(r))
            return status, data, r.headers or {}


def _failure(r) -> str:
    if not r.status_code:
        return f"no answer: {type(r.error).__name__ if r.error else 'connection'}"
    try:
        kind = r.json().get("type", "").rsplit("/", 1)[-1]
    except (ValueError, AttributeError):
        kind = ""
    return f"{r.status_code} {kind}".strip()


class CheckoutUser(MoneyPathUser):
    """The checkout mix: one request per step, chosen by weight among what is possible now."""

    def on_start(self):
        super().on_start()
        self.authorized: deque = deque(maxlen=100)  # (payment, correlation id) waiting for capture
        self.captured: deque = deque(maxlen=100)    # refundable

    @task
    def step(self):
        mix = dict(self.s.spec.mix)
        if not self.authorized:
            mix.pop("capture", None)
        if not self.captured:
            mix.pop("refund", None)
        {"authorize": self.authorize, "capture": self.capture, "refund": self.refund,
         "payout": self.payout}[_weighted(mix)]()

    def authorize(self):
        spec, cid = self.s.spec, _correlation_id()
        provider = _weighted(spec.providers)
        body = {"amount_minor": self.amount(), "currency": _weighted(spec.currencies), "provider": provider,
                "method": _weighted(spec.methods), "reference": _reference("order")}
        status, payment, _ = self.write("/v1/payments/authorize", body, f"authorize [{provider}]", cid)
        if payment and payment.get("state") == "authorized":
            self.authorized.append((payment, cid))

    def capture(self):
        payment, cid = self.authorized.popleft()
        _, captured, _ = self.write(f"/v1/payments/{payment['id']}/capture", None,
                                    f"capture [{payment['provider']}]", cid)
        if captured and captured.get("state") == "captured":
            self.captured.append((captured, cid))

    def refund(self):
        payment, cid = self.captured.popleft()
        remaining = payment["amount_minor"] - payment.get("refunded_minor", 0)
        full = random.random() < self.s.spec.refund_full_share
        amount = remaining if full else max(1, remaining // 2)
        _, refunded, _ = self.write(f"/v1/payments/{payment['id']}/refund", {"amount_minor": amount},
                                    f"refund [{payment['provider']}]", cid)
        if refunded and refunded.get("state") == "captured":
            self.captured.append((refunded, cid))  # partly refunded: may take another refund

    def payout(self):
        spec = self.s.spec
        provider = _weighted(spec.providers)
        body = {"amount_minor": self.amount(), "currency": _weighted(spec.currencies), "provider": provider,
                "reference": _reference("payout")}
        self.write("/v1/payouts", body, f"payout [{provider}]", _correlation_id())


class RetryStormUser(MoneyPathUser):
    """Clients with a short timeout that resend with the same idempotency key (capped exponential
    backoff, full jitter), then replay the key once more: it must answer with the same payment."""

    def __init__(self, environment):
        self.network_timeout = settings(environment).scenario.retry.timeout_s  # read by FastHttpUser.__init__
        self.connection_timeout = max(1.0, self.network_timeout)
        super().__init__(environment)

    def on_start(self):
        super().on_start()
        self.authorized: deque = deque(maxlen=100)

    @task
    def step(self):
        if self.authorized:
            payment, cid = self.authorized.popleft()
            self.with_retries("capture", f"/v1/payments/{payment['id']}/capture", None, payment["provider"], cid)
            return
        spec, cid = self.s.spec, _correlation_id()
        provider = _weighted(spec.providers)
        body = {"amount_minor": self.amount(), "currency": _weighted(spec.currencies), "provider": provider,
                "method": _weighted(spec.methods), "reference": _reference("storm")}
        payment = self.with_retries("authorize", "/v1/payments/authorize", body, provider, cid)
        if payment and payment.get("state") == "authorized":
            self.authorized.append((payment, cid))

    def with_retries(self, action: str, path: str, body: dict | None, provider: str, cid: str) -> dict | None:
        retry = self.s.scenario.retry
        key, started, data, error = uuid.uuid4().hex, time.perf_counter(), None, None
        for attempt in range(1, retry.max_attempts + 1):
            status, data, _ = self.write(path, body, f"{action} [{provider}]{ATTEMPT}", cid, key)
            if data is not None:
                error = None
                break
            retryable = status == 0 or status == 409 or status >= 500
            error = f"{status or 'timeout'} after {attempt} attempts"
            if not retryable:
                break
            if attempt < retry.max_attempts:
                time.sleep(retry.backoff_s(attempt, random.uniform))
        self.environment.events.request.fire(
            request_type=RETRIED, name=f"{action} [{provider}]", response_time=(time.perf_counter() - started) * 1000,
            response_length=0, exception=Exception(error) if error else None, context={})
        if data is not None:
            self.replay_check(path, body, provider, cid, key, data)
        return data

    def replay_check(self, path, body, provider, cid, key, first: dict) -> None:
        """The same key again: it must replay the same payment, never make a second one."""
        headers = {**self.headers, "idempotency-key": key, CORRELATION_HEADER: cid}
        retry = self.s.scenario.retry
        first_started = time.perf_counter()
        for attempt in range(1, retry.max_attempts + 1):
            started = time.perf_counter()
            with self.client.post(path, json=body, headers=headers, name=f"replay [{provider}]{ATTEMPT}",
                                  catch_response=True) as r:
                answer = None
                if r.status_code in (200, 201):
                    try:
                        answer = r.json()
                        r.success()
                    except ValueError:
                        r.failure(f"{r.status_code} answer is not JSON")
                else:
                    r.failure(_failure(r))
            if answer is not None:
                same = answer.get("id") == first.get("id")
                self.environment.events.request.fire(
                    request_type=CHECK, name=DUPLICATE_CHECK, response_time=(time.perf_counter() - started) * 1000,
                    response_length=0, context={},
                    exception=None if same else Exception(f"one key, two payments: {first.get('id')}, {answer.get('id')}"))
                return
            if attempt < retry.max_attempts:
                time.sleep(retry.backoff_s(attempt, random.uniform))
        # every replay failed: the key is not proven charged once; a failed CHECK says so (the gate
        # also compares the checks made with the keys completed)
        self.environment.events.request.fire(
            request_type=CHECK, name=REPLAY_UNANSWERED, response_time=(time.perf_counter() - first_started) * 1000,
            response_length=0, context={},
            exception=Exception(f"no answer to {retry.max_attempts} replays of a key (last: {r.status_code})"))


class HealthzUser(MoneyPathUser):
    """GET /healthz only: measures what the load generator itself can send."""

    @task
    def step(self):
        self.client.get("/healthz", name="healthz", headers={CORRELATION_HEADER: _correlation_id()})


# ---------------------------------------------------------------- the shape: users over time


USER_CLASSES = {"checkout": CheckoutUser, "retry_storm": RetryStormUser, "healthz": HealthzUser}


class ScenarioShape(LoadTestShape):
    """Users over time from the scenario: baseline x multiplier, and the spike when there is one."""

    def tick(self):
        s = settings(self.runner.environment)
        users = scenarios.users_at(s.scenario, s.users, self.get_run_time(), s.duration_s)
        if users is None:
            return None
        # the spawn rate also paces stopping users: the largest count, so a spike starts and ends at once
        return users, scenarios.max_users(s.scenario, s.users), [USER_CLASSES[s.scenario.user]]
