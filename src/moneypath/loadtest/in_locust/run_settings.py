"""A run's settings, the same in every Locust process: the scenario file (--scenario-file, else the one beside the
locustfile), the scenario, rate, users and duration, and the tokens (given, from the environment, or minted from
the stack's secret). Read by the harness, the worker admission and the worker timeline; registers nothing.
ENV names the environment variable each harness option is also read from (what `moneypath loadtest` sets,
moneypath.loadtest.command.launch); BURN_ENV, the test-only one worker_watch reads."""

from __future__ import annotations

import os
from pathlib import Path

from moneypath.formats import scenarios
from moneypath.loadtest.in_locust import shape
from moneypath.loadtest.in_locust.client import LoadSettings
from moneypath.protocol.tokens import MAX_LIFETIME_S, issue

WRITE_SCOPES = ["payments:write", "payments:read"]

# harness option (its argparse dest) -> the environment variable that sets it
ENV = {
    "scenario": "MONEYPATH_SCENARIO",
    "scenario_file": "MONEYPATH_SCENARIO_FILE",
    "rate": "MONEYPATH_RATE",
    "concurrency": "MONEYPATH_USERS",
    "duration": "MONEYPATH_DURATION_S",
    "closed_loop": "MONEYPATH_CLOSED_LOOP",
    "token": "MONEYPATH_TOKEN",
    "no_auth": "MONEYPATH_NO_AUTH",
    "admin_token": "MONEYPATH_ADMIN_TOKEN",
    "providersim": "MONEYPATH_PROVIDERSIM",
    "hosts": "MONEYPATH_HOSTS",
    "faultproxy": "MONEYPATH_FAULTPROXY",
    "state_dir": "MONEYPATH_STATE_DIR",
    "exporter_port": "MONEYPATH_EXPORTER_PORT",
    "exporter_host": "MONEYPATH_EXPORTER_HOST",
    "warmup": "MONEYPATH_WARMUP_S",
    "snapshot_at": "MONEYPATH_SNAPSHOT_AT",
}
BURN_ENV = "MONEYPATH_TEST_BURN_CPU"  # test-only: a worker burns its CPU (worker_watch), see docs/load-tests.md


def scenario_file(environment) -> Path:
    """--scenario-file, else scenarios.yaml beside the (first) locustfile."""
    if environment.parsed_options.scenario_file:
        return Path(environment.parsed_options.scenario_file)
    return Path(environment.parsed_locustfiles[0]).resolve().parent / "scenarios.yaml"


def stack_state(options):
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
    _, secrets = stack_state(options)
    return secrets["token_secret"].encode() if secrets else None


def token(options, scopes: list[str], given: str, env: str, duration_s: float) -> str | None:
    """The given token, $`env`, or one minted for the run plus an hour (at most the services' default
    maximum token lifetime, which a longer run cannot fit in); None when there is nothing to mint from."""
    if given or os.environ.get(env):
        return given or os.environ[env]
    secret = _secret(options)
    if secret is None:
        return None
    if duration_s > MAX_LIFETIME_S:
        raise SystemExit(f"a {duration_s:g} s run outlives the tokens minted here (at most {MAX_LIFETIME_S} s): "
                         f"set ${env} to a longer-lived token and raise the service's MONEYPATH_TOKEN_MAX_LIFETIME_S")
    return issue(secret, "loadtest", scopes, ttl_s=int(min(duration_s + 3600, MAX_LIFETIME_S)))


def settings(environment) -> LoadSettings:
    cached = getattr(environment, "moneypath_settings", None)
    if cached is not None:
        return cached
    o = environment.parsed_options
    spec = scenarios.load(scenario_file(environment))
    scenario = spec.get(o.scenario)
    duration = shape.duration_of(spec, scenario, o.duration or None)
    api_token = None if o.no_auth else token(o, WRITE_SCOPES, o.token, "MONEYPATH_TOKEN", duration)
    result = LoadSettings(spec, scenario, o.rate or spec.baseline.rate, o.concurrency or spec.baseline.users, duration,
                          api_token, closed_loop=o.closed_loop,
                          hosts=tuple(h.strip().rstrip("/") for h in o.hosts.split(",") if h.strip()))
    environment.moneypath_settings = result
    return result
