"""The reference payment service: a careful money path, instrumented with moneypath.instrument
exactly as a user's service would be. Drills and load tests judge the observability by
what happens to real money movements in it.

The HTTP face's modules:
__main__ (serving it with uvicorn),
app (create_app: the FastAPI app, instrumented),
config (ServiceConfig, from arguments or the environment),
services (the wiring, built once per app),
dependencies (the routers' FastAPI dependencies),
routers (one APIRouter per resource),
openapi (the OpenAPI contract declared on the routes),
problems (the API's refusals as problem+json),
limits (input limits: a 4xx before anything is written),
admission and admission_http (refusing fast above saturation, as the headers are parsed),
service_faults (the service's own faults).

The money's modules:
booking (the idempotent request flow of every state change),
idempotency (keys claimed, completed and replayed),
reservations (amounts held before the provider is called),
payment_state (payment state and its ledger effects),
ledger (the double-entry, append-only ledger),
db (the schema and engine),
statements (the hot path's statements, compiled once per dialect),
durability (group commit for SQLite),
audit (the audit trail and its check),
cost (the cost model, accrued as money is spent),
risk (fraud screening with a timeout).

The background modules:
adapters (provider adapters: the only way to a provider),
provider_http (the HTTP client they post through),
resilience (retries, retry budget and circuit breaker),
outbox (the async boundary after a money movement),
reconciliation (captures matched against settlement files),
workers (background jobs off the event loop).
"""
