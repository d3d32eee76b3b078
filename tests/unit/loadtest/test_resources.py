"""What a load step used, and which resource ran out first (moneypath.loadtest.command.resources)."""

from __future__ import annotations

import os
import time

from moneypath.loadtest.command import resources


def test_the_limit_is_the_resource_nearest_its_ceiling():
    u = resources.Usage({"service": 0.93, "locust": 0.4, "providersim": 0.2}, {"service": 1, "locust": 1,
                                                                               "providersim": 1}, 2)
    assert resources.bottleneck(u)[0] == "service"
    assert "service CPU at 93%" in resources.bottleneck(u)[1]
    busy_db = resources.Usage({"service": 0.5}, {"service": 1}, 2, db_write_busy=0.95, single_writer=True)
    assert resources.bottleneck(busy_db)[0] == "db_write"
    server = resources.Usage({"service": 0.5}, {"service": 1}, 2, db_write_busy=4.1)  # concurrent writers
    assert resources.bottleneck(server)[0] is None
    whole = resources.Usage({"service": 0.75, "locust": 0.7, "providersim": 0.3}, {"service": 1, "locust": 1,
                                                                                 "providersim": 1}, 2)
    assert resources.bottleneck(whole)[0] == "machine"  # 1.75 of 2 cores: no single part, the machine
    idle = resources.Usage({"service": 0.3}, {"service": 1}, 2)
    assert resources.bottleneck(idle) == (None, "none at its ceiling (highest: service CPU 30%)")
    assert resources.bottleneck(resources.Usage())[0] is None


def test_a_meter_measures_the_cpu_a_process_burns_against_one_core():

    meter = resources.CpuMeter({"this": [os.getpid()]}, every_s=0.05)
    meter.begin()
    t = time.process_time()
    while time.process_time() - t < 0.3:
        pass
    usage = meter.end()
    assert 0.2 < usage.cores["this"] <= 1.5 and usage.ceilings["this"] == 1


def test_a_cpu_quota_lowers_a_groups_ceiling_and_is_named():
    from types import SimpleNamespace

    from moneypath.loadtest.in_locust.cpu_quota import Quota

    procs = [SimpleNamespace(pid=1), SimpleNamespace(pid=2)]
    v1 = Quota(0.04, "cgroup v1 cpu.cfs_quota_us 4000 / cpu.cfs_period_us 100000", None)
    assert resources.quota_ceiling(procs, 2, lambda pid: v1) == (0.04, v1.text)  # one cgroup: one quota shared
    assert resources.quota_ceiling(procs, 2, lambda pid: v1 if pid == 1 else None) == (2.0, None)  # one unbound
    assert resources.quota_ceiling(procs, 2, lambda pid: Quota(4, "4 cores", None)) == (2.0, None)  # above its cores
    u = resources.Usage({"locust": 0.039}, {"locust": 0.04}, 2, limits={"locust": v1.text})
    assert resources.bottleneck(u) == ("locust", "load generator CPU (Locust) at 98% of its ceiling (0.04 cores, its "
                                                 f"CPU quota: {v1.text})")
