"""The proxy's own answers: problem+json in the shared shape (moneypath._common.problem), and JSON."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping

from aiohttp import web

from moneypath._common.problem import PROBLEM
from moneypath._common.problem import problem as shared_problem


def problem(status: int, type_: str, title: str, detail: str, headers: Mapping[str, str] | None = None,
            **extensions: object) -> web.Response:
    """RFC 9457 problem details: the body the shared helper renders, answered by aiohttp."""
    body = shared_problem(status, type_, title, detail, **extensions).body
    return web.Response(status=status, body=body, headers={"Content-Type": PROBLEM, **(headers or {})})


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json")


def not_allowed(request: web.Request, allow: str) -> web.Response:
    return problem(405, "method-not-allowed", "Method not allowed", f"{request.method} is not allowed on {request.path}",
                   headers={"Allow": allow})


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def no_upstream(provider: str, status: int = 502) -> web.Response:
    """A provider of the catalog this proxy was given no upstream for: named, with the flag that adds one."""
    return problem(status, "no-upstream", "No upstream for this provider",
                   f"{provider} is a provider of the catalog, but this proxy has no upstream for it: start it with "
                   f"--upstream {provider}=URL to proxy its calls and webhooks and set faults on it",
                   provider=provider)
