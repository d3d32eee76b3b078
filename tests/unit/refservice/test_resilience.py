import random

from moneypath.reference.refservice.resilience import CircuitBreaker, RetryPolicy


def test_backoff_is_capped_exponential_with_full_jitter():
    policy = RetryPolicy(base_s=0.1, cap_s=0.5)
    rng = random.Random(1)
    delays = {attempt: [policy.delay(attempt, rng) for _ in range(500)] for attempt in range(6)}
    for attempt, values in delays.items():
        ceiling = min(0.5, 0.1 * 2 ** attempt)
        assert all(0 <= v <= ceiling for v in values)
        assert max(values) > 0.8 * ceiling and min(values) < 0.2 * ceiling  # spread over the whole range
    assert max(delays[5]) <= 0.5


def test_breaker_opens_half_opens_and_closes():
    now = [0.0]
    changes = []
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10, on_change=changes.append, clock=lambda: now[0])
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == "closed"
    breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 10.5
    assert breaker.allow() and breaker.state == "half_open"
    assert not breaker.allow()  # one trial at a time
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 21
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()
    assert changes == ["open", "half_open", "open", "half_open", "closed"]


def test_a_success_resets_the_consecutive_failure_count():
    breaker = CircuitBreaker(failure_threshold=3)
    for _ in range(5):
        breaker.failure()
        breaker.failure()
        breaker.success()
    assert breaker.state == "closed"
