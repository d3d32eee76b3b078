"""`moneypath faultproxy`: an HTTP reverse proxy between a payment service and its providers that breaks
the money path on request, without touching the service.

    ANY /{provider}/{path}           → upstream[provider]/{path}   (the service's calls to a provider)
    ANY /webhooks/{provider}/{path}  → webhook_target/{path}       (the provider's webhooks back to the service)
    GET /healthz                     {"ok": true, "upstreams": {...}, ...}
    GET /admin/faults, PUT|DELETE /admin/faults/{name}[?provider=P]   (bearer token, scope admin:faults)

Method, query, headers (hop-by-hop ones dropped, Host set for the upstream), body and the answer's status,
headers and body pass unchanged (compressed bodies stay compressed; no cookie is kept; no redirect is
followed). An unknown provider is a 404, a provider of the catalog given no upstream a 502 (no-upstream; a fault
on it is refused), an upstream that cannot be reached a 502, one that does not answer within UPSTREAM_READ_S
a 504: problem+json, never a traceback; so is a request aiohttp cannot parse (431 headers too large, 414, 400:
parse_errors).

Faults are the shared switches (moneypath.protocol.faults.switches.Faults, vocabulary vocabularies.proxy_specs), off
unless the proxy starts with `enable_faults`; each hits one provider and ends by itself (`duration_s`).
On a provider call they apply in this order:

    reset {rate}                 the client's connection is closed (TCP RST) without an answer; nothing forwarded
    error_rate {rate, status}    the proxy answers `status` (default 503) itself, problem+json; nothing forwarded
    latency {extra_ms}           wait, then forward
    timeout {rate, delay_s}      forward; the upstream acts and answers; its answer is held delay_s: the
                                 ambiguous outcome (a client with a shorter timeout gives up, the charge happened)

On a webhook through /webhooks/{provider}/…:

    duplicate_webhooks {rate}    delivered twice: the provider gets the first delivery's answer, the copy
                                 (same bytes, same headers) follows as soon as that one is answered
    delay_webhooks {delay_s}     the proxy answers the provider 202 at once and delivers delay_s later
    out_of_order_webhooks {}     the first of a pair is answered 202 and held; the next one is delivered first
                                 (its answer goes to its provider), then the held one

Why 202 at once for delayed and held webhooks: real providers (Stripe, Adyen, Komoju…) give a webhook
10-30 s to be answered and retry on a timeout. Holding the provider's request open for delay_s would turn a
late webhook into a retried, duplicated one as soon as delay_s passes their timeout, which is another fault.
A late webhook in real life is the provider's queue running behind; answering for the service and
delivering later models that. The proxy then owns the delivery: it retries a failed one (connection error
or 5xx) BACKGROUND_RETRIES_S, logs a warning if it still fails, and counts it (GET /healthz "webhooks").
Replayed bytes keep the provider's original signature: a receiver that rejects seen nonces or a stale
timestamp (moneypath's own: 300 s) rejects a duplicate as replayed, and a delay beyond its window as stale.

Held and delayed work respects the fault's end: a held answer, a delayed request or webhook, and a webhook
held out of order are released when the fault is cleared, replaced, or its duration ends, whichever comes
first (late is better than lost); on shutdown everything held is released and delivered (bounded).

An answer a fault touched carries `X-Moneypath-Fault: <name>` (error_rate, latency, timeout); GET
/admin/faults shows how often each active fault fired since it was set, and each firing is logged at INFO
(at most one line a second per fault and provider, with the count).

The hot path with no fault set costs a truth test per fault (`Faults.fires` returns at once). aiohttp
serves and forwards (pooled keep-alive connections, uvloop when installed); the goal is at most 2 ms added
at p99 (benchmarks/bench_faultproxy.py). Why aiohttp: docs/decisions/0013-fault-proxy.md

Modules: proxy_config (command-line configuration), proxy_faults (the switches and what they hold), upstream
(forwarding), proxy_webhooks (the relay), handlers and admin (the routes, as named functions), proxy_state (what
the handlers serve from), responses (problem+json and JSON answers), parse_errors (requests aiohttp cannot parse),
server (the app and serving it).
"""

from moneypath.stack.faultproxy.proxy_config import ConfigError, ProxyConfig, banner, display, parse_upstreams, parse_url
from moneypath.stack.faultproxy.proxy_faults import ProxyFaults
from moneypath.stack.faultproxy.proxy_state import CONFIG, FAULTS, WEBHOOKS
from moneypath.stack.faultproxy.server import create_app, serve
from moneypath.stack.faultproxy.upstream import NOT_FORWARDED, forward_headers

__all__ = ["CONFIG", "FAULTS", "NOT_FORWARDED", "WEBHOOKS", "ConfigError", "ProxyConfig", "ProxyFaults", "banner",
           "create_app", "display", "forward_headers", "parse_upstreams", "parse_url", "serve"]
