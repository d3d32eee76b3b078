"""Locust's per-request statistics as its JSON report writes them, one entry at a time, for tests."""

from __future__ import annotations


def entry(name, method="POST", times=None, failures=0, start=1000.0, last=1010.0):
    times = times or {"100": 10}
    n = sum(times.values())
    total = sum(float(k) * v for k, v in times.items())
    return {"name": name, "method": method, "num_requests": n, "num_failures": failures, "response_times": times,
            "total_response_time": total, "max_response_time": max(float(k) for k in times), "start_time": start,
            "last_request_timestamp": last}
