"""What `moneypath loadtest` and `moneypath capacity` check before anything runs: the locustfile and the
report's staging directory. Bad input is a `UsageError`: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

from moneypath.loadtest import report


class UsageError(Exception):
    """Bad input to a load-test command, found before Locust starts; the message is one line."""


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
        return report.staging_dir(Path(out), prefix)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create a report directory there ({exc.strerror or exc})") from None
