"""`moneypath canary serve`: the canary judge over HTTP, for the rollout tools (docs/canary.md).

GET  /v1/verdict?canary=<selector>&baseline=<selector>[&since=<RFC3339>][&metric=<key>...]
     200 with {"verdict": "pass"|"fail"|"inconclusive", "reason", "metrics", "invariants", ...} whatever the
     verdict (Argo Rollouts' web metric provider: successCondition result.verdict == "pass", failureCondition
     result.verdict == "fail", anything else inconclusive).
POST /v1/flagger/check              Flagger's webhook (type rollout), metadata {canary, baseline, since}:
     200 unless the verdict is fail (409 problem+json carrying the verdict).
POST /v1/flagger/confirm-promotion  Flagger's confirm-promotion hook: 200 only on pass, 423 problem+json while
     inconclusive (Flagger holds the rollout and asks again), 409 on fail.
GET  /healthz
Bad input (a missing or malformed selector, an unknown metric, a time that is no time) is 400 problem+json; every
other answer is a verdict. Each request is one look of the judge's sequential tests (state kept in a file).
"""

from __future__ import annotations

import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from moneypath._common.problem import problem
from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.canary.judge import Judge
from moneypath.canary.queries import BadUsage
from moneypath.canary.results import CanaryVerdict
from moneypath.catalog import Catalog

PROBLEM_TYPES = {FAIL: (409, "canary-failed", "The canary failed"),
                 NOT_MEASURED: (423, "canary-inconclusive", "The canary is not judged yet")}
ANSWERED = ("verdict", "metrics", "invariants", "not_measured", "needs")  # what a refusal carries beside its reason


def _refused(result: CanaryVerdict) -> JSONResponse:
    """problem+json carrying the verdict: 409 when it failed, 423 while inconclusive."""
    code, type_, title = PROBLEM_TYPES[result.outcome]
    body = result.as_json(history=False)
    return problem(code, type_, title, result.reason, **{k: body[k] for k in ANSWERED})


def create_app(catalog: Catalog, prometheus: str, state_path: Path | None = None,
               database: str | None = None) -> Starlette:
    judge = Judge(catalog, prometheus, state_path, database)

    async def run(canary, baseline, since, metrics) -> CanaryVerdict:
        for name, value in (("canary", canary), ("baseline", baseline)):
            if not isinstance(value, str) or not value.strip():
                raise BadUsage(f"give the {name} selector ({name}=<label matchers>, e.g. track=\"{name}\")")
        if metrics is not None and (not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics)):
            raise BadUsage("metrics is a list of canary metric keys")
        return await run_in_threadpool(judge.judge, canary, baseline, since, metrics or None)

    def bad_request(request: Request, exc: BadUsage) -> JSONResponse:
        return problem(400, "bad-canary-request", "Bad canary request", str(exc))

    async def verdict(request: Request):
        q = request.query_params
        try:
            result = await run(q.get("canary"), q.get("baseline"), q.get("since"), q.getlist("metric") or None)
        except BadUsage as exc:
            return bad_request(request, exc)
        return JSONResponse(result.as_json(history=False))

    async def flagger_metadata(request: Request) -> tuple:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise BadUsage("the body is not JSON: Flagger's webhook payload with metadata {canary, baseline, since}") \
                from None
        metadata = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(metadata, dict):
            raise BadUsage("no metadata in the webhook payload: give metadata {canary, baseline, since} in the "
                           "Canary's webhook")
        metrics = metadata.get("metrics")
        if isinstance(metrics, str):  # Flagger's metadata values are strings: a comma-separated list
            metrics = [m.strip() for m in metrics.split(",") if m.strip()]
        return metadata.get("canary"), metadata.get("baseline"), metadata.get("since"), metrics

    async def flagger_check(request: Request):
        try:
            result = await run(*(await flagger_metadata(request)))
        except BadUsage as exc:
            return bad_request(request, exc)
        return _refused(result) if result.outcome is FAIL else JSONResponse(result.as_json(history=False))

    async def confirm_promotion(request: Request):
        try:
            result = await run(*(await flagger_metadata(request)))
        except BadUsage as exc:
            return bad_request(request, exc)
        return JSONResponse(result.as_json(history=False)) if result.outcome is PASS else _refused(result)

    async def healthz(request: Request):
        return JSONResponse({"status": "ok", "prometheus": prometheus, "catalog": catalog.path})

    async def not_found(request: Request, exc):
        return problem(404, "not-found", "Not found", f"no route {request.url.path}: GET /v1/verdict, POST "
                                                      "/v1/flagger/check, POST /v1/flagger/confirm-promotion")

    async def not_allowed(request: Request, exc):
        return problem(405, "method-not-allowed", "Method not allowed",
                       f"{request.method} is not allowed on {request.url.path}")

    return Starlette(routes=[Route("/v1/verdict", verdict, methods=["GET"]),
                             Route("/v1/flagger/check", flagger_check, methods=["POST"]),
                             Route("/v1/flagger/confirm-promotion", confirm_promotion, methods=["POST"]),
                             Route("/healthz", healthz)],
                     exception_handlers={404: not_found, 405: not_allowed})


def serve(host: str, port: int, catalog: Catalog, prometheus: str, state_path: Path | None = None,
          database: str | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(catalog, prometheus, state_path, database), host=host, port=port, log_level="warning",
                access_log=False)
