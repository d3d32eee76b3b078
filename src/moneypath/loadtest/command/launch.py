"""How `moneypath loadtest` starts Locust on a locustfile, and what a locustfile that knows nothing of
moneypath can be given. No Locust import.

Locust's argv carries Locust's own options only; moneypath's reach the locustfile through the
environment (`ENV`, MONEYPATH_*), which the harness reads as the defaults of its options. A
locustfile with options Locust does not know would make Locust exit before it starts, so nothing
of moneypath's goes on that command line.

The harness comes in as a second locustfile (`-f yours.py,<PLUGIN>`): with a plain locustfile (an
HttpUser, nothing imported from moneypath) the scenario's shape (users over time, duration), its
faults, the warm-up and phase snapshots and the Prometheus exporter still apply. What only
`moneypath.loadtest.in_locust.user.PaymentUser` does (pacing to --rate, the scenario file's mix, providers and
currencies, retries, request names the gates read) cannot: `plain_refusals` says, before Locust
starts, which of the run's options a plain locustfile cannot honour.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

from moneypath.loadtest.in_locust import locustfiles
from moneypath.loadtest.in_locust.run_settings import ENV

PLUGIN = locustfiles.HARNESS
REQUESTS_PER_S, FLOWS_PER_S = "requests/s", "flows/s"  # what a run's rate counts: a user's step is a request or a flow


def knows_moneypath(locustfile: Path) -> bool:
    """Whether the locustfile imports moneypath's load-test package (its users are PaymentUsers, or may be);
    False for a plain locustfile, or one that does not parse (Locust will say why)."""
    try:
        tree = ast.parse(Path(locustfile).read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        if any(n == "moneypath.loadtest" or n.startswith("moneypath.loadtest.") for n in names):
            return True
    return False


def names_template(locustfile: Path) -> bool:
    """Whether a class of the locustfile sets `template = "..."` (a PaymentUser whose payment is a request template's
    flow: each of its steps at --rate is a flow of several requests); read without importing it."""
    try:
        tree = ast.parse(Path(locustfile).read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.ClassDef) and any(
        isinstance(item, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "template" for t in item.targets)
        and isinstance(item.value, ast.Constant) and isinstance(item.value.value, str) for item in node.body)
        for node in ast.walk(tree))


def rate_unit(locustfile: Path) -> str:
    """What --rate paces and a run's rates count, for every banner, progress line and report of `loadtest` and
    `capacity`: FLOWS_PER_S for a PaymentUser whose payment is a request template's flow, REQUESTS_PER_S otherwise
    (a plain locustfile's users pace themselves: their requests are what is counted)."""
    return FLOWS_PER_S if knows_moneypath(locustfile) and names_template(locustfile) else REQUESTS_PER_S


def plain_refusals(locustfile: Path, scenario, rate_given: bool, closed_loop: bool = False) -> str | None:
    """Why a plain locustfile cannot run this as asked (one line), or None. `scenario` is a formats.scenarios.Scenario."""
    name = Path(locustfile).name
    why = f"{name} does not use moneypath.loadtest.in_locust.user.PaymentUser, so"
    if rate_given:
        return (f"--rate: {why} its users pace themselves (their wait_time); set how many there are with --users "
                "(the scenario's shape multiplies them)")
    if closed_loop:
        return f"{why} its users pace themselves: the closed-loop and paced steps of capacity need PaymentUser"
    if scenario.retry is not None:
        return (f"scenario {scenario.name}: {why} it does not retry with the same idempotency key, which the "
                "scenario judges: run it with a PaymentUser locustfile")
    if scenario.user != "checkout":
        return (f"scenario {scenario.name}: {why} it does not send the {scenario.user} user's requests: run it with "
                "a PaymentUser locustfile")
    if scenario.overload is not None:
        return (f"scenario {scenario.name}: {why} its refusals are not recorded as REFUSED, which the overload "
                "gates judge: run it with a PaymentUser locustfile")
    return None


def plain_note(locustfile: Path) -> str:
    return (f"{Path(locustfile).name} does not use PaymentUser: the scenario's shape, duration and faults apply; its "
            "mix, providers, currencies and pacing do not (your users send their own requests)")


def command(locustfile: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", f"{locustfile},{PLUGIN}", *extra]


def environment(options: dict[str, object], base: dict[str, str] | None = None) -> dict[str, str]:
    """The Locust processes' environment: `base` (default this process's) without any MONEYPATH_* option the
    caller did not decide, plus `options` (harness dest -> value; True flags as "true", None/False left out)."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in ENV.values()}
    env["PYTHONUNBUFFERED"] = "1"
    for dest, value in options.items():
        if value is None or value is False or value == "":
            continue
        env[ENV[dest]] = "true" if value is True else f"{value:g}" if isinstance(value, float) else str(value)
    return env
