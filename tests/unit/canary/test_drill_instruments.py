"""A canary drill proves, before any load, that each track answers as a process Prometheus scrapes: a track that
does not leaves every release not measured with the check's line, and no release runs."""

from __future__ import annotations

from moneypath._common.verdict import NOT_MEASURED, Check


def test_a_track_prometheus_does_not_scrape_leaves_every_release_not_measured(catalog, monkeypatch):
    from moneypath.canary import drill_run as canary
    from moneypath.canary.drill_file import CanaryDrill

    drill = CanaryDrill.model_validate({
        "kind": "canary", "title": "t", "rate": 10, "warm_up": 5, "judge_every": 0.05,
        "load": {"providers": {"acme": 1}, "currencies": {"EUR": 1}, "amounts": {"min": 1, "max": 2},
                 "requests": {"authorize": {"path": "/pay", "id": "id", "outcome": "state"}, "approved": ["ok"]}},
        "releases": [{"name": "bad", "expect": "fail", "budget": 5,
                      "faults": [{"where": "service", "name": "fraud_spike", "params": {"rate": 0.5}}]}]})
    target = canary.CanaryTarget("http://127.0.0.1:8001", "http://127.0.0.1:8002", "http://127.0.0.1:9",
                                 'track="baseline"', 'track="canary"')
    line = ("127.0.0.1:8002 answered as a1b2c3 (pid 4242); Prometheus scrapes only 9f8e7d (pid 4243) at "
            "127.0.0.1:8003: the canary drill would read another instance's metrics")
    asked, said = [], []

    def proof_at(catalog, prometheus, service, seen, reader):
        asked.append((service, set(seen), reader))
        ok = service.endswith("8001")
        return Check.judged("scraped_identity", ok, "fine" if ok else line)

    run = canary.CanaryDrillRun(drill, catalog, target, say=said.append, judge=lambda *a: {})
    monkeypatch.setattr(run, "_probe", lambda url, n, seen=None: seen.add(f"id-of-{url[-4:]}"))
    monkeypatch.setattr(run, "_wait_scraped", lambda *a, **k: None)  # no Prometheus here: nothing to wait for
    monkeypatch.setattr(canary.scraped_preflight, "proof_at", proof_at)
    monkeypatch.setattr(run, "_switch", lambda *a, **k: (_ for _ in ()).throw(AssertionError("a fault was set")))
    monkeypatch.setattr(canary, "Load", lambda *a, **k: (_ for _ in ()).throw(AssertionError("load was sent")))
    journal = run.run()
    assert asked == [("http://127.0.0.1:8001", {"id-of-8001"}, "the canary drill"),
                     ("http://127.0.0.1:8002", {"id-of-8002"}, "the canary drill")]
    (release,) = journal["releases"]
    assert release["status"] == NOT_MEASURED and release["reason"] == f"not measured: {line}"
    assert journal["verdict"] == NOT_MEASURED
    assert any(line in text for text in said)
