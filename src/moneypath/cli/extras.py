"""Which extra a command needs, and the one-line message when it is not installed.

The core distribution is the library alone (catalog + instrument); the commands that generate,
run a stack, drill or load-test need an extra. A command says so before it starts anything
(exit 2), instead of failing on an import halfway through.
"""

from __future__ import annotations

import importlib.util

# A few modules that only that extra installs (top-level import names).
MODULES = {
    "tools": ("rich", "httpx", "starlette", "uvicorn", "grafana_foundation_sdk",
              "matplotlib", "sqlalchemy", "aiohttp", "cryptography"),
    "reference": ("fastapi", "sqlalchemy", "uvicorn"),
    "loadtest": ("locust",),
    "otel": ("opentelemetry.sdk",),
}


def needed(args) -> list[str]:
    """The extras the parsed command needs, in install order."""
    command = args.command
    if command == "catalog":
        return ["tools"] if args.catalog_command == "show" and not args.json else []
    if command == "metrics":
        return []
    if command in ("build", "lint", "init", "down", "status", "pager", "dashboards", "snapshot", "faultproxy",
                   "alerts", "slo", "audit", "export", "canary", "history", "readiness", "incident", "evidence"):
        return ["tools"]
    if command == "up":
        return ["tools"] if args.no_services else ["tools", "reference"]
    if command == "demo":
        return ["tools", "reference"]
    if command == "drill":
        targets = getattr(args, "target_service", None)
        return ["tools", "reference"] if args.drill_command == "run" and not targets else ["tools"]
    if command in ("loadtest", "capacity"):
        return ["tools", "loadtest"] + ([] if getattr(args, "host", None) else ["reference"])
    if command == "loadtest-worker":
        return ["loadtest"]
    return []


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def missing(args) -> str | None:
    """The one-line message for the first needed extra that is not installed, or None."""
    for extra in needed(args):
        absent = [m for m in MODULES[extra] if not _installed(m)]
        if absent:
            return message(args.command, extra, absent[0])
    return None


def message(command: str, extra: str, module: str) -> str:
    return (f"moneypath {command} needs moneypath[{extra}]: pip install 'moneypath[{extra}]' "
            f"({module} is not installed)")


def extra_of(module: str) -> str | None:
    """The extra that installs a top-level module, for an ImportError the pre-check did not foresee."""
    for extra, modules in MODULES.items():
        if any(module == m or module.startswith(m + ".") for m in modules):
            return extra
    if module.startswith("opentelemetry.exporter"):
        return "otel"
    top = module.split(".")[0]
    return {"gevent": "loadtest", "psycopg": "reference", "uvloop": "reference", "httptools": "reference",
            "numpy": "tools"}.get(top)
