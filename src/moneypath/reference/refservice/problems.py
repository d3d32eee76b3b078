"""The API's refusals: `ApiProblem`, raised anywhere under a request and rendered by create_app's
exception handler as RFC 9457 problem+json (moneypath._common.problem)."""

from __future__ import annotations

from typing import NoReturn

from starlette.responses import JSONResponse

from moneypath._common.problem import problem

_PROVIDER_FAILURE_STATUS = {"timeout": 504, "circuit_open": 503, "error": 502}


class ApiProblem(Exception):
    def __init__(self, status: int, type_: str, title: str, detail: str):
        self.status, self.type, self.title, self.detail = status, type_, title, detail

    def response(self) -> JSONResponse:
        return problem(self.status, self.type, self.title, self.detail)


def provider_failed(outcome: str, provider: str) -> NoReturn:
    raise ApiProblem(_PROVIDER_FAILURE_STATUS[outcome], f"provider-{outcome.replace('_', '-')}",
                     "Provider unavailable", f"{provider} did not answer ({outcome}); retry with the same "
                     "Idempotency-Key, it is safe")
