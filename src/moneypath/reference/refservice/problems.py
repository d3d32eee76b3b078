"""The API's refusals: `ApiProblem`, raised anywhere under a request and rendered by create_app's
exception handler as RFC 9457 problem+json (moneypath._common.problem)."""

from __future__ import annotations

from typing import NoReturn

from moneypath._common.problem import Problem

_PROVIDER_FAILURE_STATUS = {"timeout": 504, "circuit_open": 503, "error": 502}


class ApiProblem(Problem):
    """A refusal by the API (auth, idempotency, state, provider); limits.InputProblem is bad input."""


def provider_failed(outcome: str, provider: str) -> NoReturn:
    raise ApiProblem(_PROVIDER_FAILURE_STATUS[outcome], f"provider-{outcome.replace('_', '-')}",
                     "Provider unavailable", f"{provider} did not answer ({outcome}); retry with the same "
                     "Idempotency-Key, it is safe")
