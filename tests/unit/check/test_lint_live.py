"""What `lint --prometheus` reads from a project: every rule and dashboard query (Grafana variables made
harmless), and which matchers it may judge; on the shipped project and the ticket shop's generated one."""

from __future__ import annotations

import re

import pytest

from moneypath.check.dashboards import grafana_free
from moneypath.check.live import _accepts_missing, uses
from moneypath.check.promql import selected_series
from moneypath.scaffold.project import scaffold_files
from tests.conftest import ROOT


def test_grafana_variables_become_plain_promql():
    assert grafana_free('sum by (provider) (rate(x{provider=~"$provider"}[$__rate_interval]))') == \
        'sum by (provider) (rate(x{provider=~".*"}[5m]))'
    assert grafana_free("rate(x[${__interval}]) * ${factor:raw}") == "rate(x[5m]) * .*"


@pytest.mark.parametrize("op, value, missing_ok", [
    ("=", "acme", False), ("=", "", True), ("!=", "acme", True), ("!=", "", False),
    ("=~", "approved|declined", False), ("=~", ".*", True), ("!~", "error|timeout", True), ("!~", ".*", False),
])
def test_only_matchers_an_absent_label_fails_are_judged(op, value, missing_ok):
    assert _accepts_missing(op, value) is missing_ok


def test_the_shipped_project_yields_every_rule_and_panel_query():
    found, records, made, problems = uses(ROOT)
    assert problems == []
    assert {u.where.split(": ", 1)[0] for u in found} >= {"alerts/moneypath-alerts.yaml",
                                                          "collector/recording-rules.yaml",
                                                          "dashboards/moneypath-overview.json"}
    assert any(u.where.startswith('dashboards/moneypath-overview.json: panel "') for u in found)
    assert "slo:sli_error:ratio_rate5m" in records and "slo" in made
    # no Grafana variable is left ($1 is label_replace's reference to its regex group, PromQL's own)
    assert not any(re.search(r"\$\{?[A-Za-z_]", u.expr) for u in found if u.where.startswith("dashboards/"))


def test_the_ticket_shops_project_reads_its_own_metrics(foreign, tmp_path):
    from moneypath.generate.build import write

    for rel, text in scaffold_files(foreign).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    write(foreign, tmp_path)
    found, records, _, problems = uses(tmp_path)
    assert problems == []
    metrics = {name for u in found for name in selected_series(u.expr)} - records
    assert "shop_authorizations_total" in metrics and not [m for m in metrics if m.startswith("moneypath_")]


def test_an_unreadable_dashboard_is_one_problem(tmp_path):
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "x.json").write_text("{not json")
    _, _, _, problems = uses(tmp_path)
    assert any(p.startswith("dashboards/x.json: (file): cannot be read as JSON") for p in problems)


class _Empty:
    """A Prometheus that has scraped nothing (the wrong server, or the service not scraped yet)."""

    def __init__(self, url, timeout_s=None):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def get(self, path, params=None):
        return ["up", "scrape_duration_seconds"] if path.endswith("__name__/values") else []


def test_a_prometheus_holding_none_of_the_projects_metrics_is_not_measured_and_exits_3(monkeypatch, capsys):
    from moneypath.check import live
    from moneypath.cli import main

    monkeypatch.setattr(live, "Prometheus", _Empty)
    code = main(["lint", "--root", str(ROOT), "--prometheus", "http://127.0.0.1:1"])
    out = capsys.readouterr()
    assert code == 3, out
    assert "not measured: http://127.0.0.1:1 holds none of the" in out.out and "is not on" not in out.err
