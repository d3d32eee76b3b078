"""Several instances of the service on one database, for real: `moneypath drill run --instances 2 --postgres`
starts two reference service processes sharing a throwaway PostgreSQL ledger, each scraped as its own target, and
spreads the drill's payments over both; the drill's money checks read that database. The provider-outage drill
must pass every objective and page on-call once: the generated rules aggregate `instance` away
(moneypath.check.instances proves it on the text; this proves it live)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from moneypath.cli import main
from moneypath.stack import pgserver
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
DRILLS = ROOT / "runbooks" / "drills"


def test_the_outage_drill_pages_once_with_two_instances_on_one_database(tmp_path, capsys, monkeypatch):
    try:
        pgserver.find_binaries()
    except pgserver.Unavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    reports, state = tmp_path / "reports", tmp_path / "state"
    started = time.monotonic()
    monkeypatch.setenv("MONEYPATH_INSTANCES", "2")  # the stack's shape: the environment or moneypath.run.yaml
    monkeypatch.setenv("MONEYPATH_POSTGRES", "1")
    code = main(["drill", "run", str(DRILLS / "provider-partial-outage.yaml"),
                 "--catalog", str(ROOT / "moneypath.yaml"), "--state-dir", str(state), "--reports", str(reports)])
    out = capsys.readouterr().out
    print(f"\nthe outage drill on two instances in {time.monotonic() - started:.0f} s")
    journals = list(Path(reports).glob("*/journal.json"))
    assert len(journals) == 1, out
    journal = json.loads(journals[0].read_text())
    assert [o for o in journal["objectives"] if not o["ok"]] == [], out
    assert len(journal["target"]["instances"]) == 1  # the second instance; the first is target.service
    assert journal["target"]["database"].startswith("postgresql+psycopg://postgres@127.0.0.1:")
    expected = [r for r in journal["alerts"] if r["expectation"] == "expected"]
    assert len(expected) == 1 and expected[0]["receivers"] == ["payments-oncall"], expected
    # One firing notification per alert series, none per instance (the pager's journal of what Alertmanager sent).
    (pages,) = (state / "drills").glob("*/pages.jsonl")
    firing = [json.loads(line) for line in pages.read_text().splitlines() if line.strip()]
    firing = [p for p in firing if p["status"] == "firing" and p["alertname"] == "MoneyPathProviderPartialOutage"]
    assert firing and not [p for p in firing if "instance" in p["labels"] or "pod" in p["labels"]], firing
    assert len({p["fingerprint"] for p in firing}) == 1, firing
    # Both processes were scraped as targets of their own, each on its metrics port (--metrics-port, off its loop).
    (config,) = (state / "drills").glob("*/prometheus.yml")
    scraped = [t for job in yaml.safe_load(config.read_text())["scrape_configs"]
               for group in job.get("static_configs", []) for t in group["targets"]]
    instances = [journal["target"]["service"], *journal["target"]["instances"]]
    assert len(set(scraped)) == len(instances) == 2, (instances, scraped)
    assert not {url.removeprefix("http://") for url in instances} & set(scraped), (instances, scraped)
    print(f"detect {journal['timings']['detect_s']} s, page {journal['timings']['page_s']} s")
    assert code == 0, out
