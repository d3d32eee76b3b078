"""OpenSLO v1 → catalog SLOs: `moneypath slo import FILE` adds what maps and explains, one line each, what
does not; the catalog is rewritten (comments and layout kept) only when every SLO maps and the result
validates.

What maps: an SLO (its indicator inline, or a kind SLI named by `indicatorRef`) with `budgetingMethod:
Occurrences`, one rolling `timeWindow`, one objective, and
- a ratioMetric whose good and total queries select a catalog counter, bare or as `sum(rate(x[w]))`,
  `rate(x[w])` or `increase(x[w])` (any window, Sloth's `{{.window}}` included), or whose good query is a
  catalog histogram's `_bucket{le="X"}` and total its `_count` (a latency SLO under X);
- a thresholdMetric over a catalog histogram (histogram_quantile over its buckets, or its name) with an
  objective `op: lt|lte` and a `value` that is one of its buckets (a latency SLO under that value).
What does not: Timeslices budgeting, calendar windows, bad/total ratios, several objectives, other metric
sources, metrics the catalog does not declare, and thresholds on anything but a histogram's latency.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from moneypath._common import yamlio
from moneypath.catalog import DURATION, Catalog, parse_catalog
from moneypath.catalog.model import CatalogError
from moneypath.catalog.yaml_errors import error_line, error_text

_SELECTOR = re.compile(r'^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\})?\s*$')
_WRAPPED = re.compile(r'^\s*(?:sum\s*\(\s*)?(?:rate|increase)\s*\(\s*(.+?)\s*\[[^\]]*\]\s*\)\s*\)?\s*$', re.S)
_LE = re.compile(r'\ble\s*=\s*"([^"]+)"')


class ImportProblems(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Mapped:
    key: str
    slo: dict  # the catalog entry: description, objective, window, sli


def key_of(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def read_documents(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImportProblems([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportProblems([f"{path}: cannot read: {exc}"]) from None
    try:
        docs = [d for d in yamlio.load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        line = error_line(exc)
        raise ImportProblems([f"{path}{f':{line}' if line else ''}: YAML syntax error: {error_text(exc)}"]) from None
    if not all(isinstance(d, dict) for d in docs):
        raise ImportProblems([f"{path}: every document must be a mapping with apiVersion and kind"])
    return docs


def map_documents(c: Catalog, docs: list[dict], where: str) -> tuple[list[Mapped], list[str]]:
    slis = {d.get("metadata", {}).get("name"): d.get("spec", {}) for d in docs if d.get("kind") == "SLI"}
    mapped, problems = [], []
    for doc in docs:
        if doc.get("kind") != "SLO":
            continue
        name = str((doc.get("metadata") or {}).get("name", ""))

        def bad(path: str, what: str, name=name) -> None:
            problems.append(f"{where}: SLO {name or '(no metadata.name)'}: {path}: {what}")

        if doc.get("apiVersion") != "openslo/v1":
            bad("apiVersion", f"{doc.get('apiVersion')!r} is not openslo/v1")
            continue
        if not name:
            bad("metadata.name", "missing")
            continue
        spec = doc.get("spec") or {}
        entry = _map_slo(c, name, spec, slis, bad)
        if entry is None:
            continue
        key = key_of(name)
        if key in c.slos or any(m.key == key for m in mapped):
            bad("metadata.name", f"the catalog already has an SLO {key}; rename one")
            continue
        mapped.append(Mapped(key, entry))
    return mapped, problems


def _map_slo(c: Catalog, name: str, spec: dict, slis: dict, bad) -> dict | None:
    ok = True
    if spec.get("budgetingMethod", "Occurrences") != "Occurrences":
        bad("spec.budgetingMethod", f"{spec.get('budgetingMethod')} cannot be mapped (moneypath SLOs count events: "
                                    "Occurrences)")
        ok = False
    windows = spec.get("timeWindow") or []
    window = windows[0] if len(windows) == 1 and isinstance(windows[0], dict) else None
    if window is None:
        bad("spec.timeWindow", "needs exactly one window")
        ok = False
    elif window.get("isRolling") is not True or "calendar" in window:
        bad("spec.timeWindow", "a calendar window cannot be mapped (moneypath SLO windows are rolling)")
        ok = False
    elif not DURATION.fullmatch(str(window.get("duration", ""))):
        bad("spec.timeWindow.duration", f"{window.get('duration')!r} is not a Prometheus duration (e.g. 28d)")
        ok = False
    objectives = spec.get("objectives") or []
    if len(objectives) != 1 or not isinstance(objectives[0], dict):
        bad("spec.objectives", f"has {len(objectives)} objectives; moneypath maps exactly one")
        return None
    objective = objectives[0]
    target = objective.get("target")
    if target is None and objective.get("targetPercent") is not None:
        target = float(objective["targetPercent"]) / 100
    if not isinstance(target, int | float) or not 0 < target < 1:
        bad("spec.objectives.0.target", f"{target!r} is not a share between 0 and 1 (e.g. 0.999)")
        return None
    indicator = spec.get("indicator", {}).get("spec") if isinstance(spec.get("indicator"), dict) else None
    if indicator is None and spec.get("indicatorRef"):
        indicator = slis.get(spec["indicatorRef"])
        if indicator is None:
            bad("spec.indicatorRef", f"no kind: SLI named {spec['indicatorRef']!r} in the file")
            return None
    if not isinstance(indicator, dict):
        bad("spec.indicator", "missing (give an indicator or an indicatorRef)")
        return None
    sli = _map_sli(c, indicator, objective, bad)
    if sli is None or not ok:
        return None
    return {"description": spec.get("description") or name, "objective": round(target * 100, 6),
            "window": str(window["duration"]), "sli": sli}


def _query(source: object, path: str, bad) -> str | None:
    source = (source or {}).get("metricSource") if isinstance(source, dict) else None
    if not isinstance(source, dict) or str(source.get("type", "")).lower() != "prometheus":
        bad(f"{path}.metricSource.type", f"{(source or {}).get('type')!r} cannot be mapped (Prometheus only)")
        return None
    query = (source.get("spec") or {}).get("query")
    if not isinstance(query, str) or not query.strip():
        bad(f"{path}.metricSource.spec.query", "missing")
        return None
    return query


def _selector(query: str) -> tuple[str, str] | None:
    """(metric name, matchers text) of a bare selector or one wrapped in sum(rate(...)), rate() or increase()."""
    inner = _WRAPPED.match(query)
    match = _SELECTOR.match(inner[1] if inner else query)
    return (match[1], match[2] or "") if match else None


def _signal(c: Catalog, metric: str, path: str, bad, suffix: str = "") -> str | None:
    prefix = f"{c.namespace}_"
    key = metric.removeprefix(prefix).removesuffix(suffix) if metric.startswith(prefix) else None
    if key not in c.signals:
        known = [s.name + suffix for s in c.signals.values()]
        close = difflib.get_close_matches(metric, known, n=1, cutoff=0.8)
        bad(path, f"{metric} is not a metric of the catalog" + (f"; did you mean {close[0]}?" if close else ""))
        return None
    return key


def _map_sli(c: Catalog, indicator: dict, objective: dict, bad) -> dict | None:
    if "ratioMetric" in indicator:
        ratio = indicator["ratioMetric"] or {}
        if "bad" in ratio:
            bad("indicator.ratioMetric.bad", "a bad/total ratio cannot be mapped: moneypath SLIs count good events; "
                                             "give good and total")
            return None
        good, total = (_query(ratio.get(k), f"indicator.ratioMetric.{k}", bad) for k in ("good", "total"))
        if good is None or total is None:
            return None
        g, t = _selector(good), _selector(total)
        if g is None or t is None:
            which = "good" if g is None else "total"
            bad(f"indicator.ratioMetric.{which}", f"{(good if g is None else total)!r} is not a selector of a "
                                                  "counter (bare, or in sum(rate(...)), rate() or increase())")
            return None
        if g[0].endswith("_bucket"):
            return _latency(c, g, t, bad)
        keys = [_signal(c, name, f"indicator.ratioMetric.{k}", bad) for k, (name, _) in (("good", g), ("total", t))]
        if None in keys:
            return None
        return {"good": f"{keys[0]}{g[1]}", "total": f"{keys[1]}{t[1]}"}
    if "thresholdMetric" in indicator:
        query = _query(indicator["thresholdMetric"], "indicator.thresholdMetric", bad)
        if query is None:
            return None
        hists = [s for s in c.signals.values() if s.type == "histogram" and s.name in query]
        if len(hists) != 1:
            bad("indicator.thresholdMetric", "a threshold on anything but one catalog histogram's latency cannot be "
                                             "mapped (moneypath SLOs count events)")
            return None
        if objective.get("op") not in ("lt", "lte"):
            bad("spec.objectives.0.op", f"{objective.get('op')!r} cannot be mapped (lt or lte: latency under a value)")
            return None
        return _under(hists[0], objective.get("value"), "spec.objectives.0.value", bad)
    bad("indicator.spec", "neither ratioMetric nor thresholdMetric")
    return None


def _latency(c: Catalog, good: tuple[str, str], total: tuple[str, str], bad) -> dict | None:
    key = _signal(c, good[0], "indicator.ratioMetric.good", bad, "_bucket")
    if key is None:
        return None
    if total[0] != f"{c.metric(key)}_count":
        bad("indicator.ratioMetric.total", f"the good events are {good[0]}, so the total must be {c.metric(key)}_count")
        return None
    le = _LE.search(good[1])
    if le is None:
        bad("indicator.ratioMetric.good", f"{good[0]} needs an le=\"<seconds>\" matcher")
        return None
    return _under(c.signals[key], le[1], "indicator.ratioMetric.good", bad)


def _under(signal, value, path: str, bad) -> dict | None:
    try:
        under = float(value)
    except (TypeError, ValueError):
        bad(path, f"{value!r} is not a number")
        return None
    if under not in (signal.buckets or []):
        buckets = ", ".join(f"{b:g}" for b in signal.buckets or [])
        bad(path, f"{under:g} is not a bucket of {signal.name} (buckets: {buckets})")
        return None
    return {"latency": {"signal": signal.key, "under": under}}


def catalog_with(catalog_path: Path, mapped: list[Mapped]) -> str:
    """The catalog's text with the SLOs added at the end of slos:, every other byte as it was (comments,
    anchors, flow mappings and line breaks included); validated before it is returned."""
    text = catalog_path.read_text(encoding="utf-8")
    root = yamlio.compose(text)
    slos = next((value for key, value in root.value if key.value == "slos"), None)
    entries = yaml.safe_dump({m.key: m.slo for m in mapped}, sort_keys=False, width=4096, allow_unicode=True)
    if slos is None:
        new = text.rstrip("\n") + "\n\nslos:\n" + _indent(entries, 2)
    elif not slos.value:  # "slos: {}" or "slos:" with nothing
        start, end = slos.start_mark.index, slos.end_mark.index
        line_start = text.rfind("\n", 0, start) + 1
        new = text[:line_start] + "slos:\n" + _indent(entries, 2).rstrip("\n") + text[end:]
    elif slos.flow_style:
        raise ImportProblems([f"{catalog_path}: slos: is one flow mapping ({{...}}); write it as a block to import"])
    else:
        column = slos.value[0][0].start_mark.column
        end = _last_scalar(slos).end_mark.index
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        new = text[:line_end] + "\n" + _indent(entries, column).rstrip("\n") + text[line_end:]
    try:
        parse_catalog(new, str(catalog_path))
    except CatalogError as exc:
        raise ImportProblems([f"{catalog_path} would not validate with the imported SLOs: {line}"
                              for line in exc.problems]) from None
    return new


def _last_scalar(node: yaml.Node) -> yaml.Node:
    """The last scalar of a block: where its text ends (a block mapping's own end mark is the next key's)."""
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.value and not node.flow_style:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node


def _indent(text: str, column: int) -> str:
    pad = " " * column
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))
