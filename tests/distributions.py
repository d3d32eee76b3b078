"""Which installed distributions an extra of moneypath brings, their size, and which of them provide the
same import name (one shadowing the other: urllib3-future installs `urllib3` over urllib3's).

Read with importlib.metadata from any site-packages directory (this venv's, or a throwaway venv's, by path),
so the tests can look at an environment without running code inside it.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
MODULE_SUFFIXES = (".py", ".so", ".pyd")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(extras: Iterable[str], pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    """The core requirements plus those of `extras`, self-references (`moneypath[tools]`) expanded, read from
    the working tree's pyproject.toml (the installed moneypath's metadata may be another checkout's)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    name, optional = normalize(project["name"]), project.get("optional-dependencies", {})
    out, seen, todo = [Requirement(r) for r in project["dependencies"]], set(), list(extras)
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in optional[extra]:
            req = Requirement(text)
            if normalize(req.name) == name:
                todo.extend(req.extras)
            else:
                out.append(req)
    return out


def installed(path: list[str] | None = None) -> dict[str, md.Distribution]:
    """Normalized name → distribution, in `path` (site-packages directories) or this interpreter's sys.path."""
    dists: dict[str, md.Distribution] = {}
    for dist in md.distributions(**({"path": path} if path is not None else {})):
        dists.setdefault(normalize(dist.metadata["Name"]), dist)  # the first on the path wins, as for imports
    return dists


def closure(requirements: Iterable[Requirement], dists: dict[str, md.Distribution]) -> tuple[set[str], list[str]]:
    """The installed distributions these requirements pull in (recursively, extras and markers honoured), and
    the required ones that are not installed."""
    found: set[str] = set()
    missing: list[str] = []
    todo = [(req, "") for req in requirements]
    done: set[tuple[str, str]] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = normalize(req.name)
        dist = dists.get(name)
        if dist is None:
            missing.append(str(req))
            continue
        found.add(name)
        for wanted in ("", *sorted(req.extras)):
            if (name, wanted) in done:
                continue
            done.add((name, wanted))
            todo.extend((Requirement(r), wanted) for r in dist.requires or ())
    return found, sorted(set(missing))


def import_names(dist: md.Distribution) -> set[str]:
    """The importable names a distribution provides: for every module file it installs, the shortest dotted
    prefix that is a module or a regular package (has `__init__.py`). Namespace packages (PEP 420:
    `opentelemetry`, `google`) are shared on purpose and never count; `top_level.txt` when there is no RECORD."""
    files = dist.files
    if files is None:
        text = dist.read_text("top_level.txt") or ""
        return {line.strip() for line in text.splitlines() if line.strip()}
    paths = [f.parts for f in files if not f.parts[0].startswith("..") and "__pycache__" not in f.parts
             and not f.parts[0].endswith((".dist-info", ".data", ".egg-info")) and f.name.endswith(MODULE_SUFFIXES)]
    regular = {parts[:-1] for parts in paths if parts[-1] == "__init__.py"}
    names = set()
    for parts in paths:
        for depth in range(1, len(parts)):
            if parts[:depth] in regular:
                names.add(".".join(parts[:depth]))
                break
        else:  # a module file (foo.py, foo.cpython-311-x86_64-linux-gnu.so) at the top or inside a namespace
            names.add(".".join(parts[:-1] + (parts[-1].split(".", 1)[0],)))
    return names


def clashes(dists: Iterable[md.Distribution]) -> dict[str, list[str]]:
    """Import name → the distributions (two or more) that each install it, or install modules inside a
    regular package another one owns: one shadows or overwrites the other."""
    providers: dict[str, set[str]] = {}
    for dist in dists:
        for name in import_names(dist):
            providers.setdefault(name, set()).add(dist.metadata["Name"])
    for name in list(providers):
        for owner in list(providers):
            if name.startswith(owner + "."):  # `name` lives inside `owner`'s regular package
                providers[owner] |= providers[name]
    return {name: sorted(owners) for name, owners in sorted(providers.items()) if len(owners) > 1}


def disk_bytes(dist: md.Distribution) -> int:
    """Allocated bytes of the files a distribution's RECORD lists (as `du` counts them)."""
    size = 0
    for file in dist.files or ():
        try:
            size += os.stat(dist.locate_file(file)).st_blocks * 512
        except OSError:
            pass
    return size
