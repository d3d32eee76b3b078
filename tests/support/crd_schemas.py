"""The vendored CRD schemas (tests/schemas) as strict JSON schemas: an object schema with `properties` refuses a
field it does not declare (kubectl --validate=strict, the API server's strict field validation), unless the CRD
marks it x-kubernetes-preserve-unknown-fields."""

from __future__ import annotations

from pathlib import Path

import yaml

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


class _CrdLoader(yaml.CSafeLoader):  # libyaml: the CRDs take 0.3 s to read, not 3 s
    pass


# controller-gen writes the matchType enum's `=` unquoted, which PyYAML reads as its `value` tag
_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def strict(schema):
    """Refuse undeclared fields (kubectl --validate=strict), except where the CRD keeps unknown fields."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def crd_schema(file: str, version: str, name: str | None = None) -> dict:
    """The strict openAPIV3Schema of a served CRD version; `name` picks one CRD of a file holding several."""
    crds = [d for d in yaml.load_all((SCHEMAS / file).read_text(encoding="utf-8"), Loader=_CrdLoader) if d]
    (crd,) = [d for d in crds if name is None or d["metadata"]["name"] == name]
    (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    assert entry["served"] is not False
    return strict(entry["schema"]["openAPIV3Schema"])
