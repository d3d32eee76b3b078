"""Plain Prometheus: exactly what `moneypath build` writes (rule files, Alertmanager config, dashboards and their
provisioning), and the rule groups every other platform wraps."""

from __future__ import annotations

from moneypath.catalog import Catalog, CatalogError
from moneypath.generate import build
from moneypath.generate.export.options import Options
from moneypath.generate.rules import alert_rules, recording_rules


def files(c: Catalog, options: Options) -> dict[str, str]:
    return build.artifacts(c)


def rule_groups(c: Catalog) -> tuple[list[dict], list[dict]]:
    """(recording groups, alert groups) as the build writes them; CatalogError when the library cannot bind to
    the catalog (as `build` says it)."""
    from moneypath.instrument._requirements import check_required

    problems = check_required(c)
    if problems:
        raise CatalogError(problems)
    return recording_rules(c)["groups"], alert_rules(c)["groups"]


def next_steps(c: Catalog, options: Options, out: str) -> list[str]:
    return [f"Prometheus: rule_files {out}/collector/recording-rules.yaml and {out}/alerts/moneypath-alerts.yaml; "
            f"Alertmanager: --config.file={out}/alerts/alertmanager.yml; Grafana: {out}/dashboards/provisioning/"]
