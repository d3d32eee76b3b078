"""${NAME} in a drill (moneypath.formats.env_refs), and the HTTP calls a drill makes to switches it does not
own: a hook fault's set and clear (the team's feature flag or chaos tool) and a remediation action given by URL.
${NAME} in their URL, headers and body, and in the path, headers and body of every call of the drill's request
template, is read from the environment (a staging URL, an id or a token is not written into the drill file):
the template's once when the run starts (`with_env`), a hook's when it is called. `unset_env` names, before
anything is sent, each one the environment lacks: file, line and key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from moneypath._common import yamlio
from moneypath.formats.drill import Drill, rel_path
from moneypath.formats.env_refs import expand, missing, problem, refs, sent, template_refs, unset
from moneypath.formats.requests import line_of


def with_env(drill: Drill, env: Mapping[str, str] | None = None) -> Drill:
    """The drill with its request template's ${NAME}s read from the environment (once, when it starts)."""
    if drill.load is None:
        return drill
    load = drill.load.model_copy(update={"requests": drill.load.requests.expanded(env)})
    return drill.model_copy(update={"load": load})


def unset_env(drill: Drill, root: Path = Path("."), env: Mapping[str, str] | None = None) -> list[str]:
    """One line per ${NAME} the drill sends (its request template, inline or in its file; its hook fault; its
    actions) that the environment does not set: `drill.yaml:12: key: ...`, or for a template in its own file
    `drill.yaml: load.requests: requests/x.yaml:7: flow.0.headers.X: ...`."""
    file = Path(root) / drill.path if (Path(root) / drill.path).is_file() else Path(drill.path)
    lines = unset_in_file(drill.path, file, root, env)
    if lines is None:  # a drill built in memory, or a file gone since it was read: the model's names
        return [f"{drill.path}: ${{{name}}} is not set in the environment, or is empty" for name in missing_env(drill, env)]
    return lines


def unset_in_file(rel: str, file: Path, root: Path = Path("."), env: Mapping[str, str] | None = None
                  ) -> list[str] | None:
    """unset_env of a drill file as written (a canary drill's too: its releases' hook faults); None when it
    cannot be read."""
    try:
        text = file.read_text(encoding="utf-8")
        doc = yamlio.load(text)
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(doc, dict):
        return []
    lines = []
    load = _mapping(doc, "load")
    requests = load.get("requests")
    if isinstance(requests, str):
        tfile = file.parent / requests
        try:
            ttext = tfile.read_text(encoding="utf-8")
            tdoc = yamlio.load(ttext)
        except (OSError, yaml.YAMLError):  # the drill's reader has said why
            ttext, tdoc = "", None
        where = f"{rel}: load.requests: {rel_path(tfile, Path(root))}"
        lines += [problem(f"{where}:{line_of(ttext, list(keys))}", keys, name, env)
                  for keys, name in unset(template_refs(tdoc), env)]
    else:
        lines += [problem(f"{rel}:{line_of(text, list(keys))}", keys, name, env)
                  for keys, name in unset(template_refs(requests, ("load", "requests")), env)]
    faults = [(("fault",), _mapping(doc, "fault"))]
    for i, release in enumerate(doc.get("releases") if isinstance(doc.get("releases"), list) else []):
        listed = release.get("faults") if isinstance(release, dict) else None
        faults += [(("releases", str(i), "faults", str(j)), f) for j, f in enumerate(listed or []) if isinstance(f, dict)]
    actions = _mapping(doc, "mitigation").get("actions")
    found = [item for at, fault in faults for key in ("set", "clear") for item in sent(fault.get(key), (*at, key))]
    found += [item for i, a in enumerate(actions if isinstance(actions, list) else [])
              for item in sent(a, ("mitigation", "actions", str(i)))]
    lines += [problem(f"{rel}:{line_of(text, list(keys))}", keys, name, env)
              for keys, name in unset(iter(found), env)]
    return lines


def _mapping(doc: dict, key: str) -> dict:
    return doc[key] if isinstance(doc.get(key), dict) else {}


def missing_env(drill: Drill, env: Mapping[str, str] | None = None) -> list[str]:
    """The ${NAME}s a drill's request template, hooks and actions read that the environment does not set or sets
    empty (a `${NAME:-...}` has its default)."""
    env = os.environ if env is None else env
    calls: list[Any] = [] if drill.load is None else [
        [c.path, c.headers, c.json_body] for c in (*drill.load.requests.steps, drill.load.requests.capture,
                                                   drill.load.requests.read) if c is not None]
    if drill.fault is not None and drill.fault.where == "hook":
        calls += [drill.fault.set.model_dump(by_alias=True), drill.fault.clear.model_dump(by_alias=True)]
    calls += [a.model_dump(by_alias=True) for a in drill.mitigation.actions if a.url]
    return missing((name for _, name in refs(calls)), env)


def call(http: httpx.Client, method: str, url: str, headers: dict[str, str], body: Any,
         expect_status: list[int]) -> tuple[bool, str]:
    """Make the call; (ok, what happened in a few words). Never raises for a transport failure."""
    url = expand(url)
    try:
        r = http.request(method, url, headers=expand(headers), json=expand(body) if body is not None else None)
    except httpx.HTTPError as exc:
        return False, f"{method} {url}: {type(exc).__name__}"
    detail = f"{method} {url} → {r.status_code}"
    return r.status_code in expect_status, detail
