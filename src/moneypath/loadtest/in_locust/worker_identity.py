"""What a Locust worker must share with its master to carry a run's load, and the one line that refuses it.

A worker started on another machine runs that machine's Locust, moneypath and files: the same scenario at the
same rate gives the same verdict only if the code and the files are the master's. Each side sends an `Identity`
(versions and sha256 digests); `differences` names what differs. No Locust import: moneypath's process, the
unit tests and the Locust processes (moneypath.loadtest.in_locust.worker_admission) all read it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import moneypath

# What a Locust worker of moneypath runs of moneypath's code (what the worker imports: the harness and the user
# class, and the packages they read); relative to the moneypath package. The command's modules beside them
# (loadtest/command/*.py) count too, so any difference in the load-test code refuses a worker; not
# loadtest/command/capacity or loadtest/command/soak: those run in moneypath's own process.
HARNESS_SOURCES = ("__init__.py", "_common", "catalog", "formats", "protocol", "loadtest/*.py",
                   "loadtest/in_locust", "loadtest/command/*.py")
FIELDS = (("locust", "Locust version"), ("harness", "moneypath harness"), ("locustfile", "locustfile"),
          ("scenario_file", "scenario file"))


@dataclass(frozen=True)
class Identity:
    locust: str  # Locust's version
    harness: str  # sha256 of moneypath's load-test code (harness_files)
    locustfile: str  # sha256 of the team's locustfile(s), moneypath's harness left out
    scenario_file: str  # sha256 of the scenario file

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def read(cls, data: object) -> Identity | None:
        """The identity a peer sent, or None when it is not one (an older moneypath, another plugin)."""
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k, _ in FIELDS):
            return None
        return cls(**{k: data[k] for k, _ in FIELDS})


def harness_files(root: Path | None = None) -> list[Path]:
    """The source files HARNESS_SOURCES names, sorted by their path in the package."""
    root = Path(moneypath.__file__).resolve().parent if root is None else root
    found: set[Path] = set()
    for pattern in HARNESS_SOURCES:
        if "*" in pattern:
            found.update(root.glob(pattern))
        elif (root / pattern).is_dir():
            found.update((root / pattern).rglob("*.py"))
        else:
            found.add(root / pattern)
    return sorted((p for p in found if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def digest(paths: list[Path], root: Path | None = None) -> str:
    """sha256 over the files in order, each as its name (relative to `root`, else its base name) and its bytes."""
    h = hashlib.sha256()
    for path in paths:
        name = path.relative_to(root).as_posix() if root is not None else path.name
        data = path.read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def harness_digest() -> str:
    root = Path(moneypath.__file__).resolve().parent
    return digest(harness_files(root), root)


def identity(locust_version: str, locustfiles: list[Path], scenario_file: Path) -> Identity:
    """This process's identity: its Locust, its moneypath, its locustfiles (moneypath's harness left out by the
    caller) and its scenario file. OSError when a file cannot be read."""
    return Identity(locust_version, harness_digest(), digest(list(locustfiles)), digest([scenario_file]))


def differences(master: Identity, worker: Identity) -> list[tuple[str, str, str]]:
    """What differs: (what, the master's, the worker's), digests shortened; empty: the worker may carry load."""
    out = []
    for key, title in FIELDS:
        ours, theirs = getattr(master, key), getattr(worker, key)
        if ours != theirs:
            out.append((title, ours, theirs) if key == "locust" else (title, f"sha256 {ours[:12]}",
                                                                      f"sha256 {theirs[:12]}"))
    return out


def refusal(master: Identity, worker: Identity | None) -> str | None:
    """Why a worker is refused (one line, the same on both sides), or None when it may carry load."""
    if worker is None:
        return "it sent no moneypath identity (start it with `moneypath loadtest-worker` of the master's moneypath)"
    diffs = differences(master, worker)
    if not diffs:
        return None
    titles = [title for title, _, _ in diffs]
    what = titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]
    return (f"its {what} differ{'s' if len(titles) == 1 else ''} from the master's ("
            + "; ".join(f"{title}: {ours} on the master, {theirs} on the worker" for title, ours, theirs in diffs)
            + ")")
