"""Grafana Mimir (and Cortex) ruler: one namespace per file, as `mimirtool rules load/sync` reads it.

The ruler keys rule groups by (tenant, namespace, group); mimirtool refuses a namespace spread over two files,
so the whole catalog goes into one file named after its namespace. The file's groups are Prometheus' format
with a `namespace:` key on top.
"""

from __future__ import annotations

import re

from moneypath.catalog import Catalog
from moneypath.generate.export import k8s
from moneypath.generate.export.options import ExportError, Options
from moneypath.generate.export.prometheus import rule_groups

# Mimir's tenant ids: at most 150 of these characters, never "." or ".." (pkg/tenant in dskit).
_TENANT = re.compile(r"[A-Za-z0-9!\-_.*'()]{1,150}")
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")  # it is also the file's name

USAGE = """# Load (creates or updates this namespace's groups for one tenant):
#   mimirtool rules load --address=http://MIMIR:8080 --id={tenant} {file}
# Or keep the ruler in step with the directory (without --namespaces, sync deletes every namespace no file declares):
#   mimirtool rules sync --address=http://MIMIR:8080 --id={tenant} --rule-dirs={dir} --namespaces={namespace}
# Over HTTP, one group per request: POST /prometheus/config/v1/rules/{namespace} with X-Scope-OrgID: {tenant}
"""


def namespace_of(c: Catalog, options: Options) -> str:
    return options.namespace if options.namespace is not None else c.namespace


def files(c: Catalog, options: Options) -> dict[str, str]:
    namespace = namespace_of(c, options)
    if not _NAMESPACE.fullmatch(namespace):
        raise ExportError(f"--namespace: {namespace!r} is not a ruler namespace this export can name a file after "
                          "(letters, digits, _, . and -, starting with a letter or digit)")
    if not _TENANT.fullmatch(options.tenant) or options.tenant in (".", ".."):
        raise ExportError(f"--tenant: {options.tenant!r} is not a Mimir tenant id (at most 150 letters, digits "
                          "and !-_.*'(); not . or ..)")
    recording, alerting = rule_groups(c)
    rel = f"rules/{namespace}.yaml"
    usage = USAGE.format(tenant=options.tenant, file=rel, dir="rules", namespace=namespace)
    return {rel: k8s.header(c, "mimir") + usage + k8s.dump({"namespace": namespace, "groups": recording + alerting})}


def next_steps(c: Catalog, options: Options, out: str) -> list[str]:
    namespace = namespace_of(c, options)
    return [f"load: mimirtool rules load --address=http://MIMIR:8080 --id={options.tenant} {out}/rules/{namespace}.yaml",
            f"namespace {namespace} is this one file: mimirtool refuses a namespace declared in two files, so keep "
            "it whole"]
