"""Tracks on a running stack (moneypath.stack.tracks): each is scraped as a job of its own whose series carry
track=<name>; stopping one forgets its parts and its job, and leaves the stack and the other track alone."""

from __future__ import annotations

import yaml

from moneypath.stack import scrape, tracks
from moneypath.stack.state import Part, StackState, load_state, save_state

OWN = {"job_name": "payments", "static_configs": [{"targets": []}]}


def test_a_track_is_scraped_with_its_label_and_stopped_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(scrape, "_reload", lambda url: None)
    gone_pid = 2**22 + 12_345  # no such process: stop_track has nothing to signal
    parts = [Part("prometheus", "http://127.0.0.1:9090", gone_pid, "/-/ready", "p.log"),
             *(Part(f"{t}-{kind}", "http://127.0.0.1:1", gone_pid, "/healthz", "x.log")
               for t in ("baseline", "canary") for kind in ("providersim", "refservice"))]
    save_state(StackState(str(tmp_path), "1s", "1s", [], parts))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": [OWN]}))
    for track, port in (("baseline", 9101), ("canary", 9102)):
        scrape.set_extra_scrape_targets(tmp_path, tracks.TRACK_JOB + track, [f"127.0.0.1:{port}"], {"track": track})
    jobs = {j["job_name"]: j["static_configs"] for j in yaml.safe_load((tmp_path / "prometheus.yml").read_text())
            ["scrape_configs"]}
    assert jobs["track-canary"] == [{"targets": ["127.0.0.1:9102"], "labels": {"track": "canary"}}]
    assert jobs["track-baseline"] == [{"targets": ["127.0.0.1:9101"], "labels": {"track": "baseline"}}]

    assert tracks.stop_track(tmp_path, "canary") is True
    left = [p.name for p in load_state(tmp_path).parts]
    assert left == ["prometheus", "baseline-providersim", "baseline-refservice"]
    jobs = [j["job_name"] for j in yaml.safe_load((tmp_path / "prometheus.yml").read_text())["scrape_configs"]]
    assert jobs == ["payments", "track-baseline"]
    assert tracks.stop_track(tmp_path, "canary") is False  # nothing left of it
