"""A Prometheus that answers what moneypath.check.scraped_identity asks: the identities scraped (the info series
by instance_id, instance and job), `up`, and the target list."""

from __future__ import annotations

from dataclasses import dataclass, field

from moneypath.catalog.conventions import INSTANCE_ID_LABEL


@dataclass
class FakeProm:
    """Prometheus's answers: identity → (instance, job) scraped, and each target's up; `after` calls before the
    identities show (a process not scraped yet)."""

    info: dict[str, tuple[str, str]] = field(default_factory=dict)
    up: dict[tuple[str, str], float] = field(default_factory=dict)
    interval: str = "1s"
    after: int = 0
    queries: list[str] = field(default_factory=list)

    def instant(self, query: str, at=None) -> list[dict]:
        self.queries.append(query)
        if query == "up":
            return [{"metric": {"instance": i, "job": j}, "value": [0, str(v)]} for (i, j), v in self.up.items()]
        assert "instance_info" in query and "last_over_time" in query, query
        if sum("instance_info" in q for q in self.queries) <= self.after:
            return []
        return [{"metric": {INSTANCE_ID_LABEL: ident, "instance": i, "job": j}, "value": [0, "1"]}
                for ident, (i, j) in self.info.items()]

    def targets(self) -> list[dict]:
        return [{"labels": {"instance": i, "job": j}, "scrapeUrl": f"http://{i}/metrics", "scrapeInterval": self.interval,
                 "health": "up" if v else "down", "lastError": "" if v else "connection refused"}
                for (i, j), v in self.up.items()]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None
