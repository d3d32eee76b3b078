"""`moneypath init DIR`: a working project for a team's own service.

Writes the catalog (from the options, unless one is there: then that one is used), builds the
generated artifacts, and scaffolds what people edit: a runbook page per alert, a tabletop drill
per paging alert, a locustfile (a PaymentUser) with its scenario file, and the drills' request
template. A manifest (`.moneypath-init.json`) remembers what init wrote, by hash, so running init
again rewrites only files nobody touched, removes untouched pages of alerts
that no longer exist (a feature turned off), and says what it kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from moneypath._common.atomic import write_text
from moneypath.catalog import DEFAULT_PATH, Catalog, CatalogError, load_catalog, parse_catalog
from moneypath.formats.drill import DRILL_DIR
from moneypath.formats.scenarios import SCENARIO_FILE
from moneypath.generate import build, export
from moneypath.scaffold import pages
from moneypath.scaffold.catalog_template import ScaffoldOptions, catalog_yaml

MANIFEST = ".moneypath-init.json"
LOCUSTFILE = "loadtests/locustfile.py"
SCENARIOS = SCENARIO_FILE  # where `moneypath loadtest` looks by default: beside the locustfile


@dataclass
class InitResult:
    catalog: Catalog
    written: list[str] = field(default_factory=list)  # new or rewritten (untouched since init wrote them)
    built: list[str] = field(default_factory=list)  # generated artifacts `moneypath build` wrote
    kept: list[str] = field(default_factory=list)  # edited by a person: left alone
    removed: list[str] = field(default_factory=list)  # untouched pages of alerts that no longer exist
    orphaned: list[str] = field(default_factory=list)  # edited pages of alerts that no longer exist
    staged: list[str] = field(default_factory=list)  # every file moved into the project, the manifest included


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def requests_path(c: Catalog) -> str:
    """The drills' request template for the service (moneypath docs: drills.md, "Drilling your own service")."""
    return f"{DRILL_DIR}/requests/{c.service}.yaml"


def scaffold_files(c: Catalog) -> dict[str, str]:
    """Relative path → content of every file init scaffolds for a catalog."""
    files: dict[str, str] = {}
    for page in pages.alert_pages(c):
        files[page.file] = pages.runbook_page(c, page)
        if page.severity == "page":
            files[pages.drill_path(page)] = pages.drill_file(c, page)
    files[LOCUSTFILE] = pages.locustfile(c)
    files[SCENARIOS] = pages.scenarios_file(c)
    files[requests_path(c)] = pages.requests_file(c)
    # what `moneypath up --state-dir .moneypath` keeps (Prometheus data, logs) and the local test artifacts
    files[".gitignore"] = ".moneypath/\nreports/\nsnapshot/\n"
    return files


class InitError(Exception):
    """One line for the person running init; nothing was written or removed."""


def _inside(root: Path, rel: str, what: str, follow: bool = True) -> Path:
    """`root / rel` when it stays inside `root` once every link is followed (`follow`; else by its name alone);
    InitError otherwise (a manifest or a planted symlink naming `../victim.txt` or `/etc/passwd` is refused,
    not obeyed)."""
    if not isinstance(rel, str) or not rel or PurePosixPath(rel).is_absolute() or Path(rel).is_absolute() \
            or ".." in PurePosixPath(rel).parts or "\0" in rel:
        raise InitError(f"{what} names {rel!r}, which is not a path inside {root}: refusing to touch it")
    path = root / rel
    if follow and not path.resolve().is_relative_to(root.resolve()):
        raise InitError(f"{what} names {rel!r}, which resolves outside {root} (to {path.resolve()}): "
                        "refusing to touch it")
    return path


def _read_manifest(root: Path) -> dict[str, str]:
    manifest_path = root / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())["files"]
        if not isinstance(manifest, dict) or not all(isinstance(v, str) for v in manifest.values()):
            raise TypeError
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError, OSError):
        raise CatalogError([f"{manifest_path}: not a moneypath init manifest; move it away and run init again"]) from None
    for rel in manifest:  # the catalog init never writes once it is there: it may be linked from elsewhere
        _inside(root, rel, str(manifest_path), follow=rel != DEFAULT_PATH)
    return manifest


def init_project(root: Path, options: ScaffoldOptions | None, platform: str = "prometheus") -> InitResult:
    """Write or refresh the project under `root`; CatalogError if the catalog there is not valid, InitError when
    a path init would touch is outside the project or cannot be written. `options` make a new catalog when there
    is none; with one already there they are not needed. A `platform` other than prometheus (whose files are the
    build's) adds `moneypath export PLATFORM`'s files, with its defaults, under deploy/PLATFORM/.

    All or nothing: every file is first written to a staging directory beside `root` (in its parent, so the
    moves below never cross a file system). A new project is that directory, renamed to `root`; an existing one
    gets the staged files moved in only after every target was checked. A failure leaves `root` as it was."""
    root = Path(root)
    try:
        if root.exists() and not root.is_dir():
            raise InitError(f"{root} exists and is not a directory")
        existing = root.is_dir()
    except OSError as exc:
        raise InitError(f"{str(root)[:60]}: {exc.strerror or exc}; nothing was written") from None
    manifest = _read_manifest(root) if existing else {}
    parent = root.absolute().parent
    made = _make_dirs(parent)
    try:
        stage = Path(tempfile.mkdtemp(dir=parent, prefix=f".{root.absolute().name[:40]}.init-"))
    except OSError as exc:
        _remove_dirs(made)
        raise InitError(f"cannot write under {parent}: {exc.strerror or exc}; nothing was written") from None
    try:
        result, removals = _stage(root, stage, existing, options, manifest, platform)
        if existing:
            _commit(root, stage, removals)
        else:
            os.chmod(stage, 0o777 & ~_umask())
            try:
                os.rename(stage, root)
            except OSError as exc:
                raise InitError(f"cannot create {str(root)[:80]}: {exc.strerror or exc}; nothing was written") from None
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise InitError(f"cannot write{where}: {exc.strerror or exc}; nothing was written") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not _is_dir(root):
            _remove_dirs(made)
    return result


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long for the file system
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _make_dirs(path: Path) -> list[Path]:
    """Create `path` and its missing parents; the ones created, deepest first (removed again on a failure)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    try:
        for p in reversed(missing):
            p.mkdir()
    except OSError as exc:
        _remove_dirs(missing)
        raise InitError(f"cannot create {p}: {exc.strerror or exc}; nothing was written") from None
    return missing


def _remove_dirs(paths: list[Path]) -> None:
    for p in paths:
        try:
            p.rmdir()
        except OSError:
            pass


def deploy_files(c: Catalog, platform: str) -> dict[str, str]:
    """Relative path → content of a platform's export beside the plain files (none for plain Prometheus)."""
    if platform == "prometheus":
        return {}
    return {f"deploy/{platform}/{rel}": content for rel, content in export.files(c, platform).items()}


def _stage(root: Path, stage: Path, existing: bool, options: ScaffoldOptions | None,
           manifest: dict[str, str], platform: str) -> tuple[InitResult, list[str]]:
    """Write into `stage` what init would write into `root` (read: the files already in `root`); the result and
    the manifest's files to remove. Nothing in `root` changes here."""
    staged: dict[str, str] = {}

    def read(rel: str) -> str | None:  # what the project holds at `rel` now (None: nothing, or not a text file)
        if not existing:
            return None
        path = _inside(root, rel, "init")
        try:
            return path.read_text(encoding="utf-8") if path.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None

    catalog_path = root / DEFAULT_PATH
    written: list[str] = []
    if not catalog_path.is_file():  # (a catalog linked from elsewhere is read, never written)
        if existing and catalog_path.exists():
            raise InitError(f"{catalog_path} is not a file")
        if options is None:
            raise CatalogError([f"{catalog_path}: no catalog yet: give --providers and --currencies to write one"])
        text = catalog_yaml(options)
        catalog = parse_catalog(text, str(catalog_path))  # a catalog that would not load is never written
        staged[DEFAULT_PATH] = text
        manifest[DEFAULT_PATH] = _digest(text)
        written.append(DEFAULT_PATH)
    else:
        catalog = load_catalog(catalog_path)
    result = InitResult(catalog, written=written)
    for rel, content in {**build.artifacts(catalog), **deploy_files(catalog, platform)}.items():
        if read(rel) != content:
            staged[rel] = content
            result.built.append(rel)

    wanted = scaffold_files(catalog)
    for rel, content in wanted.items():
        now = read(rel)
        if now is not None:
            if now == content:
                manifest[rel] = _digest(content)
                continue
            if manifest.get(rel) != _digest(now):  # not what init last wrote: a person's work
                result.kept.append(rel)
                continue
        staged[rel] = content
        manifest[rel] = _digest(content)
        result.written.append(rel)
    removals = []
    for rel in sorted(set(manifest) - set(wanted) - {DEFAULT_PATH}):
        now = read(rel)
        if now is None and not (existing and (root / rel).exists()):
            del manifest[rel]
        elif now is not None and _digest(now) == manifest[rel]:
            removals.append(rel)
            del manifest[rel]
            result.removed.append(rel)
        else:
            result.orphaned.append(rel)
    staged[MANIFEST] = json.dumps({"about": "what `moneypath init` wrote, by sha256; edited files are never "
                                            "overwritten", "files": dict(sorted(manifest.items()))}, indent=2) + "\n"
    for rel, content in staged.items():
        path = stage / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, content)
    result.staged = sorted(staged)
    return result, removals


def _commit(root: Path, stage: Path, removals: list[str]) -> None:
    """Move the staged files into the existing project, after checking that every one can go where it goes:
    inside the project, under directories (not files), onto a file (not a directory)."""
    moves = []
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        rel = path.relative_to(stage).as_posix()
        target = _inside(root, rel, "init")
        for up in list(PurePosixPath(rel).parents)[:-1]:
            ancestor = root / up
            if ancestor.exists() and not ancestor.is_dir():
                raise InitError(f"{ancestor} is a file where init puts a directory ({rel}): move it away; "
                                "nothing was written")
        if target.is_dir():
            raise InitError(f"{target} is a directory where init writes a file: move it away; nothing was written")
        moves.append((path, target))
    for rel in removals:
        _inside(root, rel, "init")
    for source, target in moves:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    for rel in removals:
        (root / rel).unlink(missing_ok=True)
