"""HTTP calls a drill makes to switches it does not own: a hook fault's set and clear (the team's feature
flag or chaos tool) and a remediation action given by URL. ${NAME} in their URL, headers and body is read
from the environment when the call is made (a staging URL or a token is not written into the drill file).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx

from moneypath.formats.drill import Drill
from moneypath.formats.requests import ENV_REF, env_refs


def expand(value: Any, env: Mapping[str, str] | None = None) -> Any:
    """A value with every ${NAME} replaced from the environment (a missing name stays as written)."""
    env = os.environ if env is None else env
    if isinstance(value, str):
        return ENV_REF.sub(lambda m: env.get(m[1], m[0]), value)
    if isinstance(value, dict):
        return {k: expand(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, env) for v in value]
    return value


def missing_env(drill: Drill, env: Mapping[str, str] | None = None) -> list[str]:
    """The ${NAME}s a drill's hooks and actions read that the environment does not set."""
    env = os.environ if env is None else env
    calls: list[Any] = []
    if drill.fault is not None and drill.fault.where == "hook":
        calls += [drill.fault.set.model_dump(by_alias=True), drill.fault.clear.model_dump(by_alias=True)]
    calls += [a.model_dump(by_alias=True) for a in drill.mitigation.actions if a.url]
    return sorted(env_refs(calls) - set(env))


def call(http: httpx.Client, method: str, url: str, headers: dict[str, str], body: Any,
         expect_status: list[int]) -> tuple[bool, str]:
    """Make the call; (ok, what happened in a few words). Never raises for a transport failure."""
    url = expand(url)
    try:
        r = http.request(method, url, headers=expand(headers), json=expand(body) if body is not None else None)
    except httpx.HTTPError as exc:
        return False, f"{method} {url}: {type(exc).__name__}"
    detail = f"{method} {url} → {r.status_code}"
    return r.status_code in expect_status, detail
