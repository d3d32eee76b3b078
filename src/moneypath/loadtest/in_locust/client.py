"""What a moneypath load-test user does, without Locust: `PaymentClient`, the body of
`moneypath.loadtest.in_locust.user.PaymentUser` (which adds Locust's FastHttpUser, pacing and the task).

Kept free of Locust so that the request naming, retries and the mix are tested in-process: the
client needs only `self.client` (Locust's FastHttp client: `post`/`get` with `catch_response`),
`self.environment.events.request` and the run's `LoadSettings`.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace

from moneypath.formats import scenarios
from moneypath.formats.scenarios import ACTIONS
from moneypath.loadtest.in_locust import flows, shape
from moneypath.loadtest.in_locust.request_names import (
    ATTEMPT,
    CHECK,
    DUPLICATE_CHECK,
    NOT_COUNTED,
    REFUSED,
    REPLAY_UNANSWERED,
    RETRIED,
    answered_by,
    request_name,
)
from moneypath.protocol.correlation_header import HEADER as CORRELATION_HEADER

IDEMPOTENCY_HEADER = "idempotency-key"


class Weighted:
    """A weighted choice from a scenario file's section, its cumulative weights built once."""

    def __init__(self, weights: dict[str, int]):
        self.keys = [k for k, w in weights.items() if w > 0]
        self.cum, total = [], 0
        for k in self.keys:
            total += weights[k]
            self.cum.append(total)

    def __call__(self) -> str:
        return random.choices(self.keys, cum_weights=self.cum)[0]


@dataclass
class LoadSettings:
    """One run, the same in every Locust process (moneypath.loadtest.in_locust.harness.settings builds it)."""
    spec: scenarios.ScenarioFile
    scenario: scenarios.Scenario
    rate: float
    users: int
    duration_s: float
    token: str | None  # None: no authorization header
    closed_loop: bool = False  # every user sends its next request as soon as the last one is answered
    hosts: tuple[str, ...] = ()  # every instance of the service (--hosts): user i sends to hosts[i mod N]

    def __post_init__(self):
        self.provider = Weighted(self.spec.providers)
        self.currency = Weighted(self.spec.currencies)
        self.method = Weighted(self.spec.methods)

    def host_of(self, user: int) -> str | None:
        """The instance the `user`-th user of a process sends to (None: Locust's --host): each its own, in turn."""
        return self.hosts[user % len(self.hosts)] if self.hosts else None

    @property
    def pace(self) -> float:
        return shape.pace_per_user(self.rate, self.users)


@dataclass(frozen=True)
class Order:
    """A new payment (or payout), drawn by the scenario file's weights."""
    provider: str
    currency: str
    method: str
    amount_minor: int    # the currency's minor units
    reference: str       # unique, and never mistaken for a card number
    correlation_id: str  # one per payment: its capture and refunds carry it too


@dataclass(frozen=True)
class Payment:
    """What the API answered for an order: what its capture and refunds need."""
    id: str | None       # the answer's `id_from` field (None when it has none)
    provider: str
    amount_minor: int
    correlation_id: str
    answer: dict = field(default_factory=dict, repr=False)  # the 2xx JSON answer
    refunded_minor: int = 0

    @property
    def refundable_minor(self) -> int:
        return self.amount_minor - self.refunded_minor


def reference(kind: str) -> str:
    """A unique merchant reference that never holds a card number, which a service may refuse glued to
    letters or not: a letter after every 8 hex digits leaves no run of the 13 a card needs."""
    h = uuid.uuid4().hex
    return f"{kind}{h[:8]}x{h[8:16]}"


def dig(answer, path: str):
    """`answer["data"]["id"]` for path "data.id"; None when any step is missing."""
    for step in path.split("."):
        if not isinstance(answer, dict) or step not in answer:
            return None
        answer = answer[step]
    return answer


def retryable(status: int) -> bool:
    """No answer (timeout, connection), a conflict (the key is still in flight) or a server error."""
    return status == 0 or status == 409 or status >= 500


MAX_RETRY_AFTER_S = 30.0  # a longer or unreadable Retry-After is capped: a load test must go on


def retry_after_s(status: int, value: str | None) -> float:
    """How long a refused client waits before its next request: the Retry-After seconds of a 503 or 429
    (capped), 0 otherwise. A date instead of seconds counts as the cap."""
    if status not in (429, 503) or not value:
        return 0.0
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value)))
    except ValueError:
        return MAX_RETRY_AFTER_S


def _failure(r) -> str:
    if not r.status_code:
        return f"no answer: {type(r.error).__name__ if r.error else 'connection'}"
    try:
        kind = r.json().get("type", "").rsplit("/", 1)[-1]
    except (ValueError, AttributeError):
        kind = ""
    return f"{r.status_code} {kind}".strip()


class PaymentClient:
    """A client of a payment API that the gates can judge. Subclass `PaymentUser` (not this) and
    override the endpoints your API has; see moneypath.loadtest.in_locust.user."""

    not_before = 0.0  # perf_counter time before which this client sends nothing (a Retry-After it was given)

    health_path = "/healthz"  # what the healthz scenario GETs

    # Answers of `authorize` the service acknowledges without counting an authorization (dotted path -> answers, as
    # a request template's counter.not_counted): each is reported as a CHECK, left out of the conservation of counts.
    not_counted: dict[str, list[str]] = {}

    # A request template (the file a drill's load.requests reads, relative to the locustfile): each authorize
    # runs its flow of steps and each capture its capture call; define authorize yourself to do otherwise.
    template: str | None = None

    # ------------------------------------------------------------ endpoints: override those your API has

    def authorize(self, order: Order) -> Payment | None:
        """Create a payment for `order`; return it when it can be captured (or is final), else None.
        Typically `return self.post("authorize", order, "/payments", json={...})`; with a `template`, its flow."""
        api = flows.template_of(type(self))
        if api is None:
            raise NotImplementedError
        return flows.run_flow(self, api, order)

    def capture(self, payment: Payment) -> Payment | None:
        """Capture a payment `authorize` returned; return it when it can be refunded, else None."""
        api = flows.template_of(type(self))
        if api is None or api.capture is None:
            raise NotImplementedError
        return flows.capture(self, api, payment)

    def refund(self, payment: Payment, amount_minor: int) -> Payment | None:
        """Refund `amount_minor` of a payment `capture` returned; None when it failed."""
        raise NotImplementedError

    def payout(self, order: Order) -> Payment | None:
        """Send money out for `order`."""
        raise NotImplementedError

    @classmethod
    def endpoints(cls) -> tuple[str, ...]:
        """The actions this class defines (or its `template` does: authorize, and capture when it has one)."""
        api = flows.template_of(cls)
        by_template = {"authorize"} | ({"capture"} if api.capture is not None else set()) if api else set()
        return tuple(a for a in ACTIONS if getattr(cls, a) is not getattr(PaymentClient, a) or a in by_template)

    # ------------------------------------------------------------ requests: what an endpoint calls

    def post(self, action: str, subject: Order | Payment, path: str, json=None, *, id_from: str = "id"
             ) -> Payment | None:
        """POST `json` to `path`, named "<action> [<provider>]" for the gates (see `_send` for which
        provider), with `subject`'s
        correlation id, a new idempotency key and the bearer token. Returns the 2xx JSON answer as a
        Payment (its id read from `id_from`, a dotted path such as "data.id"), None when the request
        failed (Locust counts the failure). In a scenario with `retry:` a failed attempt is sent again
        with the same key (capped exponential backoff, full jitter), then the key is replayed once
        more: it must answer with the same id."""
        name, key = request_name(action, subject.provider), uuid.uuid4().hex
        retry = self.s.scenario.retry
        if retry is None:
            answer = self._send("POST", path, json, name, subject.correlation_id, key)[1]
        else:
            answer = self._with_retries(path, json, name, subject, key, retry, id_from)
        if answer is None:
            return None
        if action == "authorize" and self.not_counted and flows.uncounted(self.not_counted, answer):
            self._fire(CHECK, NOT_COUNTED, time.perf_counter(), None)
        return Payment(dig(answer, id_from), self._provider_in(answer) or subject.provider, subject.amount_minor,
                       subject.correlation_id, answer, getattr(subject, "refunded_minor", 0))

    def get(self, action: str, subject: Order | Payment, path: str) -> dict | None:
        """GET `path`, named "<action> [<provider>]", with `subject`'s correlation id: the 2xx JSON
        answer, or None when the request failed."""
        return self._send("GET", path, None, request_name(action, subject.provider), subject.correlation_id)[1]

    def order(self, kind: str = "order") -> Order:
        """A new order drawn from the scenario file: provider, currency, method, amount (lognormal
        around the median, clamped), a unique reference starting with `kind`, a correlation id."""
        s, a = self.s, self.s.spec.amount_minor
        amount = int(min(a.max, max(a.min, random.lognormvariate(0, a.sigma) * a.median)))
        return Order(s.provider(), s.currency(), s.method(), amount, reference(kind), f"lt-{uuid.uuid4().hex}")

    # ------------------------------------------------------------ one step of each kind of scenario user

    def begin(self, settings: LoadSettings) -> None:
        """Called once per user before its first step."""
        self.s = settings
        self.headers = {"authorization": f"Bearer {settings.token}"} if settings.token else {}
        self.authorized: deque[Payment] = deque(maxlen=100)  # waiting for capture
        self.captured: deque[Payment] = deque(maxlen=100)    # refundable
        self.defined = self.endpoints()
        self.mix = {a: w for a, w in settings.spec.mix.items() if w > 0 and a in self.defined}
        self.step = {"checkout": self.checkout_step, "retry_storm": self.retry_storm_step,
                     "healthz": self.healthz_step}[settings.scenario.user]

    def checkout_step(self) -> None:
        """One request, chosen by the mix's weights among what is possible now (a capture needs a
        payment to capture, a refund one to refund)."""
        possible = [(a, w) for a, w in self.mix.items()
                    if (a != "capture" or self.authorized) and (a != "refund" or self.captured)]
        action = random.choices([a for a, _ in possible], weights=[w for _, w in possible])[0]
        if action == "authorize":
            self._authorize("order")
        elif action == "capture":
            self._capture()
        elif action == "refund":
            self._refund()
        else:
            self.payout(self.order("payout"))

    def retry_storm_step(self) -> None:
        """Capture the oldest authorized payment, else authorize a new one; every write retried."""
        if self.authorized and "capture" in self.defined:
            self._capture()
        else:
            self._authorize("storm")

    def healthz_step(self) -> None:
        self.client.get(self.health_path, name="healthz", headers={CORRELATION_HEADER: f"lt-{uuid.uuid4().hex}"})

    def _authorize(self, kind: str) -> None:
        payment = self.authorize(self.order(kind))
        if payment:
            self.authorized.append(payment)

    def _capture(self) -> None:
        captured = self.capture(self.authorized.popleft())
        if captured:
            self.captured.append(captured)

    def _refund(self) -> None:
        """All of what is left (the file's refund_full_share of the time) or half; the rest stays refundable."""
        payment = self.captured.popleft()
        full = random.random() < self.s.spec.refund_full_share
        amount = payment.refundable_minor if full else max(1, payment.refundable_minor // 2)
        if self.refund(payment, amount):
            left = replace(payment, refunded_minor=payment.refunded_minor + amount)
            if left.refundable_minor > 0:
                self.captured.append(left)

    # ------------------------------------------------------------ HTTP

    def _provider_in(self, answer) -> str | None:
        """The provider a 2xx answer names (top-level `provider`), when it is one of the scenario file's."""
        provider = answer.get("provider") if isinstance(answer, dict) else None
        return provider if isinstance(provider, str) and provider in self.s.spec.providers else None

    def _send(self, method: str, path: str, body, name: str, cid: str, key: str | None = None):
        """(status, the 2xx JSON answer or None); Locust records the request under `name`, with the provider
        the answer names when it names one (the service may route elsewhere than the order asked)."""
        headers = {**self.headers, CORRELATION_HEADER: cid}
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        call = self.client.post if method == "POST" else self.client.get
        kwargs = {"json": body} if method == "POST" else {}
        with call(path, headers=headers, name=name, catch_response=True, **kwargs) as r:
            status, data = r.status_code or 0, None
            if 200 <= status < 300:
                try:
                    data = r.json() if r.content else {}
                    r.success()
                    if provider := self._provider_in(data):
                        r.request_meta["name"] = answered_by(name, provider)
                except ValueError:
                    r.failure(f"{status} answer is not JSON")
            else:
                r.failure(_failure(r))
                self.note_refusal(r, status)
        return status, data

    def note_refusal(self, r, status: int) -> None:
        """A 503 or 429 with Retry-After: the service shed load; back off as a well-behaved client does (wait_time
        reads not_before) and record the request as REFUSED."""
        headers = getattr(r, "headers", None) or {}
        wait = retry_after_s(status, headers.get("retry-after"))
        if wait:
            self.not_before = max(self.not_before, time.perf_counter() + wait)
            r.request_meta["request_type"] = REFUSED

    def _fire(self, request_type: str, name: str, started: float, error: str | None) -> None:
        self.environment.events.request.fire(
            request_type=request_type, name=name, response_time=(time.perf_counter() - started) * 1000,
            response_length=0, exception=Exception(error) if error else None, context={})

    def _with_retries(self, path, body, name, subject, key, retry, id_from):
        started, data, error = time.perf_counter(), None, None
        for attempt in range(1, retry.max_attempts + 1):
            status, data = self._send("POST", path, body, name + ATTEMPT, subject.correlation_id, key)
            if data is not None:
                error = None
                break
            error = f"{status or 'timeout'} after {attempt} attempts"
            if not retryable(status):
                break
            if attempt < retry.max_attempts:
                time.sleep(retry.backoff_s(attempt, random.uniform))
        provider = self._provider_in(data)
        # what the client finally got: the failure gate judges it
        self._fire(RETRIED, answered_by(name, provider) if provider else name, started, error)
        if data is not None:
            self._replay(path, body, subject, key, dig(data, id_from), retry, id_from)
        return data

    def _replay(self, path, body, subject, key, first_id, retry, id_from) -> None:
        """The same key again: it must answer with the same payment, never make a second one."""
        name, started = request_name("replay", subject.provider) + ATTEMPT, time.perf_counter()
        for attempt in range(1, retry.max_attempts + 1):
            tried = time.perf_counter()
            status, answer = self._send("POST", path, body, name, subject.correlation_id, key)
            if answer is not None:
                again = dig(answer, id_from)
                self._fire(CHECK, DUPLICATE_CHECK, tried,
                           None if again == first_id else f"one key, two payments: {first_id}, {again}")
                return
            if attempt < retry.max_attempts:
                time.sleep(retry.backoff_s(attempt, random.uniform))
        # every replay failed: the key is not proven charged once; a failed CHECK says so (the gate
        # also compares the checks made with the keys completed)
        self._fire(CHECK, REPLAY_UNANSWERED, started,
                   f"no answer to {retry.max_attempts} replays of a key (last: {status or 'timeout'})")


def mix_problems(cls: type[PaymentClient], s: LoadSettings) -> tuple[str | None, list[str]]:
    """(why `cls` cannot run this scenario, the mix's actions it leaves out), checked before the run."""
    defined = cls.endpoints()
    kind, name = s.scenario.user, cls.__name__
    if flows.template_of(cls) is not None and s.scenario.retry is not None:
        return (f"scenario {s.scenario.name} retries each request with its key and replays it: {name}'s template "
                "flow is not retried; run it in a scenario without retry:, or define authorize with self.post"), []
    left_out = [a for a, w in s.spec.mix.items() if w > 0 and a not in defined] if kind == "checkout" else []
    if kind == "checkout" and not {"authorize", "payout"} & {a for a, w in s.spec.mix.items() if w > 0 and a in defined}:
        return (f"{name} defines none of the mix's authorize, payout (define authorize(self, order) and give it "
                "weight in the scenario file's mix)"), left_out
    if kind == "retry_storm" and "authorize" not in defined:
        return f"scenario {s.scenario.name} retries authorizations: {name} defines no authorize(self, order)", []
    return None, left_out
