"""What the worker-model tests share: the processes' environment, scrapes, and the checks made at each scrape
(the capture count equals what was recorded and never decreases; the directory's files stay bounded)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import INSTANCE_ID_LABEL, INSTANCE_INFO, Key
from moneypath.instrument import _multiproc as multiproc
from tests.conftest import FOREIGN_PATH, ROOT

CATALOG = load_catalog(FOREIGN_PATH)
CAPTURES = (CATALOG.signals[Key.PROVIDER_REQUESTS_TOTAL].name,
            (("operation", "capture"), ("outcome", "success"), ("provider", "komoju")))
KNET_CIRCUIT = (CATALOG.signals[Key.PROVIDER_CIRCUIT_STATE].name, (("provider", "knet"),))
OPEN = CATALOG.signals[Key.PROVIDER_CIRCUIT_STATE].enum["open"]


def leave_stale_run(mp_dir: Path) -> Path:
    """Files an earlier run left behind (its processes gone): 1000 captures that must never be counted."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    mp_dir.mkdir(parents=True, exist_ok=True)
    signal = CATALOG.signals[Key.PROVIDER_REQUESTS_TOTAL]
    labels = dict(CAPTURES[1])
    stale = mp_dir / "counter_1-1.db"
    store = MmapedDict(str(stale))
    store.write_value(mmap_key(signal.name.removesuffix("_total"), signal.name, list(labels), list(labels.values()),
                               signal.help), 1000.0, 0.0)
    store.close()
    return stale


def env_for(mp_dir: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir), "MONEYPATH_CATALOG": str(FOREIGN_PATH),
            "PYTHONPATH": path, **extra}


# A worker recycled at its request limit closes a connection it accepted but had not yet read: the client sees a
# reset, as any client of `--limit-max-requests` may. A scrape is retried; a call may or may not have been recorded.
DROPPED = (httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError)


def scrape(url: str, attempts: int = 3) -> dict[tuple, float]:
    for attempt in range(attempts):
        try:
            text = httpx.get(url, timeout=10).text
            break
        except DROPPED:
            if attempt == attempts - 1:
                raise
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def identity_pids(samples: dict[tuple, float]) -> set[int]:
    """The PIDs of the processes whose identity (`<token>-<pid>`) the scrape reports at 1."""
    name = f"{CATALOG.namespace}_{INSTANCE_INFO}"
    return {int(dict(labels)[INSTANCE_ID_LABEL].rpartition("-")[2])
            for (sample, labels), value in samples.items() if sample == name and value > 0}


def gone(pid: int) -> bool:
    return not multiproc.alive(multiproc.ident_of(pid))


@dataclass
class Watch:
    """Scrapes `metrics_url` and checks each one; `processes` is how many record at once."""

    metrics_url: str
    mp_dir: Path
    processes: int
    counts: list[float] = field(default_factory=list)
    most_files: int = 0

    def check(self, recorded: int, dropped: int = 0) -> dict[tuple, float]:
        """`dropped`: calls whose connection was reset, each recorded or not; the count must lie in between."""
        got = scrape(self.metrics_url)
        value = got.get(CAPTURES, 0)
        assert recorded <= value <= recorded + dropped, \
            f"{value} captures scraped, {recorded} recorded, {dropped} dropped (scrapes so far: {self.counts})"
        assert all(value >= before for before in self.counts), f"the count went down: {self.counts} then {value}"
        self.counts.append(value)
        names = [n for n in os.listdir(self.mp_dir) if n.endswith(".db")]
        archives = [n for n in names if n.endswith(f"_{multiproc.ARCHIVE}.db")]
        owners = {n[:-3].rpartition("_")[2] for n in names} - {multiproc.ARCHIVE}
        # a process that died since the scrape may still hold files; nothing older than that does
        assert len(owners) <= 2 * self.processes, f"files of {len(owners)} processes pile up: {sorted(names)}"
        assert len(archives) <= 4, f"one archive per type and gauge mode: {archives}"
        self.most_files = max(self.most_files, len(names))
        return got


def drive_web(base: str, watch: Watch, workers: int, per_round: int = 6, max_rounds: int = 40) -> set[int]:
    """Record captures through fresh connections (any worker serves each) until two workers have been recycled
    and the one that opened knet's circuit is gone; check at every round. Returns the workers' PIDs seen."""
    opener = int(httpx.post(f"{base}/open", timeout=10).text)
    assert watch.check(0).get(KNET_CIRCUIT) == OPEN, "the live gauge is scraped while its worker lives"
    recorded, dropped, pids = 0, 0, {opener}
    for _ in range(max_rounds):
        answered = set()
        for _ in range(per_round):
            try:
                answered.add(int(httpx.post(f"{base}/call", timeout=10).text))
                recorded += 1
            except DROPPED:
                dropped += 1
        pids |= answered
        assert dropped <= workers, f"{dropped} calls reset in one round: more than the recycles explain"
        opener_gone = gone(opener)  # before the scrape: a scrape taken while it lived may show its gauge
        dead = {pid for pid in pids if gone(pid)}
        got = watch.check(recorded, dropped)
        # each live worker's identity is scraped, a dead one's never (moneypath.instrument._identity: livemax)
        scraped = identity_pids(got)
        assert not scraped & dead, f"dead workers' identities still scraped: {sorted(scraped & dead)}"
        alive = {pid for pid in answered if not gone(pid)}
        assert alive <= scraped, f"workers {sorted(alive - scraped)} answered but their identity is not scraped"
        recorded, dropped = int(got.get(CAPTURES, 0)), 0
        if len(pids) >= workers + 2 and opener_gone:
            assert got.get(KNET_CIRCUIT, 0) == 0, "a dead worker's circuit state is still scraped"
            return pids
    raise AssertionError(f"workers were not recycled: {sorted(pids)} served {recorded} captures")
