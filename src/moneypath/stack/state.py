"""What a running local stack is: its parts and settings, kept in `<state>/stack.json` so another shell finds them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from moneypath._common import atomic
from moneypath.catalog.conventions import HA_COMPONENTS, HA_REPLICAS

STATE_FILE = "stack.json"
LEDGER_DB = "ledger.db"  # the service's SQLite file in the state directory, unless up() is given a db_url
INSTANCE_PART = "refservice-"  # parts refservice (instance 0), refservice-1, refservice-2, …
REPLICAS = ("", "-b")  # part-name suffixes of an HA pair: prometheus and prometheus-b, alertmanager and alertmanager-b


def replica_part(component: str, replica: str) -> str:
    """The part that runs `replica` (HA_REPLICAS: a, b) of a monitoring pair: prometheus-b for (prometheus, b)."""
    if component not in HA_COMPONENTS or replica not in HA_REPLICAS:
        raise StackError(f"no replica {replica!r} of {component!r} (pairs: {', '.join(HA_COMPONENTS)}; "
                         f"replicas {', '.join(HA_REPLICAS)})")
    return component + REPLICAS[HA_REPLICAS.index(replica)]


class StackError(Exception):
    pass


@dataclass
class Part:
    name: str
    url: str
    pid: int
    health_path: str
    log: str
    argv: list[str] = field(default_factory=list)  # how it was started (restart_part starts it so again)


@dataclass
class StackState:
    state_dir: str
    scrape_interval: str
    evaluation_interval: str
    targets: list[str]
    parts: list[Part] = field(default_factory=list)
    time_factor: float = 1.0  # rules compressed by this factor (moneypath.generate.compress); 1 = as committed
    engine: str = "prometheus"  # or "vm": VictoriaMetrics stores and answers queries, vmalert runs the rules
    db_url: str = ""  # the reference service's ledger database, when `up` started it
    postgres_dir: str = ""  # the throwaway PostgreSQL cluster `up --postgres` made; removed by `down`
    ha: bool = False  # the monitoring runs in pairs (replica_part names them)
    fast: bool = False  # 1 s intervals and the FAST notification timings (moneypath.generate.routing)
    # The reference service's signed audit checkpoints ("" when it does not sign): the directory, the verifier
    # key file, and the ledger database they cover ("" for a database the stack was given: its URL is not kept).
    audit_checkpoints: str = ""
    audit_key: str = ""
    ledger_url: str = ""

    def service_urls(self) -> list[str]:
        """Every instance of the reference service, instance 0 (part "refservice") first."""
        return [p.url for p in self.parts if p.name == "refservice" or p.name.startswith(INSTANCE_PART)]

    def audit_verify_command(self) -> str:
        """The one command that checks the stack's ledger against what its service signed."""
        return (f"moneypath audit verify --db {self.ledger_url or 'URL'} --checkpoints {self.audit_checkpoints} "
                f"--key {self.audit_key}")

    def url(self, name: str) -> str:
        """A part's URL; "prometheus" is whatever answers the Prometheus HTTP API (VictoriaMetrics with vm)."""
        if name == "prometheus" and self.engine == "vm":
            name = "victoriametrics"
        return next(p.url for p in self.parts if p.name == name)

def load_state(state_dir: Path) -> StackState | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    data["parts"] = [Part(**p) for p in data["parts"]]
    return StackState(**data)

def save_state(state: StackState) -> None:
    atomic.write_text(Path(state.state_dir) / STATE_FILE, json.dumps(asdict(state), indent=2))
