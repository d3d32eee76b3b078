"""Synthetic resource samples of a soak for the drift tests: a run at RATE authorizations per second from START,
its CPU, RSS and database growing as told, and the drift computed over it."""

from __future__ import annotations

from moneypath.loadtest.command.soak import drift
from moneypath.loadtest.command.soak.drift import Sample

START = 1_700_000_000.0
RATE = 150.0  # authorizations per second


def run(duration_s=600.0, every_s=5.0, cpu_ms=2.0, cpu_growth=0.0, rss_mb=80.0, rss_growth_mb_per_s=0.0,
        db_bytes=1500.0, db=None, auth=True, cpu=True, rss=True, requests_per_authorization=None):
    """Samples of a run: CPU ms per authorization growing by `cpu_growth` (a share) over the run, RSS growing
    linearly, the DB growing `db_bytes` per payment (or by `db(t, n)`). With `requests_per_authorization`
    (a function of t), the samples count requests too."""
    out, cpu_s, requests = [], 0.0, 0.0
    t = 0.0
    while t <= duration_s + 1e-9:
        n = RATE * t
        if requests_per_authorization and t > 0:
            requests += RATE * every_s * requests_per_authorization(t)
        if t > 0:
            per = cpu_ms * (1 + cpu_growth * t / duration_s) / 1000
            cpu_s += per * RATE * every_s
        size = db(t, n) if db else 4096 + db_bytes * n
        out.append(Sample(START + t, cpu_s if cpu else None, (rss_mb + rss_growth_mb_per_s * t) * 1e6 if rss else None,
                          size, n if auth else None, requests if requests_per_authorization else None))
        t += every_s
    return out


def compute(samples, duration_s=600.0, warmup_s=15.0, p99=(100.0, 101.0), **kw):
    return drift.compute(samples, START, START + duration_s, warmup_s, p99, **kw)
