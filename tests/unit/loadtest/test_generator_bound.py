"""Generator-bound means what it says (moneypath.loadtest.command.generator_bound, cpu_quota): short of CPU against its
ceiling, the CPU quota when one applies (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us, read from a
fake cgroup root), throttled time counting; or short of users for the latency seen; each named with its figures,
and nothing else names the generator."""

from __future__ import annotations

from pathlib import Path

import pytest

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.loadtest.command import generator_bound, load_generator
from moneypath.loadtest.command import worker_health as wh
from moneypath.loadtest.command.gates import Gate
from moneypath.loadtest.in_locust import cpu_quota

PACE = 1.0


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def proc_of(tmp_path: Path, cgroup: str) -> Path:
    proc = tmp_path / "proc"
    write(proc, {"self/cgroup": cgroup})
    return proc


def test_a_v2_quota_is_read_from_the_process_cgroup_and_the_tightest_ancestor_wins(tmp_path):
    root = tmp_path / "cgroup"
    write(root, {"cgroup.controllers": "cpu memory", "cpu.max": "max 100000",
                 "team/cpu.max": "50000 100000", "team/cpu.stat": "usage_usec 1\nthrottled_usec 250000\n",
                 "team/worker/cpu.max": "200000 100000"})
    q = cpu_quota.quota(root=root, proc=proc_of(tmp_path, "0::/team/worker\n"))
    assert q.cores == 0.5 and q.text == f"cgroup v2 cpu.max 50000 100000 ({root / 'team'})"
    assert cpu_quota.throttled_s(q.stat) == 0.25
    assert cpu_quota.quota(root=root, proc=proc_of(tmp_path, "0::/\n")) is None  # max: none


def test_a_v1_quota_is_read_from_the_cpu_controller_and_its_throttled_time_in_ns(tmp_path):
    root = tmp_path / "cgroup"
    write(root, {"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000",
                 "cpu,cpuacct/gen/cpu.cfs_quota_us": "4000", "cpu,cpuacct/gen/cpu.cfs_period_us": "100000",
                 "cpu,cpuacct/gen/cpu.stat": "nr_periods 10\nnr_throttled 9\nthrottled_time 900000000\n",
                 "unified/cgroup.controllers": ""})
    proc = proc_of(tmp_path, "4:memory:/x\n3:cpu,cpuacct:/gen\n0::/\n")
    q = cpu_quota.quota(root=root, proc=proc)
    assert q.cores == pytest.approx(0.04)
    assert q.text == f"cgroup v1 cpu.cfs_quota_us 4000 / cpu.cfs_period_us 100000 ({root / 'cpu,cpuacct' / 'gen'})"
    assert cpu_quota.throttled_s(q.stat) == 0.9
    write(proc, {"self/schedstat": "300000000 600000000 42\n"})  # 0.3 s on a CPU, 0.6 s waiting for one
    assert cpu_quota.Probe(root=root, proc=proc).report() == {"cores": q.cores, "text": q.text, "throttled_s": 0.9,
                                                              "runnable_s": 0.9}


def test_no_cgroup_no_quota_and_a_container_path_falls_back_to_the_mount(tmp_path):
    root = tmp_path / "cgroup"
    assert cpu_quota.quota(root=root, proc=tmp_path / "nowhere") is None
    write(root, {"cpu/cpu.cfs_quota_us": "25000", "cpu/cpu.cfs_period_us": "100000"})  # the container's own cgroup
    q = cpu_quota.quota(root=root, proc=proc_of(tmp_path, "1:cpu:/docker/abc\n"))
    assert q.cores == 0.25 and cpu_quota.throttled_s(q.stat) is None  # no cpu.stat: not known, not 0


def quota_timeline(cpu: float, quota: float | None, throttled: float | None, rps: float = 9.0) -> wh.Timeline:
    """Worker a under `quota` at `cpu` % of a core, throttled so; worker b healthy. 10 users each at 1/s."""
    samples = [wh.HealthSample(float(t), 20, 5.0, {
        "a": wh.Point("running", 10, cpu, rps, None, float(t), quota, throttled),
        "b": wh.Point("running", 10, 30.0, 10.0, None, float(t))}) for t in range(1, 21)]
    limits = {"a": {"cores": quota, "text": "cgroup v1 cpu.cfs_quota_us 4000 / cpu.cfs_period_us 100000"}} if quota else {}
    return wh.Timeline("master", PACE, samples, {"a": 0, "b": 1}, 1000.0, limits)


def test_a_worker_at_its_quota_is_short_of_cpu_at_a_share_of_a_core_that_looks_idle():
    health = wh.judge(quota_timeline(3.9, 0.04, 0.8))
    assert health.short_of_cpu
    assert health.bound == ["worker 1 (a) short of CPU: 3.9 % of a core (median), 98 % of its CPU quota of 4 % of a "
                            "core (cgroup v1 cpu.cfs_quota_us 4000 / cpu.cfs_period_us 100000); throttled 0.80 s of "
                            "each second (cpu.stat)"]
    [cause] = health.to_dict()["causes"]
    assert cause["kind"] == "cpu" and cause["figures"]["quota_cores"] == 0.04
    assert cause["figures"]["throttled_s_per_s"] == 0.8
    assert not wh.judge(quota_timeline(3.9, None, None)).generator_bound  # 3.9 % of a whole core: room


def test_throttled_time_alone_counts_as_short_of_cpu():
    """Its own share looks low (others in its cgroup take the quota), but the cgroup is throttled a third of the time."""
    health = wh.judge(quota_timeline(20.0, 0.5, 0.35))
    assert health.bound == ["worker 1 (a) short of CPU: 20.0 % of a core (median), 40 % of its CPU quota of 50 % of a "
                            "core (cgroup v1 cpu.cfs_quota_us 4000 / cpu.cfs_period_us 100000); throttled 0.35 s of "
                            "each second (cpu.stat)"]
    assert not wh.judge(quota_timeline(20.0, 0.5, 0.02)).generator_bound


def test_too_few_users_for_the_latency_seen_are_named_with_their_figures():
    samples = [wh.HealthSample(float(t), 20, 1.0, {"local": wh.Point("running", 20, 0.0, 2.5, 2.5, float(t))})
               for t in range(1, 30)]
    tl = wh.Timeline("local", 0.5, samples)  # 20 users at 0.5 flows/s each: 10/s asked
    health = wh.judge(tl, wh.FLOWS_PER_S, latency=generator_bound.Latency(8.0, "checkout"))
    assert health.bound == ["too few users: 20 users at 8.0 s per checkout carry at most 2.5/s of 10/s asked; "
                            "raise --users"]
    assert not health.short_of_cpu and health.worker_cpu == {"local": 0.0}
    fast = wh.judge(tl, wh.FLOWS_PER_S, latency=generator_bound.Latency(1.5, "checkout"))  # 13/s: enough users
    assert not fast.generator_bound


def test_the_latency_is_the_mean_of_what_the_users_pace():
    entries = [{"method": "FLOW", "name": "checkout [acme]", "num_requests": 3, "total_response_time": 24000.0},
               {"method": "FLOW", "name": "checkout [globex]", "num_requests": 1, "total_response_time": 8000.0},
               {"method": "POST", "name": "authorize [acme]", "num_requests": 4, "total_response_time": 400.0}]
    assert generator_bound.latency_of(entries, wh.FLOWS_PER_S) == generator_bound.Latency(8.0, "checkout")
    assert generator_bound.latency_of(entries, wh.REQUESTS_PER_S) == generator_bound.Latency(0.1, "request")
    assert generator_bound.latency_of([], wh.REQUESTS_PER_S) is None


def test_too_few_users_leave_the_passing_rate_gates_not_measured_and_failed_timings_failed():
    samples = [wh.HealthSample(float(t), 20, 1.0, {"local": wh.Point("running", 20, 1.0, 2.5, 2.5, float(t))})
               for t in range(1, 30)]
    health = wh.judge(wh.Timeline("local", 0.5, samples), wh.FLOWS_PER_S, latency=generator_bound.Latency(8.0, "checkout"))
    gates = [Gate("flow_p99_locust", "flow p99, Locust", "locust", FAIL, "9000 ms", "<= 1000 ms", "over"),
             Gate("failure_ratio_prometheus", "errors, service", "prometheus", PASS, "0 %", "<= 1 %")]
    out = {gt.name: gt for gt in load_generator.apply(gates, health)}
    assert out["flow_p99_locust"].outcome is FAIL  # the service's slowness, measured: not the generator's
    assert out["failure_ratio_prometheus"].outcome is NOT_MEASURED
    assert "too few users: 20 users at 8.0 s per checkout" in out["failure_ratio_prometheus"].reason


def test_a_worker_moved_under_a_quota_mid_run_is_judged_on_its_seconds_there():
    cause, median = generator_bound.cpu_cause("w", [30.0] * 5 + [3.9] * 8, [None] * 5 + [0.04] * 8,
                                              [None] * 5 + [0.2] * 8, "cgroup v2 cpu.max 4000 100000 (/x)")
    assert median == 3.9 and cause.figures["share_of_ceiling"] == 0.975
    assert cause.line.startswith("w short of CPU: 3.9 % of a core (median), 98 % of its CPU quota of 4 % of a core")


def test_a_worker_starved_by_a_busy_machine_is_short_of_cpu_though_its_cpu_reads_low():
    """No quota: others have the cores. Its event loop was runnable nearly all the time, on a CPU 14 % of it."""
    def point(t, runnable):
        return wh.Point("running", 10, 14.0, 5.0, None, float(t), None, None, runnable)

    samples = [wh.HealthSample(float(t), 20, 5.0, {"a": point(t, 0.97), "b": wh.Point("running", 10, 3.0, 10.0, None,
                                                                                  float(t), None, None, 0.3)})
               for t in range(1, 21)]
    health = wh.judge(wh.Timeline("master", PACE, samples, {"a": 0, "b": 1}, 1000.0))
    assert health.bound == ["worker 1 (a) short of CPU: runnable 97% of the time (median; on a CPU or waiting for "
                            "one, /proc schedstat), 14 % of a core used"]
    assert health.to_dict()["causes"][0]["figures"]["runnable_s_per_s"] == 0.97
