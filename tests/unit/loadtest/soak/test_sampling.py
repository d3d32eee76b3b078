"""The soak drift's measuring (moneypath.loadtest.command.soak.sampling): the sampler, Locust's per-second history,
and the samples joined with it."""

from __future__ import annotations

import time

import pytest

from moneypath.loadtest.command.soak import drift
from moneypath.loadtest.command.soak.drift import Sample
from tests.support.drift_samples import START, run

# ---------------------------------------------------------------- measuring (sampler, Locust history)


HISTORY_HEAD = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,95%,99%,Total Request Count,Total Failure Count\n"


def test_authorization_history_counts_final_authorize_outcomes_per_second(tmp_path):
    from moneypath.loadtest.command import stats

    path = tmp_path / "locust_stats_history.csv"
    path.write_text(HISTORY_HEAD +
                    "100,5,POST,authorize [acme],3,0,10,20,30,3,0\n"
                    "100,5,POST,authorize [globex],3,0,10,20,50,2,0\n"
                    "100,5,POST,capture [acme],3,0,10,20,90,7,0\n"
                    "100,5,POST,authorize [acme] (attempt),3,0,10,20,900,9,0\n"
                    "100,5,,Aggregated,4.5,0.5,12,40,90,21,0\n"
                    "101,5,POST,authorize [acme],3,0,10,20,N/A,8,0\n"
                    "101,5,RETRIED,authorize [globex],3,0,10,20,40,4,0\n")
    ticks = stats.authorization_history(path)
    assert [(t.t, t.total, t.p99_ms, t.requests) for t in ticks] == [(100, 5, 50, 21), (101, 12, 40, None)]
    assert [t.total for t in stats.authorization_history(path, "acme")] == [3, 8]
    assert stats.authorization_history(tmp_path / "none.csv") == []


def test_the_sampler_reads_cpu_memory_of_a_process_group_and_the_database_files(tmp_path):
    import os

    from moneypath.loadtest.command.soak import sampling

    db = tmp_path / "ledger.db"
    db.write_bytes(b"x" * 4096)
    sampler = sampling.Sampler([os.getpid()], [db, tmp_path / "ledger.db-wal"], every_s=3600)
    first = sampler.sample(now=1.0)
    spent = time.process_time()
    while time.process_time() - spent < 0.05:  # some CPU: /proc counts it in 10 ms ticks (a fixed loop took < 1 once)
        sum(i * i for i in range(20_000))
    (tmp_path / "ledger.db-wal").write_bytes(b"y" * 1000)
    second = sampler.sample(now=2.0)
    assert first.db_bytes == 4096 and second.db_bytes == 5096
    assert second.cpu_s > first.cpu_s > 0 and second.rss_bytes > 1e6
    db.unlink()
    assert sampler.sample(now=3.0).db_bytes is None  # the main file gone: no size, not a size of 0
    gone = sampling.Sampler([2 ** 22 + 12345], None)  # no such process
    assert (gone.sample(now=1.0).cpu_s, gone.samples[0].rss_bytes) == (None, None)


def test_the_sampler_thread_samples_until_end_and_end_twice_is_harmless(tmp_path):
    from moneypath.loadtest.command.soak import sampling

    sampler = sampling.Sampler([], None, every_s=0.01)
    sampler.begin()
    import time

    time.sleep(0.05)
    n = len(sampler.end())
    assert n >= 3 and len(sampler.end()) == n


def test_a_target_that_is_not_the_local_stacks_service_samples_nothing_local(catalog, tmp_path):
    from types import SimpleNamespace

    from moneypath.loadtest.command.soak import sampling

    sampler = sampling.sampler_for(catalog, SimpleNamespace(state_dir=None, host="https://staging.example"))
    assert sampler.service_pids == [] and sampler.db_files is None
    assert "not the service of a local stack" in sampler.missing["db"]
    samples = sampling.process_from_prometheus(catalog, None, [Sample(1.0)], 5, sampler.missing, {})
    assert samples == [Sample(1.0)] and sampler.missing["cpu"] == "no local service processes and no Prometheus"


def test_measure_joins_samples_with_the_history_and_falls_back_to_locust_p99(catalog, tmp_path):
    from moneypath.loadtest.command.soak import sampling

    rows = []
    for s in range(0, 601):
        rows.append(f"{START + s:.0f},50,POST,authorize [acme],150,0,10,20,{120 if s < 300 else 130},{150 * s},0\n")
    (tmp_path / "locust_stats_history.csv").write_text(HISTORY_HEAD + "".join(rows))
    sampler = sampling.Sampler([12345], None, missing={"db": "not here"})  # local processes (not sampled here)
    sampler.samples = [Sample(s.t, s.cpu_s, s.rss_bytes) for s in run()]  # what the thread took: no counts
    d = sampling.measure(catalog, sampler, None, tmp_path, START - 3, 600, 15)
    assert d.windows.first == (START + 15, START + 75)
    cpu = d.metric("cpu_ms_per_authorization")
    assert cpu.first == pytest.approx(2.0, rel=0.03) and cpu.status == drift.PASS
    p99 = d.metric("p99_ms")
    assert (p99.first, p99.last, p99.status) == (120, 130, drift.FAIL)
    assert d.sources["p99"].startswith("Locust") and d.metric("db_bytes_per_payment").reason == "not measured: not here"
    assert d.metric("rss_mb").status == drift.PASS
    foreign = sampling.Sampler([], None)
    foreign.samples = list(sampler.samples)
    d = sampling.measure(catalog, foreign, None, tmp_path, START, 600, 15)
    assert d.metric("rss_mb").reason == "not measured: no local service processes and no Prometheus"


def test_a_foreign_services_history_gives_the_mix_and_cpu_and_database_are_judged_at_it(catalog, tmp_path):
    """Another shop's locustfile (providers payu and mollie, its own request names): requests come from Locust's
    aggregated row whatever the names, and a mix that settles (authorizations 50 % of requests at the start, 40 %
    after four minutes) over a flat 1 ms of CPU and 900 B of database per request passes, where both over
    authorizations alone grew."""
    from moneypath.loadtest.command.soak import sampling

    auths = requests = 0.0
    rows, cpu = [], {}
    for s in range(0, 601):
        share = 0.5 - 0.1 * min(1.0, s / 240)
        requests += 200
        auths += 200 * share
        rows += [f"{START + s:.0f},50,POST,authorize [payu],60,0,10,20,120,{auths * 0.6:.0f},0\n",
                 f"{START + s:.0f},50,POST,authorize [mollie],40,0,10,20,130,{auths * 0.4:.0f},0\n",
                 f"{START + s:.0f},50,POST,settle order [mollie],40,0,10,20,90,{requests - auths:.0f},0\n",
                 f"{START + s:.0f},50,,Aggregated,200,0,10,20,130,{requests:.0f},0\n"]
        cpu[s] = requests / 1000  # 1 ms per request
    (tmp_path / "locust_stats_history.csv").write_text(HISTORY_HEAD + "".join(rows))
    sampler = sampling.Sampler([12345], None)
    # its database: 900 B for every request it answers, whatever the request
    sampler.samples = [Sample(START + s + 0.5, cpu[s], db_bytes=8192 + 900 * 200 * s) for s in range(0, 601, 5)]
    d = sampling.measure(catalog, sampler, None, tmp_path, START, 600, 15)
    m = d.metric("cpu_ms_per_authorization")
    assert m.status == drift.PASS and m.drift == pytest.approx(0.0, abs=0.01)
    assert d.requests_per_authorization == pytest.approx(2.45, rel=0.03)  # the steady part's mix, mostly at 40 %
    assert "in the first minute" in m.reason and float(m.reason.rsplit(", ", 1)[1].rstrip("%)")) > 5
    db = d.metric("db_bytes_per_payment")  # the same mix: flat per request, so flat at the run's mix
    assert db.status == drift.PASS and db.drift == pytest.approx(0.0, abs=0.01)
    assert db.first == pytest.approx(900 * d.requests_per_authorization, rel=0.01)
    assert "in the first span" in db.reason and float(db.reason.rsplit(", ", 1)[1].rstrip("%)")) > 5


def test_measure_without_history_says_the_per_authorization_figures_are_not_measured(catalog, tmp_path):
    from moneypath.loadtest.command.soak import sampling

    sampler = sampling.Sampler([12345], None)
    sampler.samples = [Sample(s.t, s.cpu_s, s.rss_bytes) for s in run()]
    d = sampling.measure(catalog, sampler, None, tmp_path, START, 600, 15)
    assert d.metric("cpu_ms_per_authorization").reason == \
        "not measured: Locust wrote no per-second history of authorizations"
