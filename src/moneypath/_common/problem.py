"""Errors as RFC 9457 problem details (`application/problem+json`), one shape for every HTTP
face moneypath ships: the reference service, the provider simulator and the pager.

Needs Starlette (the `tools` and `reference` extras); the callers import it, nothing in the
core library does.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

PROBLEM = "application/problem+json"
TYPE_BASE = "https://moneypath.dev/problems/"


def problem(status: int, type_: str, title: str, detail: str, *, headers: Mapping[str, str] | None = None,
            **extensions: object) -> JSONResponse:
    """`{"type": TYPE_BASE + type_, "title", "status", "detail", **extensions}` with `status`;
    an extension member whose value is None is left out."""
    body = {"type": TYPE_BASE + type_, "title": title, "status": status, "detail": detail}
    body.update((name, value) for name, value in extensions.items() if value is not None)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class Problem(Exception):
    """A refusal raised anywhere under a request; an exception handler renders it with `response()`."""

    def __init__(self, status: int, type_: str, title: str, detail: str, **extensions: object):
        super().__init__(detail)
        self.status, self.type, self.title, self.detail, self.extensions = status, type_, title, detail, extensions

    def response(self) -> JSONResponse:
        return problem(self.status, self.type, self.title, self.detail, **self.extensions)
