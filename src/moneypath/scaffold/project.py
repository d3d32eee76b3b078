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
from dataclasses import dataclass, field
from pathlib import Path

from moneypath._common.atomic import write_json, write_text
from moneypath.catalog import DEFAULT_PATH, Catalog, CatalogError, load_catalog, parse_catalog
from moneypath.check.drill_files import DRILL_DIR
from moneypath.generate import build
from moneypath.scaffold import pages
from moneypath.scaffold.catalog_template import Options, catalog_yaml

MANIFEST = ".moneypath-init.json"
LOCUSTFILE = "loadtests/locustfile.py"
SCENARIOS = "loadtests/scenarios.yaml"  # where `moneypath loadtest` looks by default: beside the locustfile


@dataclass
class InitResult:
    catalog: Catalog
    written: list[str] = field(default_factory=list)  # new or rewritten (untouched since init wrote them)
    built: list[str] = field(default_factory=list)  # generated artifacts `moneypath build` wrote
    kept: list[str] = field(default_factory=list)  # edited by a person: left alone
    removed: list[str] = field(default_factory=list)  # untouched pages of alerts that no longer exist
    orphaned: list[str] = field(default_factory=list)  # edited pages of alerts that no longer exist


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def requests_path(c: Catalog) -> str:
    """The drills' request template for the service (README, "Drilling your own service")."""
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


def init_project(root: Path, options: Options | None) -> InitResult:
    """Write or refresh the project under `root`; CatalogError if the catalog there is not valid.
    `options` make a new catalog when there is none; with one already there they are not needed."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text())["files"]
    except FileNotFoundError:
        manifest = {}
    except (ValueError, KeyError, TypeError):
        raise CatalogError([f"{manifest_path}: not a moneypath init manifest; move it away and run init again"]) from None
    catalog_path = root / DEFAULT_PATH
    written: list[str] = []
    if not catalog_path.exists():
        if options is None:
            raise CatalogError([f"{catalog_path}: no catalog yet: give --providers and --currencies to write one"])
        text = catalog_yaml(options)
        parse_catalog(text, str(catalog_path))  # a catalog that would not load is never written
        write_text(catalog_path, text)
        manifest[DEFAULT_PATH] = _digest(text)
        written.append(DEFAULT_PATH)
    catalog = load_catalog(catalog_path)
    result = InitResult(catalog, written=written)
    result.built = build.write(catalog, root)

    wanted = scaffold_files(catalog)
    for rel, content in wanted.items():
        path = root / rel
        if path.exists():
            current = path.read_text(encoding="utf-8")
            if current == content:
                manifest[rel] = _digest(content)
                continue
            if manifest.get(rel) != _digest(current):  # not what init last wrote: a person's work
                result.kept.append(rel)
                continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, content)
        manifest[rel] = _digest(content)
        result.written.append(rel)
    for rel in sorted(set(manifest) - set(wanted) - {DEFAULT_PATH}):
        path = root / rel
        if not path.exists():
            del manifest[rel]
        elif _digest(path.read_text(encoding="utf-8")) == manifest[rel]:
            path.unlink()
            del manifest[rel]
            result.removed.append(rel)
        else:
            result.orphaned.append(rel)
    write_json(manifest_path, {"about": "what `moneypath init` wrote, by sha256; edited files are never overwritten",
                               "files": dict(sorted(manifest.items()))})
    return result
