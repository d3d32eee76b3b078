"""What `moneypath loadtest` and `moneypath capacity` check before anything runs: the locustfile (by default the
project's, beside the catalog) and the report's staging directory. Bad input is a `UsageError`: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

from moneypath.loadtest.command import run_report
from moneypath.scaffold.project import LOCUSTFILE


class UsageError(Exception):
    """Bad input to a load-test command, found before Locust starts; the message is one line."""


def default_locustfile(catalog: str | Path) -> Path:
    """The project's locustfile: loadtests/locustfile.py beside the catalog, where `moneypath init` writes a
    team's (and where moneypath's own repository keeps the reference service's); UsageError when it is not there."""
    path = Path(catalog).parent / LOCUSTFILE
    if not path.is_file():
        raise UsageError(f"{path}: no locustfile beside the catalog {catalog}: pass --locustfile FILE "
                         "(`moneypath init DIR` writes one)")
    return path


def locustfile(path: Path) -> Path:
    """`path` when Locust can load it as a locustfile; UsageError saying why not."""
    if not path.is_file():
        raise UsageError(f"{path}: locustfile not found")
    if path.suffix != ".py":
        raise UsageError(f"{path}: a locustfile is a Python file (.py)")
    if "," in str(path.resolve()):  # Locust's -f splits on commas (moneypath adds its harness that way)
        raise UsageError(f"{path}: Locust cannot load a locustfile whose path has a comma; rename or move it")
    return path


def staging(out: str, prefix: str) -> tuple[Path, Path]:
    """The report's staging directory under --out, made before anything runs; UsageError when it cannot be."""
    try:
        return run_report.staging_dir(Path(out), prefix)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create a report directory there ({exc.strerror or exc})") from None
